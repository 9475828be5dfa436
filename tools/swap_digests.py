"""Digests of swapped pixels over a fixed set of cases, to show a refactor leaves every swap byte-identical.

Runs through stable entry points only (`faceweave.api.swap_image` and the `faceweave swap` command), so the same
script runs before and after a structural change:

    python tools/swap_digests.py --images ../shared/testdata/images --videos ../shared/testdata/video \
        --output out/digests-before.json
    (change the code)
    python tools/swap_digests.py ... --output out/digests-after.json --compare out/digests-before.json

Cases: the demo pair; a seeded sample of cross-identity pairs of single-face photos (occluders on, default
still settings); group photos with `--selector all`; with `--videos`, the first two seconds of each clip through
the CLI (video mode: tracking, smoothing, gain filter; decoded frames hashed, so the encoder's bytes do not matter).
Each digest is sha256 of the decoded pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:24]


def _video_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            hasher.update(frame.to_ndarray(format="bgr24").tobytes())
    return hasher.hexdigest()[:24]


def _still_cases(images: Path | None, pairs: int) -> list[tuple[str, Path, Path, dict[str, str]]]:
    from faceweave.samples import sample_path

    cases = [("demo", sample_path("hopper"), sample_path("astronaut"), {})]
    if images is None:
        return cases
    singles = sorted(p for p in images.iterdir() if not p.name.startswith(("group_", "noface_")))
    rng = random.Random(17)
    candidates = [(s, t) for s in singles for t in singles if s.stem.rsplit("_", 1)[0] != t.stem.rsplit("_", 1)[0]]
    for source, target in rng.sample(candidates, min(pairs, len(candidates))):
        cases.append((f"{source.stem}->{target.stem}", source, target, {}))
    for group in sorted(images.glob("group_*"))[:4]:
        cases.append((f"{singles[0].stem}->{group.stem}", singles[0], group, {"selector": "all"}))
    return cases


def still_digests(images: Path | None, pairs: int) -> dict[str, str]:
    """sha256 of `swap_image`'s result per case (no label or watermark: the pixels of the swap itself)."""
    from faceweave.api import swap_image
    from faceweave.errors import FaceweaveError

    digests = {}
    for name, source, target, options in _still_cases(images, pairs):
        try:
            digests[name] = _digest(swap_image(str(source), str(target), **options))  # type: ignore[arg-type]
        except FaceweaveError as error:
            digests[name] = f"error: {type(error).__name__}"
        print(name, digests[name], file=sys.stderr)
    return digests


def video_digests(videos: Path, source: Path, seconds: float) -> dict[str, str]:
    """sha256 over the decoded frames of `faceweave swap` on the first `seconds` of each clip (no watermark)."""
    digests = {}
    with tempfile.TemporaryDirectory() as folder:
        for clip in sorted(videos.glob("*.mp4")):
            output = Path(folder) / f"{clip.stem}.mkv"
            command = [sys.executable, "-m", "faceweave", "swap", "-s", str(source), "-t", str(clip)]
            command += [
                "-o",
                str(output),
                "--end",
                str(seconds),
                "--no-watermark",
                "--crf",
                "0",
                "--preset",
                "ultrafast",
            ]
            subprocess.run(command, check=True, capture_output=True)
            digests[f"video {clip.stem}"] = _video_digest(output)
            print(clip.stem, digests[f"video {clip.stem}"], file=sys.stderr)
    return digests


def cli_digests(videos: Path | None, source: Path, target: Path) -> dict[str, str]:
    """Pixels of labelled outputs: a still through `faceweave swap`, and with `videos`, a live run over a clip played
    frame by frame and recorded. No watermark: its payload hashes the label, whose creation time differs per run."""
    digests = {}
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "still.png"
        command = [sys.executable, "-m", "faceweave", "swap", "-s", str(source), "-t", str(target), "-o", str(output)]
        command.append("--no-watermark")
        subprocess.run(command, check=True, capture_output=True)
        digests["cli still labelled"] = _digest(cv2.imread(str(output), cv2.IMREAD_UNCHANGED))
        if videos is not None:
            clip = sorted(videos.glob("*.mp4"))[0]
            record = Path(folder) / "live.mkv"
            command = [sys.executable, "-m", "faceweave", "live", "-s", str(source), "--input", str(clip)]
            command += ["--record", str(record), "--no-watermark", "--no-hud"]
            subprocess.run(command, check=True, capture_output=True)
            digests[f"live {clip.stem}"] = _video_digest(record)
    for key in digests:
        print(key, digests[key], file=sys.stderr)
    return digests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of test photos (../shared/testdata/images)")
    parser.add_argument("--videos", type=Path, help="folder of test clips (../shared/testdata/video)")
    parser.add_argument("--pairs", type=int, default=16, help="cross-identity pairs sampled (seeded)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of each clip")
    parser.add_argument("--output", type=Path, required=True, help="JSON of digests")
    parser.add_argument("--compare", type=Path, help="an earlier JSON: exit 1 on any difference")
    args = parser.parse_args()
    from faceweave.samples import sample_path

    digests = still_digests(args.images, args.pairs)
    if args.videos is not None:
        digests |= video_digests(args.videos, sample_path("hopper"), args.seconds)
    digests |= cli_digests(args.videos, sample_path("hopper"), sample_path("astronaut"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(digests, indent=1) + "\n")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    differ = sorted(k for k in before.keys() | digests.keys() if before.get(k) != digests.get(k))
    print(f"{len(digests) - len(differ)} of {len(before.keys() | digests.keys())} cases identical", file=sys.stderr)
    for key in differ:
        print(f"DIFFERS {key}: {before.get(key)} -> {digests.get(key)}", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
