"""The model catalog: data only (no I/O, nothing heavy imported).

sha256 values and sizes are pinned from published sources, each cited in `ModelSpec.source`; a value
is left None where none could be confirmed (then `faceweave models download` needs --allow-unverified).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import get_args

from faceweave.errors import UsageError
from faceweave.models.spec import VARIANT_MARK, Architecture, ModelSpec, TensorSpec, Variant

_VISOMASTER = "https://github.com/visomaster/visomaster-assets/releases/download"
_HF = "https://huggingface.co"
_INSIGHTFACE_LICENCE = "InsightFace pretrained weights: non-commercial research use only"
_HALF_OR_FULL = ("float16", "float32")
_LICENCES = {
    "gfpgan": "GFPGAN: Apache-2.0",
    "codeformer": "CodeFormer: S-Lab License 1.0, non-commercial",
    "gpen": "GPEN: non-commercial, academic and educational use only",
}


def _inswapper(name: str, file_name: str, urls: tuple[str, ...], sha256: str, size: int, source: str) -> ModelSpec:
    dtypes = _HALF_OR_FULL if "fp16" in name else ("float32",)
    return ModelSpec(
        name=name,
        task="swapper",
        architecture="inswapper",
        file_name=file_name,
        urls=urls,
        sha256=sha256,
        size=size,
        inputs=(TensorSpec("target", (1, 3, 128, 128), dtypes), TensorSpec("source", (1, 512), dtypes)),
        outputs=(TensorSpec("output", (1, 3, 128, 128), dtypes),),
        licence=_INSIGHTFACE_LICENCE,
        commercial=False,
        template="arcface_128",
        crop_px=128,
        source=source,
    )


def _face_enhancer(
    name: str, architecture: Architecture, file_name: str, urls: tuple[str, ...], pins: tuple[str, int | None, str]
) -> ModelSpec:
    """A 512 px face restorer (GFPGAN, CodeFormer, GPEN); `pins` = (sha256, size, source).

    Tensor names of the pinned files: `input` → `output` (GFPGAN, GPEN); `x`, `w` (float64 fidelity) → `y`
    (VisoMaster's CodeFormer export), as Rope and VisoMaster bind them (see docs/models.md).
    """
    image, output = ("x", "y") if architecture == "codeformer" else ("input", "output")
    inputs: tuple[TensorSpec, ...] = (TensorSpec(image, (1, 3, 512, 512), _HALF_OR_FULL),)
    if architecture == "codeformer":
        inputs = (*inputs, TensorSpec("w", (1,), ("float64", *_HALF_OR_FULL)))
    sha256, size, source = pins
    return ModelSpec(
        name=name,
        task="face_enhancer",
        architecture=architecture,
        file_name=file_name,
        urls=urls,
        sha256=sha256,
        size=size,
        inputs=inputs,
        outputs=(TensorSpec(output, (1, 3, 512, 512), _HALF_OR_FULL),),
        licence=_LICENCES[architecture],
        commercial=architecture == "gfpgan",
        template="ffhq_512",
        crop_px=512,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        source=source,
    )


def _real_esrgan(scale: int, sha256: str) -> ModelSpec:
    file_name = f"RealESRGAN_x{scale}plus.fp16.onnx"
    return ModelSpec(
        name=f"real_esrgan_x{scale}",
        task="frame_enhancer",
        architecture="real_esrgan",
        file_name=file_name,
        urls=(f"{_VISOMASTER}/v1.0.0/{file_name}", f"{_VISOMASTER}/v0.1.0/{file_name}"),
        sha256=sha256,
        size=None,
        inputs=(TensorSpec("input", (1, 3, None, None), _HALF_OR_FULL),),
        outputs=(TensorSpec("output", (1, 3, None, None), _HALF_OR_FULL),),
        licence="Real-ESRGAN: BSD-3-Clause",
        commercial=True,
        scale=scale,
        source="sha256: visomaster/VisoMaster app/processors/models_data.py (one source)",
    )


_BUFFALO = "sha256 and size: published in several public projects pinning insightface's v0.7 buffalo_l.zip members"
# det_10g's outputs: scores, box distances, five-point offsets, each for strides 8, 16, 32 (docs/models.md).
_SCRFD_OUTPUTS = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
_SCRFD_WIDTHS = (1, 1, 1, 4, 4, 4, 10, 10, 10)

CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _inswapper(
            "inswapper_128",
            "inswapper_128.onnx",
            (
                f"{_HF}/ezioruan/inswapper_128.onnx/resolve/main/inswapper_128.onnx",
                f"{_HF}/Aitrepreneur/insightface/resolve/fd887cdef0c73f32251198b8160d6771ac413fc0/inswapper_128.onnx",
            ),
            "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
            554_253_681,
            "InsightFace's original file; sha256 confirmed by several public projects (FaceFusion's re-export differs)",
        ),
        _inswapper(
            "inswapper_128_fp16",
            "inswapper_128_fp16.onnx",
            (
                f"{_HF}/hacksider/deep-live-cam/resolve/main/inswapper_128_fp16.onnx",
                f"{_VISOMASTER}/v1.0.0/inswapper_128.fp16.onnx",
            ),
            "6d51a9278a1f650cffefc18ba53f38bf2769bf4bbff89267822cf72945f8a38b",
            277_680_638,
            "sha256: VisoMaster models_data.py and a Deep-Live-Cam model table agree; size from the latter",
        ),
        ModelSpec(
            name="arcface_w600k_r50",
            task="embedder",
            architecture="arcface",
            file_name="w600k_r50.onnx",
            urls=(
                f"{_HF}/public-data/insightface/resolve/main/models/buffalo_l/w600k_r50.onnx",
                f"{_HF}/deepghs/insightface/resolve/main/buffalo_l/w600k_r50.onnx",
                f"{_VISOMASTER}/v1.0.0/w600k_r50.onnx",
            ),
            sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
            size=174_383_860,
            inputs=(TensorSpec("input.1", (None, 3, 112, 112)),),
            outputs=(TensorSpec("683", (None, 512)),),
            licence=_INSIGHTFACE_LICENCE,
            commercial=False,
            template="arcface_112_v2",
            crop_px=112,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            source=_BUFFALO,
        ),
        ModelSpec(
            name="scrfd_10g",
            task="detector",
            architecture="scrfd",
            file_name="det_10g.onnx",
            urls=(
                f"{_HF}/public-data/insightface/resolve/main/models/buffalo_l/det_10g.onnx",
                f"{_HF}/deepghs/insightface/resolve/main/buffalo_l/det_10g.onnx",
                f"{_VISOMASTER}/v1.0.0/det_10g.onnx",
            ),
            sha256="5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
            size=16_923_827,
            inputs=(TensorSpec("input.1", (1, 3, None, None)),),
            outputs=tuple(
                TensorSpec(name, (None, width)) for name, width in zip(_SCRFD_OUTPUTS, _SCRFD_WIDTHS, strict=True)
            ),
            licence=_INSIGHTFACE_LICENCE,
            commercial=False,
            crop_px=640,
            mean=(127.5 / 255, 127.5 / 255, 127.5 / 255),
            std=(128 / 255, 128 / 255, 128 / 255),
            colour="rgb",  # insightface's SCRFD.forward: blobFromImage(..., swapRB=True); FaceFusion feeds BGR
            source=_BUFFALO,
        ),
        _face_enhancer(
            "gfpgan_1.4",
            "gfpgan",
            "GFPGANv1.4.onnx",
            (f"{_VISOMASTER}/v1.0.0/GFPGANv1.4.onnx", f"{_VISOMASTER}/v0.1.0/GFPGANv1.4.onnx"),
            (
                "6548e54cbcf248af385248f0c1193b359c37a0f98b836282b09cf48af4fd2b73",
                None,
                "sha256: VisoMaster models_data.py and crappy-face-swap's README agree",
            ),
        ),
        _face_enhancer(
            "codeformer",
            "codeformer",
            "codeformer_fp16.onnx",
            (f"{_VISOMASTER}/v1.0.0/codeformer_fp16.onnx", f"{_VISOMASTER}/v0.1.0/codeformer_fp16.onnx"),
            (
                "9c3ae2ce2de616815815628f966cdef5d9466722434a1be00c0785ec92e2a94f",
                188_577_164,
                "sha256: VisoMaster models_data.py; sha256 and size: a public CodeFormer-ONNX note ('fixed' export)",
            ),
        ),
        _face_enhancer(
            "gpen_bfr_512",
            "gpen",
            "GPEN-BFR-512.onnx",
            (
                f"{_HF}/netrunner-exe/Face-Upscalers-onnx/resolve/main/GPEN-BFR-512.onnx",
                f"{_VISOMASTER}/v1.0.0/GPEN-BFR-512.onnx",
            ),
            (  # published sizes disagree (284,250,449 vs 284,449,835): size not pinned
                "0960f836488735444d508b588e44fb5dfd19c68fde9163ad7878aa24d1d5115e",
                None,
                "sha256: VisoMaster models_data.py and several public model tables agree",
            ),
        ),
        _real_esrgan(2, "0b1770bcb31b3a9021d4251b538da4eb47c84f42706504d44a76d17e8c267606"),
        _real_esrgan(4, "0a06c68f463a14bf5563b78d77d61ba4394024e148383c4308d6d3783eac2dc5"),
    )
}


VARIANTS: tuple[Variant, ...] = tuple(v for v in get_args(Variant) if v != "original")
"""The lighter copies `faceweave models optimize` makes of any catalog model."""


def variant_spec(spec: ModelSpec, variant: Variant) -> ModelSpec:
    """The spec of a variant made from a catalog model: same contract (inputs and outputs stay float32), its own file
    name, no pinned sha256 (the one recorded when it was made and checked is verified instead).

    Example:
        >>> variant_spec(find_spec("gfpgan_1.4"), "fp16").file_name
        'GFPGANv1.4.fp16.onnx'
    """
    if variant == "original":
        return spec
    stem = spec.file_name.removesuffix(".onnx")
    name, file_name = f"{spec.name}{VARIANT_MARK}{variant}", f"{stem}.{variant}.onnx"
    return dataclasses.replace(spec, name=name, file_name=file_name, sha256=None, size=None, variant=variant)


def names(task: str | None = None) -> tuple[str, ...]:
    """Catalog names, optionally only those of one task, each followed by its variants (`inswapper_128@fp16`).

    Example:
        >>> names("swapper")[:3]
        ('inswapper_128', 'inswapper_128@fp16', 'inswapper_128@int8')
    """
    chosen = [name for name, spec in CATALOG.items() if task is None or spec.task == task]
    return tuple(full for name in chosen for full in (name, *(f"{name}{VARIANT_MARK}{v}" for v in VARIANTS)))


def find_spec(name: str, catalog: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The ModelSpec called `name` (a catalog name, or one with a variant: `inswapper_128@fp16`); unknown names
    raise UsageError listing close matches.

    Example:
        >>> find_spec("gfpgan_1.4").template
        'ffhq_512'
    """
    catalog = CATALOG if catalog is None else catalog
    base, mark, variant = name.partition(VARIANT_MARK)
    if base in catalog:
        if not mark:
            return catalog[base]
        if variant in VARIANTS:
            return variant_spec(catalog[base], variant)
        raise UsageError(
            f"unknown variant {variant!r} of {base!r}; made by `faceweave models optimize`: "
            f"{', '.join(base + VARIANT_MARK + v for v in VARIANTS)}"
        )
    close = difflib.get_close_matches(base, list(catalog), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(catalog)}"
    raise UsageError(f"unknown model {name!r}; {hint} (see `faceweave models list`)")
