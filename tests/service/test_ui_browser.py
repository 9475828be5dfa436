"""The web UI in real Chromium (Playwright): pick faces and swap only those, two sources onto two faces, the no-face
warning, a video job with trim, the live webcam over /v1/live (a fake camera playing a real face), the model selects
of a server with installed (test-built) models, axe-core in the page, and a screenshot of each state at desktop and
phone width.

Needs the `playwright` package and a Chromium binary (Debian: `apt-get install chromium`; FACEWEAVE_CHROMIUM names
another); axe-core's `axe.min.js` from FACEWEAVE_AXE_JS or an `npm install axe-core` (see CANDIDATE_AXE). Each part
that is missing skips. FACEWEAVE_UI_SCREENSHOTS=DIR also writes the screenshots to DIR (docs/images).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from clip_factory import decode_all, face_frames, write_clip  # noqa: E402
from installed_models import install  # noqa: E402
from service_helpers import two_people  # noqa: E402

from faceweave.media.image_io import decode_image, read_image  # noqa: E402
from faceweave.samples import sample_path  # noqa: E402
from faceweave.service.app import create_app  # noqa: E402
from faceweave.service.config import ServiceConfig  # noqa: E402
from faceweave.settings import Settings  # noqa: E402

CHROMIUM = os.environ.get("FACEWEAVE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATE_AXE = (
    os.environ.get("FACEWEAVE_AXE_JS", ""),
    str(Path(__file__).parent / "vendor" / "axe.min.js"),
    "/tmp/axe/node_modules/axe-core/axe.min.js",
    "/usr/lib/node_modules/axe-core/axe.min.js",
    "/usr/local/lib/node_modules/axe-core/axe.min.js",
)
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
CHANGED = 10.0  # mean absolute change inside a swapped face
KEPT = 3.0  # ... and inside a face left alone (the watermark touches every pixel a little)
TIMEOUT_MS = 60_000
MAX_SCREENSHOT_BYTES = 150_000

GROUP, BOXES = two_people()

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; FACEWEAVE_CHROMIUM)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _serve(data_dir: Path, settings: Settings | None = None) -> Iterator[str]:
    """A real uvicorn server (no key: loopback only) on a free port, run on a thread; yields its URL once ready."""
    port = _free_port()
    config = ServiceConfig(data_dir=data_dir, no_auth=True, rate_limit=0, port=port, settings=settings or Settings())
    app = create_app(config)
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "server not ready"
        time.sleep(0.2)
    try:
        yield url
    finally:
        runner.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server of a default install: embedded models only."""
    with _serve(tmp_path_factory.mktemp("ui")) as url:
        yield url


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose model store holds test-built models (a neural swapper and ArcFace, face and frame enhancers)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        models = install(tmp_path_factory.mktemp("ui-models"), monkeypatch)
        with _serve(tmp_path_factory.mktemp("ui-data"), Settings(model_dir=str(models))) as url:
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pictures the tests choose: the two-person group, a face-free photo, a text file, a short face clip."""
    folder = tmp_path_factory.mktemp("ui-files")
    paths = {"group": folder / "group.png", "blank": folder / "wall.png", "text": folder / "notes.jpg"}
    paths["group"].write_bytes(GROUP)
    Image.new("RGB", (480, 320), (176, 164, 150)).save(paths["blank"])
    paths["text"].write_bytes(b"this is not a picture\n" * 20)
    frames, boxes = face_frames((320, 240), 8, 8)
    paths["clip"] = write_clip(folder / "clip.webm", frames, fps=Fraction(8), codec="libvpx-vp9", boxes=boxes).path
    paths["h264"] = write_clip(folder / "clip.mp4", frames, fps=Fraction(8), boxes=boxes).path
    return paths


def _page(browser: Any, server: str, width: str = "desktop", scheme: str = "light") -> Any:
    size = VIEWPORTS[width]
    page = browser.new_page(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    failures: list[str] = []
    page.on("response", lambda answer: failures.append(answer.url) if answer.status == 404 else None)
    page.failures = failures
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('keyBox').hidden === true")
    return page


def _manual(page: Any) -> None:
    """Turn off the automatic update, so that each test decides when the swap runs."""
    page.click("#options summary")
    page.uncheck("#autoPreview")


def _choose(page: Any, sources: list[Path], target: Path, faces: int | None = 2) -> None:
    page.set_input_files("#source", [str(path) for path in sources])
    page.set_input_files("#target", str(target))
    if faces is not None:
        page.wait_for_function(f"() => document.querySelectorAll('#faces button').length === {faces}")


def _pick(page: Any, wanted: set[int]) -> None:
    """Press exactly the faces in `wanted` (the list is redrawn on each click: look each button up again)."""
    for index in range(page.locator("#faces button").count()):
        button = page.locator(f"#faces button[data-index='{index}']")
        if (button.get_attribute("aria-pressed") == "true") != (index in wanted):
            button.click()


def _wait_status(page: Any, kind: str) -> str:
    page.wait_for_function(f"() => document.getElementById('status').classList.contains('{kind}')")
    text: str = page.inner_text("#status")
    return text


def _download(page: Any) -> bytes:
    """The result's bytes, as the Download button saves them."""
    with page.expect_download() as event:
        page.click("#download")
    path = event.value.path()
    return Path(path).read_bytes()


