"""Small ONNX files with the contracts of the catalog models (identity-like stubs; the random-weight graphs of the
differential tests are in contract_graphs.py), and a loopback HTTP server that serves them."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from faceweave.models.catalog import CATALOG
from faceweave.models.spec import ModelSpec

FLOAT, DOUBLE = TensorProto.FLOAT, TensorProto.DOUBLE
SCRFD_BOX = (144.0, 96.0, 240.0, 224.0)  # what the SCRFD-like model reports, in 640² input pixels
SCRFD_SCORE = 0.9
SCRFD_OUTPUT_NAMES = ("448", "471", "494", "451", "474", "497", "454", "477", "500")  # det_10g's, in session order


def _model(nodes: list[onnx.NodeProto], inputs: list, outputs: list, initializers: list | None = None) -> bytes:
    graph = helper.make_graph(nodes, "faceweave-test", inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _value(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def emap_matrix() -> np.ndarray:
    """A fixed, non-trivial 512×512 stand-in for the inswapper emap."""
    return np.random.default_rng(7).normal(0, 0.05, (512, 512)).astype(np.float32)


def inswapper_like(target: str = "target", side: int = 128, latent: int = 512) -> bytes:
    """inswapper contract (target 1×3×128×128, source 1×512 → 1×3×128×128), returning its target; emap last."""
    nodes = [
        helper.make_node("MatMul", ["source", "emap"], ["projected"]),
        helper.make_node("ReduceSum", ["projected"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", [target, "nothing"], ["output"]),
    ]
    zero = numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero")
    emap = numpy_helper.from_array(emap_matrix()[:latent, :512], "emap")
    inputs = [_value(target, FLOAT, [1, 3, side, side]), _value("source", FLOAT, [1, latent])]
    return _model(nodes, inputs, [_value("output", FLOAT, [1, 3, side, side])], [zero, emap])


def arcface_like() -> bytes:
    """ArcFace contract (input.1 1×3×112×112 → 683 1×512): channel means times a fixed 3×512 matrix."""
    weight = numpy_helper.from_array(arcface_weight(), "weight")
    nodes = [
        helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weight"], ["683"]),
    ]
    inputs = [_value("input.1", FLOAT, [1, 3, 112, 112])]
    return _model(nodes, inputs, [_value("683", FLOAT, [1, 512])], [weight])


def arcface_weight() -> np.ndarray:
    """The 3×512 matrix of `arcface_like`."""
    return np.random.default_rng(3).normal(0, 1, (3, 512)).astype(np.float32)


def restorer_like(codeformer: bool = False, weight_first: bool = False) -> bytes:
    """GFPGAN / GPEN contract (input 1×3×512×512 → output), returning its input; CodeFormer's is x, w (float64) → y
    (`weight_first`: the file lists w before x)."""
    image, output = ("x", "y") if codeformer else ("input", "output")
    inputs = [_value(image, FLOAT, [1, 3, 512, 512])]
    if codeformer:
        inputs.insert(0 if weight_first else 1, _value("w", DOUBLE, [1]))
    nodes = [helper.make_node("Identity", [image], [output])]
    return _model(nodes, inputs, [_value(output, FLOAT, [1, 3, 512, 512])])


def upscaler_like(scale: int = 2, mode: str = "linear") -> bytes:
    """Real-ESRGAN contract (1×3×H×W → 1×3×sH×sW) via a Resize op."""
    scales = numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["input", "", "scales"], ["output"], mode=mode)]
    inputs = [_value("input", FLOAT, [1, 3, "h", "w"])]
    return _model(nodes, inputs, [_value("output", FLOAT, [1, 3, "H", "W"])], [scales])


def scrfd_outputs(input_px: int = 640) -> list[np.ndarray]:
    """The 9 SCRFD outputs (scores, box distances, five-point offsets per stride 8/16/32) of one face at SCRFD_BOX."""
    points = np.array([[-1, -1], [1, -1], [0, 0], [-1, 1], [1, 1]], np.float32) * 16 + (192, 160)
    return scrfd_face_outputs(np.array(SCRFD_BOX, np.float32), points, input_px)


def scrfd_face_outputs(box: np.ndarray, points: np.ndarray, input_px: int = 640) -> list[np.ndarray]:
    """The 9 SCRFD outputs reporting one face with this box (x1, y1, x2, y2) and five points, in input pixels.

    The face goes to the stride-16 anchor nearest the box centre (score SCRFD_SCORE); the second anchor of that
    cell reports the same box with score 0.8, for NMS to remove.
    """
    counts = [(input_px // s) ** 2 * 2 for s in (8, 16, 32)]
    scores = [np.zeros((n, 1), np.float32) for n in counts]
    boxes = [np.zeros((n, 4), np.float32) for n in counts]
    offsets = [np.zeros((n, 10), np.float32) for n in counts]
    column, row = np.round((box[:2] + box[2:]) / 2 / 16).astype(int)
    centre = np.array([column, row], np.float32) * 16
    anchor = (row * (input_px // 16) + column) * 2
    scores[1][anchor], scores[1][anchor + 1] = SCRFD_SCORE, 0.8
    boxes[1][anchor] = boxes[1][anchor + 1] = np.concatenate([centre - box[:2], box[2:] - centre]) / 16
    offsets[1][anchor] = ((points - centre) / 16).reshape(-1)
    return scores + boxes + offsets


def scrfd_like(input_px: int = 640, outputs: list[np.ndarray] | None = None) -> bytes:
    """SCRFD contract (input.1 1×3×640×640, outputs 448 … 500), always reporting `outputs` (default: SCRFD_BOX)."""
    nodes, values, initializers = [], [], []
    for i, (name, array) in enumerate(zip(SCRFD_OUTPUT_NAMES, outputs or scrfd_outputs(input_px), strict=True)):
        initializers.append(numpy_helper.from_array(array, f"c{i}"))
        nodes.append(helper.make_node("Identity", [f"c{i}"], [name]))
        values.append(_value(name, FLOAT, list(array.shape)))
    return _model(nodes, [_value("input.1", FLOAT, [1, 3, input_px, input_px])], values, initializers)


def sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def pinned(spec: ModelSpec, data: bytes, urls: tuple[str, ...] | None = None) -> ModelSpec:
    """A catalog spec re-pinned to test bytes (and optionally loopback URLs)."""
    return dataclasses.replace(spec, sha256=sha256(data), size=len(data), urls=urls or spec.urls)


def stock(folder: Path, models: Mapping[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    """`folder` (made when missing) holding `models` (catalog name → bytes) under their catalog file names, the
    catalog re-pinned to their hashes while `monkeypatch` lasts: a model store with these models installed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in models.items():
        spec = pinned(CATALOG[name], data)
        monkeypatch.setitem(CATALOG, name, spec)
        (folder / spec.file_name).write_bytes(data)
    return folder


@dataclasses.dataclass
class FileServer:
    """Serves `files` (path → bytes) on 127.0.0.1 with Range support; `cut` paths stop after half the bytes once."""

    files: dict[str, bytes]
    port: int = 0
    cut: set[str] = dataclasses.field(default_factory=set)
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

    def url(self, path: str) -> str:
        """The loopback URL of a path."""
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            ranged = self.headers.get("Range")
            server.requests.append((self.path, ranged))
            data = server.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = int(ranged.split("=")[1].split("-")[0]) if ranged else 0
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206 if ranged else 200)
            if ranged:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if self.path in server.cut:
                server.cut.discard(self.path)
                body = body[: len(body) // 2]
                self.close_connection = True
            self.wfile.write(body)

    return Handler


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[FileServer]:
    """Run a FileServer in a thread for the duration of the block."""
    state = FileServer(files)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
