"""ONNX graphs with random weights and the exact input/output contracts of the real model files.

The real weights cannot be fetched here, so the differential tests run small graphs that have what the reference
code and faceweave both rely on: the same tensor names, ranks, fixed sizes, element types, output order and (for
inswapper) the 512×512 emap as the graph's last initializer. Their outputs depend on the inputs through small
convolutions, so a wrong colour order, normalisation, alignment or output order changes the result.

Where each fact comes from (line numbers at the commits named in docs/models.md):

- inswapper_128.onnx (inswapper_128): inputs `target` f32 1×3×128×128 (RGB 0–1) and `source` f32 1×512, output
  `output` f32 1×3×128×128. Names and shapes: Hillobar/Rope rope/Models.py L136–138 (IOBinding by name). The emap
  is `graph.initializer[-1]`, 512×512: insightface 2.1 model_zoo/inswapper.py L19, FaceFusion 3.8.1
  model_helper.py `get_static_model_initializer`. The input size is read from input 0 and the target is fed first:
  inswapper.py L43, L57.
- w600k_r50.onnx (arcface_w600k_r50): input `input.1` f32 None×3×112×112, output `683` f32 (batch)×512. Shape and
  mean/std 127.5/127.5: insightface's model_zoo log line `w600k_r50.onnx recognition ['None', 3, 112, 112] 127.5
  127.5`, quoted in many public logs (arcface_onnx.py L30–44 reads 127.5 when no node among the first eight is
  named `Sub…`/`Mul…`). Names: public model registries pinning the same sha256 (4c06341c…) and size (174,383,860).
- det_10g.onnx (scrfd_10g): input `input.1` f32 1×3×?×?; outputs `448` `471` `494` (scores, strides 8/16/32,
  N×1), `451` `474` `497` (box distances, N×4), `454` `477` `500` (five-point offsets, N×10). Input shape and
  mean/std 127.5/128: the same log (`det_10g.onnx detection [1, 3, '?', '?'] 127.5 128.0`). Output names and order:
  SthPhoenix/InsightFace-REST if_rest/core/configs.py (`scrfd_10g_bnkps_outputs`), Rope rope/Models.py L334–344.
  Rank 2 (not batched), 9 outputs = 3 strides × 2 anchors with points: insightface 2.1 model_zoo/scrfd.py
  `_init_vars`.
- GFPGANv1.4.onnx (gfpgan_1.4), GPEN-BFR-512.onnx (gpen_bfr_512): `input` f32 1×3×512×512 → `output` f32
  1×3×512×512: Rope rope/Models.py L233–234, L245–246; FaceFusion face_enhancer/core.py L379 (`input` by name).
- codeformer_fp16.onnx (codeformer): `x` f32 1×3×512×512 and `w` f64 [1] (fidelity) → `y` f32 1×3×512×512: Rope
  rope/Models.py L267–270 (`w` bound as `np.double`). FaceFusion's own codeformer.onnx, a different export, names
  them `input` and `weight` (face_enhancer/core.py L379–382).
- RealESRGAN_x2plus.fp16.onnx, _x4plus (real_esrgan_x2/_x4): `input` f32 1×3×H×W (RGB 0–1) → `output` f32
  1×3×sH×sW: visomaster/VisoMaster app/processors/frame_enhancers.py `run_realesrganx2` (float32, by name). x2
  needs even H and W (RRDBNet's pixel-unshuffle: xinntao/Real-ESRGAN realesrgan/utils.py `pre_process`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT, DOUBLE = TensorProto.FLOAT, TensorProto.DOUBLE
SCRFD_OUTPUTS = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
STRIDES = (8, 16, 32)


class _Graph:
    """Collects nodes and initializers; `weight` makes seeded random tensors."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, name: str, shape: tuple[int, ...], scale: float) -> str:
        return self.const(name, self.rng.normal(0, scale, shape).astype(np.float32))

    def node(self, op: str, inputs: list[str], output: str, **attributes: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{op.lower()}_{len(self.nodes)}", **attributes))
        return output

    def conv(self, x: str, name: str, cin: int, cout: int, k: int = 3, stride: int = 1, scale: float = 0.3) -> str:
        w = self.weight(f"{name}.weight", (cout, cin, k, k), scale / np.sqrt(cin * k * k))
        b = self.weight(f"{name}.bias", (cout,), 0.05)
        return self.node("Conv", [x, w, b], name, kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> bytes:
        graph = helper.make_graph(self.nodes, "faceweave-contract", inputs, outputs, initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model.SerializeToString()


def _value(name: str, elem: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def contract_emap() -> np.ndarray:
    """The 512×512 emap stored as the inswapper graph's last initializer (scaled so ‖e·emap‖ ≠ ‖e‖)."""
    return np.random.default_rng(11).normal(0, 0.08, (512, 512)).astype(np.float32)


def inswapper_graph() -> bytes:
    """inswapper_128's contract: output = sigmoid(4·(target − ½) + small convs of target + a source projection)."""
    g = _Graph(21)
    features = g.node("Relu", [g.conv("target", "conv1", 3, 8)], "relu1")
    detail = g.conv(features, "conv2", 8, 3)
    centred = g.node("Sub", ["target", g.const("half", np.float32(0.5))], "centred")
    base = g.node("Mul", [centred, g.const("gain", np.float32(4.0))], "base")
    style = g.node("MatMul", ["source", g.weight("style.weight", (512, 3), 0.2)], "style")
    style = g.node("Reshape", [style, g.const("style_shape", np.array([1, 3, 1, 1], np.int64))], "style4")
    logits = g.node("Add", [g.node("Add", [base, detail], "mix"), style], "logits")
    g.node("Sigmoid", [logits], "output")
    g.const("emap", contract_emap())  # last initializer, as in the real file
    inputs = [_value("target", FLOAT, [1, 3, 128, 128]), _value("source", FLOAT, [1, 512])]
    return g.model(inputs, [_value("output", FLOAT, [1, 3, 128, 128])])


def arcface_graph() -> bytes:
    """w600k_r50's contract: strided convs keep spatial detail, then a dense layer to 512 (raw, unnormalised)."""
    g = _Graph(31)
    x = g.node("Relu", [g.conv("input.1", "stem", 3, 8, k=5, stride=4)], "stem_relu")  # N×8×28×28
    x = g.node("AveragePool", [x], "pooled", kernel_shape=[4, 4], strides=[4, 4])  # N×8×7×7
    x = g.node("Flatten", [x], "flat", axis=1)
    g.node("MatMul", [x, g.weight("fc", (8 * 7 * 7, 512), 0.5)], "683")
    return g.model([_value("input.1", FLOAT, ["None", 3, 112, 112])], [_value("683", FLOAT, ["None", 512])])


def _scrfd_level(g: _Graph, stride: int) -> tuple[str, str, str]:
    """Scores (N×1), box distances (N×4) and point offsets (N×10) of one stride, from cell mean colours."""
    cells = g.node("AveragePool", ["input.1"], f"cells{stride}", kernel_shape=[stride, stride], strides=[stride] * 2)
    # Score logit per anchor: cells warmer (R − B, RGB order) than their 5×5-cell neighbourhood score high, so
    # lips, cheeks and eyes peak while flat areas do not; the two anchors differ in bias.
    around = g.node("AveragePool", [cells], f"around{stride}", kernel_shape=[5, 5], pads=[2] * 4, count_include_pad=0)
    contrast = g.node("Sub", [cells, around], f"contrast{stride}")
    warm = np.zeros((2, 3, 1, 1), np.float32)
    warm[:, 0], warm[:, 2] = 1.0, -1.0
    local = g.node("Conv", [contrast, g.const(f"score{stride}.w", warm * 12)], f"local{stride}")
    level = g.node(
        "Conv",
        [cells, g.const(f"level{stride}.w", warm * 2), g.const(f"level{stride}.b", np.array([-5.0, -5.2], np.float32))],
        f"level{stride}",
    )
    score = g.node("Add", [local, level], f"s{stride}")
    outputs = [g.node("Sigmoid", [score], f"sig{stride}")]
    box = g.conv(cells, f"box{stride}", 3, 8, k=3, scale=0.8)
    outputs.append(
        g.node(
            "Add", [g.node("Softplus", [box], f"bsp{stride}"), g.const(f"bmin{stride}", np.float32(1.2))], f"bd{stride}"
        )
    )
    points = g.conv(cells, f"kps{stride}", 3, 20, k=3, scale=0.8)
    outputs.append(
        g.node(
            "Mul", [g.node("Tanh", [points], f"kt{stride}"), g.const(f"kscale{stride}", np.float32(1.5))], f"kd{stride}"
        )
    )
    flat = []
    for tensor, width in zip(outputs, (1, 4, 10), strict=True):
        nhwc = g.node("Transpose", [tensor], f"{tensor}_nhwc", perm=[0, 2, 3, 1])
        shape = g.const(f"{tensor}_shape", np.array([-1, width], np.int64))
        flat.append(g.node("Reshape", [nhwc, shape], f"{tensor}_flat"))
    return flat[0], flat[1], flat[2]


def scrfd_graph() -> bytes:
    """det_10g's contract: 9 rank-2 outputs (scores, boxes, points × strides 8/16/32) computed from the input.

    Scores peak on warm-coloured cells (skin, lips, a red flag), so a face photo gives a few detections above 0.5;
    boxes and points vary with the cell colours. Channel 0 is read as red: fed BGR, other cells win.
    """
    g = _Graph(41)
    levels = [_scrfd_level(g, stride) for stride in STRIDES]
    for kind in range(3):
        for level, name in zip(levels, SCRFD_OUTPUTS[3 * kind : 3 * kind + 3], strict=True):
            g.node("Identity", [level[kind]], name)
    widths = (1, 1, 1, 4, 4, 4, 10, 10, 10)
    outputs = [_value(name, FLOAT, [f"n{name}", width]) for name, width in zip(SCRFD_OUTPUTS, widths, strict=True)]
    return g.model([_value("input.1", FLOAT, [1, 3, "?", "?"])], outputs)


def restorer_graph(names: tuple[str, ...] = ("input", "output")) -> bytes:
    """GFPGAN / GPEN contract (1×3×512×512 in −1…1 → same): tanh of the input plus small convs.

    With three names (`x`, `w`, `y`) it is CodeFormer's: the float64 fidelity `w` scales the conv branch.
    """
    g = _Graph(51)
    image, output = names[0], names[-1]
    branch = g.conv(g.node("Relu", [g.conv(image, "conv1", 3, 8)], "relu1"), "conv2", 8, 3, scale=1.0)
    inputs = [_value(image, FLOAT, [1, 3, 512, 512])]
    if len(names) == 3:
        inputs.append(_value(names[1], DOUBLE, [1]))
        weight = g.node("Cast", [names[1]], "weight_f32", to=FLOAT)
        branch = g.node("Mul", [branch, g.node("Add", [weight, g.const("one", np.float32(1.0))], "gain")], "scaled")
    logits = g.node("Add", [g.node("Mul", [image, g.const("k", np.float32(1.2))], "boost"), branch], "logits")
    g.node("Tanh", [logits], output)
    return g.model(inputs, [_value(output, FLOAT, [1, 3, 512, 512])])


def upscaler_graph(scale: int) -> bytes:
    """Real-ESRGAN contract (RGB 0–1, 1×3×H×W → 1×3×sH×sW): nearest upscale plus a learned sub-pixel residual.

    The x2 graph starts with a pixel-unshuffle (SpaceToDepth 2), as RRDBNet does for scale 2, so it needs even H, W.
    """
    g = _Graph(60 + scale)
    x, channels = "input", 3
    if scale == 2:
        x, channels = g.node("SpaceToDepth", [x], "unshuffled", blocksize=2), 12
    shuffle = 4  # the residual branch is built at 1/4 (x2, after unshuffle) or full size (x4) and shuffled ×4
    residual = g.conv(g.node("Relu", [g.conv(x, "conv1", channels, 16)], "relu1"), "conv2", 16, 3 * shuffle**2)
    residual = g.node("DepthToSpace", [g.node("Tanh", [residual], "tanh")], "residual", blocksize=shuffle)
    scales = g.const("scales", np.array([1, 1, scale, scale], np.float32))
    base = g.node("Resize", ["input", "", scales], "base", mode="nearest")
    g.node("Add", [base, g.node("Mul", [residual, g.const("k", np.float32(0.15))], "small")], "output")
    return g.model([_value("input", FLOAT, [1, 3, "h", "w"])], [_value("output", FLOAT, [1, 3, "H", "W"])])