def _changes(data: bytes) -> list[float]:
    before = decode_image(GROUP, "before").image.astype(np.int16)
    after = decode_image(data, "after").image.astype(np.int16)
    return [float(np.abs(after[y1:y2, x1:x2] - before[y1:y2, x1:x2]).mean()) for x1, y1, x2, y2 in BOXES]


def test_pick_one_of_two_faces_and_swap_only_that_one(browser: Any, server: str, files: dict[str, Path]) -> None:
    page = _page(browser, server)
    _manual(page)
    _choose(page, [sample_path("astronaut")], files["group"])
    assert page.is_visible("#faces img") and page.is_hidden("#result")  # thumbnails; no broken result image
    _pick(page, {1})  # Grace Hopper, on the right
    assert page.get_attribute("#faces button[data-index='1']", "aria-pressed") == "true"
    page.click("#swapButton")
    assert "1 face swapped" in _wait_status(page, "ok")
    assert page.get_attribute("#download", "download") == "faceweave-result.png"
    changes = _changes(_download(page))
    assert changes[1] > CHANGED and changes[0] < KEPT, changes
    page.fill("#split", "0")  # the divider at the left edge: the whole result
    assert page.evaluate("getComputedStyle(document.getElementById('compare')).getPropertyValue('--split')") == "0%"
    assert not page.failures, page.failures  # no 404, the favicon included
    page.close()


def test_two_sources_onto_two_faces(browser: Any, server: str, files: dict[str, Path]) -> None:
    page = _page(browser, server)
    _manual(page)
    _choose(page, [sample_path("hopper"), sample_path("astronaut")], files["group"])
    page.check("input[name=people][value=many]")
    _pick(page, {0, 1})
    page.select_option("#faces li:nth-child(1) select", "0")  # Hopper onto the astronaut
    page.select_option("#faces li:nth-child(2) select", "1")  # the astronaut onto Hopper
    page.click("#swapButton")
    assert "2 faces swapped" in _wait_status(page, "ok")
    changes = _changes(_download(page))
    assert min(changes) > CHANGED, changes
    page.close()


def test_a_photo_without_a_face_shows_a_warning(browser: Any, server: str, files: dict[str, Path]) -> None:
    page = _page(browser, server)
    _choose(page, [sample_path("hopper")], files["blank"], faces=None)
    page.wait_for_function("() => document.getElementById('facesNote').classList.contains('warn')")
    assert "No face found" in page.inner_text("#facesNote")
    assert "No face" in _wait_status(page, "warn")
    assert page.is_disabled("#swapButton") and page.is_hidden("#result")
    page.close()


def test_errors_are_in_words(browser: Any, server: str, files: dict[str, Path]) -> None:
    page = _page(browser, server)
    _choose(page, [sample_path("hopper")], files["text"], faces=None)
    text = _wait_status(page, "error")
    assert "Not a supported file" in text and "not a JPEG, PNG" in text
    page.close()


def test_video_job_with_trim(browser: Any, server: str, files: dict[str, Path], tmp_path: Path) -> None:
    page = _page(browser, server)
    _choose(page, [sample_path("hopper")], files["clip"], faces=None)
    page.wait_for_function("() => document.querySelectorAll('#faces button').length === 1")
    assert page.is_visible("#targetVideo") and page.is_visible("#start")
    page.fill("#start", "0.25")
    page.dispatch_event("#start", "change")
    page.fill("#end", "0.75")
    page.wait_for_function("() => document.querySelectorAll('#faces button[aria-pressed=true]').length === 1")
    page.click("#swapButton")
    page.wait_for_selector("#cancelButton:not([hidden]), #resultVideo:not([hidden])")
    assert "ready" in _wait_status(page, "ok")
    output = tmp_path / "result.mp4"
    output.write_bytes(_download(page))
    frames, _, _ = decode_all(output)
    assert len(frames) == 4  # 0.25 s to 0.75 s at 8 fps
    assert page.get_attribute("#download", "download") == "faceweave-result.mp4"
    page.close()


