"""Random-weight ONNX graphs with the real files' contracts AND their depth, for timing the neural chain on a GPU.

contract_graphs.py has the exact tensor names, shapes and types of the real files but almost no compute. These
graphs keep the same inputs and outputs and add the layers of the published architectures, so a GPU spends about
the time on them that it spends on the real weights (same convolutions, channel counts and spatial sizes; batch
norm folded away, as an exported inference graph has it). Each builder returns the file's bytes and its
multiply-accumulates and parameters, which tools/gpu_check.sh prints beside the real files' published figures.

- inswapper_128: the layer list of ReSwapper's StyleTransferModel_128.py (somanchiu/ReSwapper), into which the
  weights of inswapper_128.onnx load one to one (its pull request #10): a 7×7 conv to 128 channels, 3×3 convs to 256,
  512 (stride 2) and 1024 (stride 2), six residual style blocks of two 1024-channel 3×3 convs with AdaIN from the
  512-d source at 32×32, two ×2 bilinear upsamplings with convs to 512 and 256, then 128 and a 7×7 conv to RGB, tanh.
  138 M parameters, the 554 MB of the file.
- w600k_r50: insightface's iresnet50 (recognition/arcface_torch/backbones/iresnet.py): a 3×3 stem to 64 channels,
  [3, 4, 14, 3] basic blocks of 64, 128, 256, 512 channels (the first of each stage with stride 2), PReLU, a dense
  layer from 512×7×7 to 512. 43.6 M parameters, 6.3 G multiply-accumulates (the model zoo's figures).
- det_10g: SCRFD-10GF (insightface detection/scrfd configs, scrfd_10g_bnkps): a ResNet-v1e stem, basic-block stages
  (3, 4, 2, 3) of 56, 88, 88, 224 channels, a path-aggregation neck of 56 channels, and per stride (8, 16, 32) three
  stacked 80-channel convs and score / box / five-point convs for two anchors; input 640², scores biased low so
  random weights find no face (the timing then has no NMS load, as on a frame with few faces).
- GFPGANv1.4: GFPGANv1Clean (TencentARC/GFPGAN gfpgan/archs/gfpganv1_clean_arch.py) as v1.4 configures it (channel
  multiplier 2, different_w, sft_half): a U-Net of resblocks from 512² (32 channels) down to 4² (256), a dense
  layer to sixteen 512-d style codes, a resblock decoder back up whose features make the SFT scale and shift (two
  3×3 convs each), and a StyleGAN2 decoder (512 channels down to 64 at 512², two 3×3 convs per resolution, the
  first after a ×2 upsampling, SFT on half the channels between them). Modulated convolutions are plain ones here
  (the same arithmetic; the style codes enter once, at the 4² start), and there is no noise injection.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
from contract_graphs import DOUBLE, FLOAT, SCRFD_OUTPUTS, STRIDES, _Graph, _value, contract_emap

Tensor = tuple[str, int, int, int]
"""A feature map in the graph: (name, channels, height, width)."""


@dataclasses.dataclass(frozen=True)
class Built:
    """A model file's bytes and what it costs: multiply-accumulates per item and parameter count."""

    data: bytes
    macs: int
    params: int