def test_a_video_the_browser_cannot_show_still_runs(browser: Any, server: str, files: dict[str, Path]) -> None:
    """Where Chromium has no H.264 decoder (builds without proprietary codecs) there are no faces to pick, so the
    server's selector decides (the largest); where it has one, the faces show as usual."""
    page = _page(browser, server)
    _choose(page, [sample_path("hopper")], files["h264"], faces=None)
    page.wait_for_function("() => document.querySelectorAll('#faces button').length === 1 || !!state.noPreview")
    if page.evaluate("() => state.noPreview"):
        assert "largest face" in page.inner_text("#facesNote")
    page.fill("#end", "0.5")
    page.click("#swapButton")
    assert "ready" in _wait_status(page, "ok")
    page.close()


def _y4m(path: Path, image: np.ndarray, frames: int = 12, size_wh: tuple[int, int] = (640, 480)) -> Path:
    """A Y4M clip (what Chromium's fake camera plays, looped) of `image` centred on grey, drifting a pixel a frame."""
    width, height = size_wh
    side = min(width, height) - 40
    face = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(frames):
            canvas = np.full((height, width, 3), 128, np.uint8)
            left = (width - side) // 2 + index % 6
            canvas[20 : 20 + side, left : left + side] = face
            out.write(b"FRAME\n" + cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def test_live_webcam_over_a_websocket(browser: Any, server: str, tmp_path: Path) -> None:
    """Start camera: the page sends the source and fake-camera frames over /v1/live, shows swapped frames and the
    latency and fps in its status; Stop ends the session."""
    camera = _y4m(tmp_path / "camera.y4m", read_image(sample_path("astronaut")).image)
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with_camera = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *fake, f"--use-file-for-fake-video-capture={camera}"]
    )
    try:
        page = _page(with_camera, server)
        page.set_input_files("#source", str(sample_path("hopper")))
        page.click("#liveBox summary")
        page.focus("#liveButton")
        page.keyboard.press("Enter")  # keyboard-operable
        page.wait_for_function("() => live.answered >= 3")
        head = page.evaluate("() => live.head")
        assert head["faces"] == 1 and head["swapped"] == 1, head
        assert page.is_visible("#liveResult") and page.evaluate("() => $('liveResult').naturalWidth") == 640
        page.wait_for_function("() => /fps/.test(document.getElementById('liveStatus').textContent)")
        status = page.inner_text("#liveStatus")
        assert "ms latency" in status and "1 face swapped" in status, status
        assert page.get_attribute("#liveStatus", "aria-live") == "polite"
        axe = next((Path(path) for path in CANDIDATE_AXE if path and Path(path).is_file()), None)
        if axe is not None:
            assert _serious(page, axe) == []  # the page while live
        if folder := os.environ.get("FACEWEAVE_UI_SCREENSHOTS"):
            _shoot(page, "live-desktop", Path(folder))
            page.set_viewport_size(dict(zip(("width", "height"), VIEWPORTS["phone"], strict=True)))
            page.wait_for_function("n => live.answered > n", arg=page.evaluate("() => live.answered"))
            _shoot(page, "live-phone", Path(folder))
        page.click("#liveButton")
        assert page.inner_text("#liveStatus") == "Stopped." and page.inner_text("#liveButton") == "Start camera"
        assert not page.failures, page.failures
        page.close()
    finally:
        with_camera.close()


def test_the_model_selects_offer_the_installed_models(
    browser: Any, server: str, model_server: str, files: dict[str, Path]
) -> None:
    """A default install says "Embedded only"; a server with models lists them, and a swap with one completes."""
    page = _page(browser, server)
    page.click("#options summary")
    assert page.is_visible("#modelsEmbedded") and page.is_hidden("#swapper") and page.is_hidden("#enhancerBlend")
    page.close()
    page = _page(browser, model_server)
    _manual(page)
    page.wait_for_function("() => !document.getElementById('swapperField').hidden")
    assert page.is_hidden("#modelsEmbedded")
    options = page.eval_on_selector_all("#swapper option", "nodes => nodes.map(node => node.value)")
    assert options == ["mesh", "inswapper_128"]
    assert page.input_value("#swapper") == "mesh" and page.input_value("#enhancer") == "none"
    assert page.is_hidden("#enhancerBlend")  # no enhancer chosen: no strength to set
    page.select_option("#swapper", "inswapper_128")
    page.select_option("#enhancer", "gfpgan_1.4")
    assert page.is_visible("#enhancerBlend") and page.inner_text("#enhancerBlendValue") == "0.80"
    page.fill("#enhancerBlend", "0.5")
    assert page.inner_text("#enhancerBlendValue") == "0.50"  # the value shown next to the slider
    page.select_option("#quality", "high")
    assert "JPEG 98" in page.inner_text("#qualityHint")
    _choose(page, [sample_path("hopper")], files["group"])
    page.click("#swapButton")
    assert "face swapped" in _wait_status(page, "ok")
    assert "inswapper_128, gfpgan_1.4" in page.inner_text("#resultMeta")
    if folder := os.environ.get("FACEWEAVE_UI_SCREENSHOTS"):
        _shoot(page, "models", Path(folder))
    page.close()