class _Net:
    """A _Graph that tracks shapes, multiply-accumulates and parameters as layers are added."""

    def __init__(self, seed: int) -> None:
        self.g = _Graph(seed)
        self.macs = 0
        self.params = 0
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def conv(
        self, x: Tensor, cout: int, k: int = 3, stride: int = 1, act: str | None = "lrelu", gain: float = 1.0
    ) -> Tensor:
        name, cin, h, w = x
        ho, wo = -(-h // stride), -(-w // stride)
        weight = self.g.weight(self._name("w"), (cout, cin, k, k), gain * math.sqrt(2.0 / (cin * k * k)))
        bias = self.g.const(self._name("b"), np.zeros(cout, np.float32))
        out = self.g.node(
            "Conv",
            [name, weight, bias],
            self._name("conv"),
            kernel_shape=[k, k],
            pads=[k // 2] * 4,
            strides=[stride, stride],
        )
        self.macs += cin * cout * k * k * ho * wo
        self.params += cout * cin * k * k + cout
        return self.act((out, cout, ho, wo), act)

    def act(self, x: Tensor, kind: str | None) -> Tensor:
        if kind == "lrelu":
            return self.g.node("LeakyRelu", [x[0]], self._name("lrelu"), alpha=0.2), *x[1:]
        if kind == "relu":
            return self.g.node("Relu", [x[0]], self._name("relu")), *x[1:]
        if kind == "prelu":
            slope = self.g.const(self._name("slope"), np.full((x[1], 1, 1), 0.25, np.float32))
            self.params += x[1]
            return self.g.node("PRelu", [x[0], slope], self._name("prelu")), *x[1:]
        return x

    def add(self, a: Tensor, b: Tensor, scale: float = 1.0) -> Tensor:
        total = self.g.node("Add", [a[0], b[0]], self._name("add"))
        if scale != 1.0:
            total = self.g.node("Mul", [total, self.g.const(self._name("k"), np.float32(scale))], self._name("mul"))
        return total, *a[1:]

    def resize(self, x: Tensor, factor: float) -> Tensor:
        scales = self.g.const(self._name("scales"), np.array([1, 1, factor, factor], np.float32))
        out = self.g.node("Resize", [x[0], "", scales], self._name("resize"), mode="linear")
        return out, x[1], int(x[2] * factor), int(x[3] * factor)

    def dense(self, x: str, cin: int, cout: int, name: str | None = None) -> str:
        self.macs += cin * cout
        self.params += cin * cout
        return self.g.node(
            "MatMul", [x, self.g.weight(self._name("fc"), (cin, cout), 1 / math.sqrt(cin))], name or self._name("dense")
        )

    def built(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> Built:
        return Built(self.g.model(inputs, outputs), self.macs, self.params)


def _adain(net: _Net, x: Tensor, source: str) -> Tensor:
    """Instance norm, then a per-channel scale and shift made from the source vector (StyleTransferModel_128's)."""
    name, c, h, w = x
    ones, zeros = (net.g.const(net._name(k), np.full(c, v, np.float32)) for k, v in (("one", 1.0), ("zero", 0.0)))
    norm = net.g.node("InstanceNormalization", [name, ones, zeros], net._name("in"), epsilon=1e-6)
    style = net.dense(source, 512, 2 * c)
    shape = net.g.const(net._name("shape"), np.array([1, 2 * c, 1, 1], np.int64))
    style = net.g.node("Reshape", [style, shape], net._name("style"))
    gamma, beta = net._name("gamma"), net._name("beta")
    sizes = net.g.const(net._name("sizes"), np.array([c, c], np.int64))
    net.g.nodes.append(onnx.helper.make_node("Split", [style, sizes], [gamma, beta], axis=1, name=net._name("split")))
    scaled = net.g.node(
        "Mul",
        [norm, net.g.node("Add", [gamma, net.g.const(net._name("one"), np.float32(1))], net._name("g1"))],
        net._name("scaled"),
    )
    return net.g.node("Add", [scaled, beta], net._name("adain")), c, h, w


def inswapper_deep() -> Built:
    """inswapper_128's contract and layers (138 M parameters, ~174 G multiply-accumulates per 128² crop)."""
    net = _Net(121)
    x = net.conv(("target", 3, 128, 128), 128, k=7)
    x = net.conv(x, 256)
    x = net.conv(x, 512, stride=2)
    x = net.conv(x, 1024, stride=2)
    for _ in range(6):
        y = net.act(_adain(net, net.conv(x, 1024, act=None), "source"), "relu")
        y = _adain(net, net.conv(y, 1024, act=None), "source")
        x = net.add(y, x)
    x = net.conv(net.resize(x, 2), 512)
    x = net.conv(net.resize(x, 2), 256)
    x = net.conv(x, 128)
    x = net.conv(x, 3, k=7, act=None)
    tanh = net.g.node("Tanh", [x[0]], "tanh")
    half = net.g.const("half", np.float32(0.5))
    net.g.node("Add", [net.g.node("Mul", [tanh, half], "scaled"), half], "output")
    net.g.const("emap", contract_emap())  # last initializer, as in the real file
    inputs = [_value("target", FLOAT, [1, 3, 128, 128]), _value("source", FLOAT, [1, 512])]
    return net.built(inputs, [_value("output", FLOAT, [1, 3, 128, 128])])


def arcface_deep() -> Built:
    """w600k_r50's contract and iresnet50's layers (43.6 M parameters, 6.3 G multiply-accumulates per 112² crop)."""
    net = _Net(131)
    x = net.conv(("input.1", 3, 112, 112), 64, act="prelu")
    for channels, blocks in ((64, 3), (128, 4), (256, 14), (512, 3)):
        for index in range(blocks):
            stride = 2 if index == 0 else 1
            y = net.conv(net.conv(x, channels, act="prelu"), channels, stride=stride, act=None, gain=0.2)
            shortcut = net.conv(x, channels, k=1, stride=stride, act=None) if index == 0 else x
            x = net.add(y, shortcut)
    flat = net.g.node("Flatten", [x[0]], "flat", axis=1)
    net.dense(flat, 512 * 7 * 7, 512, name="683")
    return net.built([_value("input.1", FLOAT, ["None", 3, 112, 112])], [_value("683", FLOAT, ["None", 512])])


def _basic(net: _Net, x: Tensor, channels: int, stride: int) -> Tensor:
    y = net.conv(net.conv(x, channels, stride=stride, act="relu"), channels, act=None, gain=0.3)
    shortcut = x if stride == 1 and x[1] == channels else net.conv(x, channels, k=1, stride=stride, act=None)
    return net.act(net.add(y, shortcut), "relu")


def scrfd_deep() -> Built:
    """det_10g's contract and SCRFD-10GF's layers at 640² (its outputs are rank 2, as in the real file)."""
    net = _Net(141)
    x = net.conv(("input.1", 3, 640, 640), 28, stride=2, act="relu")
    x = net.conv(net.conv(x, 28, act="relu"), 56, act="relu")
    x = (net.g.node("MaxPool", [x[0]], "pool", kernel_shape=[2, 2], strides=[2, 2]), 56, 160, 160)
    features = []
    for channels, blocks, stride in ((56, 3, 1), (88, 4, 2), (88, 2, 2), (224, 3, 2)):
        for index in range(blocks):
            x = _basic(net, x, channels, stride if index == 0 else 1)
        features.append(x)
    levels = [net.conv(f, 56, k=1, act=None) for f in features[1:]]  # strides 8, 16, 32
    for i in (1, 0):  # top-down
        levels[i] = net.add(levels[i], net.resize(levels[i + 1], 2))
    levels = [net.conv(level, 56, act="relu") for level in levels]
    for i in (1, 2):  # bottom-up
        levels[i] = net.add(levels[i], net.conv(levels[i - 1], 56, stride=2, act="relu"))
    heads = []
    for level in levels:
        feature = net.conv(net.conv(net.conv(level, 80, act="relu"), 80, act="relu"), 80, act="relu")
        heads.append([net.conv(feature, width * 2, act=None, gain=0.1) for width in (1, 4, 10)])
    outputs = []
    for kind, width in enumerate((1, 4, 10)):
        for level, head in enumerate(heads):
            name = head[kind][0]
            if kind == 0:
                name = net.g.node(
                    "Sigmoid",
                    [net.g.node("Add", [name, net.g.const(net._name("bias"), np.float32(-8))], net._name("low"))],
                    net._name("sig"),
                )
            nhwc = net.g.node("Transpose", [name], net._name("nhwc"), perm=[0, 2, 3, 1])
            shape = net.g.const(net._name("shape"), np.array([-1, width], np.int64))
            flat = net.g.node("Reshape", [nhwc, shape], net._name("flat"))
            outputs.append(net.g.node("Identity", [flat], SCRFD_OUTPUTS[kind * len(STRIDES) + level]))
    values = [
        _value(name, FLOAT, [f"n{name}", w])
        for name, w in zip(SCRFD_OUTPUTS, (1,) * 3 + (4,) * 3 + (10,) * 3, strict=True)
    ]
    return net.built([_value("input.1", FLOAT, [1, 3, "?", "?"])], values)


def _res(net: _Net, x: Tensor, cout: int, mode: str) -> Tensor:
    """GFPGAN's ResBlock: conv, resize (down or up), conv; a 1×1 skip; (sum) / √2."""
    factor = 0.5 if mode == "down" else 2.0
    y = net.conv(net.resize(net.conv(x, x[1]), factor), cout)
    return net.add(y, net.conv(net.resize(x, factor), cout, k=1, act=None), 1 / math.sqrt(2))


def _sft_half(net: _Net, y: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """GFPGAN's SFT with sft_half: the second half of the channels times (1 + scale) plus shift."""
    name, c, h, w = y
    sizes = net.g.const(net._name("sizes"), np.array([c // 2, c // 2], np.int64))
    same, sft = net._name("same"), net._name("sft")
    net.g.nodes.append(onnx.helper.make_node("Split", [name, sizes], [same, sft], axis=1, name=net._name("split")))
    one = net.g.const(net._name("one"), np.float32(1))
    gain = net.g.node("Add", [scale[0], one], net._name("gain"))
    sft = net.g.node("Add", [net.g.node("Mul", [sft, gain], net._name("scaled")), shift[0]], net._name("shifted"))
    return net.g.node("Concat", [same, sft], net._name("concat"), axis=1), c, h, w


def restorer_deep(names: tuple[str, ...] = ("input", "output")) -> Built:
    """GFPGAN / GPEN contract (1×3×512×512 in −1…1 → same) and GFPGANv1Clean's layers as v1.4 configures them
    (channel multiplier 2, different_w, sft_half, latent input); with three names (`x`, `w`, `y`) CodeFormer's
    contract (its float64 fidelity `w` scales the SFT shift)."""
    net = _Net(151)
    unet = {4: 256, 8: 256, 16: 256, 32: 256, 64: 256, 128: 128, 256: 64, 512: 32}  # 512 · narrow 0.5, ...
    decoder = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}
    image, output = names[0], names[-1]
    x = net.conv((image, 3, 512, 512), unet[512], k=1)
    skips: list[Tensor] = []
    for size in (512, 256, 128, 64, 32, 16, 8):
        x = _res(net, x, unet[size // 2], "down")
        skips.insert(0, x)
    x = net.conv(x, unet[4])
    flat = net.g.node("Flatten", [x[0]], "flat", axis=1)
    style = net.dense(flat, unet[4] * 16, 16 * 512)  # different_w: a 512-d code for each of 16 layers
    shape = net.g.const("style_shape", np.array([1, 512, 4, 4], np.int64))
    start = net.g.node(
        "Add", [net.g.node("Reshape", [style, shape], "style4"), net.g.weight("constant", (1, 512, 4, 4), 1)], "start"
    )
    conditions = {}
    for size, skip in zip((8, 16, 32, 64, 128, 256, 512), skips, strict=True):  # each at size / 2
        x = _res(net, net.add(x, skip), unet[size], "up")
        conditions[size] = [net.conv(net.conv(x, unet[size]), unet[size], act=None, gain=0.1) for _ in "ab"]
    weight = net.g.node("Cast", [names[1]], "weight_f32", to=FLOAT) if len(names) == 3 else None
    y = net.conv((start, 512, 4, 4), decoder[4])
    for size in (8, 16, 32, 64, 128, 256, 512):
        y = net.conv(net.resize(y, 2), decoder[size])
        scale, shift = conditions[size]
        if weight is not None:
            shift = (net.g.node("Mul", [shift[0], weight], net._name("fidelity")), *shift[1:])
        y = net.conv(_sft_half(net, y, scale, shift), decoder[size])
    rgb = net.conv(y, 3, k=1, act=None)
    net.g.node("Tanh", [rgb[0]], output)
    inputs = [_value(image, FLOAT, [1, 3, 512, 512])]
    if len(names) == 3:
        inputs.append(_value(names[1], DOUBLE, [1]))
    return net.built(inputs, [_value(output, FLOAT, [1, 3, 512, 512])])