def _axe() -> Path:
    for candidate in CANDIDATE_AXE:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("no axe.min.js: npm install axe-core, then set FACEWEAVE_AXE_JS to its axe.min.js")


def _serious(page: Any, axe: Path) -> list[str]:
    page.add_script_tag(path=str(axe))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at {[node['target'] for node in item['nodes']][:3]}"
        for item in found
        if item["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious(browser: Any, server: str, files: dict[str, Path], scheme: str) -> None:
    axe = _axe()
    page = _page(browser, server, scheme=scheme)
    assert _serious(page, axe) == []  # the empty page
    _manual(page)
    _choose(page, [sample_path("hopper"), sample_path("astronaut")], files["group"])
    page.check("input[name=people][value=many]")
    _pick(page, {0, 1})
    page.click("#swapButton")
    _wait_status(page, "ok")
    page.click("#liveBox summary")
    assert _serious(page, axe) == []  # faces, mapping, result, live section open
    page.close()


def _shoot(page: Any, name: str, folder: Path) -> None:
    """A full-page PNG, reduced to fewer colours where that is needed to stay under MAX_SCREENSHOT_BYTES."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    data = page.screenshot(full_page=True)
    for colours in (256, 128, 64, 32):
        if len(data) <= MAX_SCREENSHOT_BYTES:
            break
        buffer = io.BytesIO()
        image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
        image.quantize(colours, dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
        data = buffer.getvalue()
    (folder / f"ui-{name}.png").write_bytes(data)


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_screenshots_of_each_state(
    browser: Any, server: str, files: dict[str, Path], tmp_path: Path, width: str
) -> None:
    folder = Path(os.environ.get("FACEWEAVE_UI_SCREENSHOTS", "") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page = _page(browser, server, width)
    _shoot(page, f"empty-{width}", folder)
    _manual(page)
    _choose(page, [sample_path("hopper"), sample_path("astronaut")], files["group"])
    page.check("input[name=people][value=many]")
    _pick(page, {0, 1})
    _shoot(page, f"faces-{width}", folder)
    page.click("#swapButton")
    _wait_status(page, "ok")
    page.fill("#split", "60")
    page.dispatch_event("#split", "input")
    _shoot(page, f"result-{width}", folder)
    page.close()
    dark = _page(browser, server, width, scheme="dark")
    _manual(dark)
    _choose(dark, [sample_path("astronaut")], files["group"])
    _pick(dark, {1})
    dark.click("#swapButton")
    _wait_status(dark, "ok")
    _shoot(dark, f"dark-{width}", folder)
    dark.close()
    page = _page(browser, server, width)
    _choose(page, [sample_path("hopper")], files["blank"], faces=None)
    _wait_status(page, "warn")
    _shoot(page, f"no-face-{width}", folder)
    page.set_input_files("#target", str(files["text"]))
    _wait_status(page, "error")
    _shoot(page, f"error-{width}", folder)
    page.close()
    page = _page(browser, server, width)
    _choose(page, [sample_path("hopper")], files["clip"], faces=1)
    page.fill("#end", "0.5")
    page.click("#swapButton")
    _wait_status(page, "ok")
    if page.evaluate("() => document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.640028\"')"):
        page.wait_for_function("() => document.getElementById('resultVideo').readyState >= 2")  # its first frame shows
    _shoot(page, f"video-{width}", folder)
    page.close()
    states = ("empty", "faces", "result", "dark", "no-face", "error", "video")
    shots = [folder / f"ui-{state}-{width}.png" for state in states]  # (the live ones come from the live test)
    assert all(path.is_file() for path in shots), [path.name for path in shots if not path.is_file()]
    assert all(0 < path.stat().st_size <= MAX_SCREENSHOT_BYTES for path in shots), [
        (path.name, path.stat().st_size) for path in shots
    ]
