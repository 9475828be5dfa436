"""Image swap jobs: pre-flight checks (output path, signing, the target decodes) before any model loads, the swap,
the no-face policy, and the labelled write."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.app.output import check_not_an_input, write_labelled_image
from faceweave.engine import Bindings, Engine, FrameResult, ImageInput, load_input, load_photos
from faceweave.errors import NoFaceError
from faceweave.faces import Faces
from faceweave.media.image_io import check_output_path
from faceweave.provenance.c2pa import check_signing
from faceweave.settings import Settings
from faceweave.types import Image


def run_on_target(engine: Engine, bindings: Bindings, target: ImageInput) -> FrameResult:
    """Process one target image; no face gives the unchanged image, or NoFaceError with require_face."""
    settings = engine.settings
    loaded = load_input(target, settings, name="<target>")
    result = engine.process(loaded.image, bindings)
    if not result.swapped and settings.require_face:
        if len(result.faces) == 0:
            hint = "check it shows a face or lower --detector-score; to keep it unchanged instead, swap without"
            hint += " --require-face or batch with --allow-no-face"
            raise NoFaceError("target", loaded.name, hint)
        hint = f"{len(result.faces)} found, none within --reference-threshold {settings.reference_threshold}"
        raise NoFaceError("target", loaded.name, hint, matching=True)
    return result


def swap_image_file(
    sources: Sequence[ImageInput],
    target: ImageInput,
    output: str | os.PathLike[str],
    settings: Settings,
    references: Sequence[ImageInput] = (),
) -> FrameResult:
    """Swap from files to a file, written atomically (the target's alpha channel is kept).

    Never writes over an input (UsageError). The output is labelled as AI-generated in its metadata, watermarked when
    a face was swapped (unless settings.watermark is off) and, when settings.c2pa_cert/c2pa_key are set, signed with
    a C2PA manifest.
    """
    extension = check_output_path(output)
    check_not_an_input(output, [target, *sources, *references])
    if settings.c2pa_cert:
        check_signing(Path(settings.c2pa_cert), Path(settings.c2pa_key), extension)
    loaded = load_input(target, settings, name="<target>")  # bad files fail before any model loads
    photos, references = load_photos(sources, references, settings)
    engine = Engine.load(settings)
    result = run_on_target(engine, engine.bind(photos, references), loaded)
    write_labelled_image(output, result.image, settings, alpha=loaded.alpha, swapped=bool(result.swapped))
    return result


def analyse_file(
    path: str | os.PathLike[str], settings: Settings, debug: bool = False, embedding: bool = False
) -> tuple[Faces, Image | None]:
    """Faces of an image file, and optionally a debug drawing (boxes, mesh, five points, pose)."""
    loaded = load_input(Path(path), settings)
    analyser = FaceAnalyser(settings)
    faces = analyser.analyse(loaded.image)
    if embedding:
        faces = analyser.embed(loaded.image, faces)
    return faces, draw_faces(loaded.image, faces) if debug else None


def draw_faces(image: Image, faces: Faces) -> Image:
    """A copy of the image with each face's box, mesh points, five points and pose written on it."""
    canvas = image.copy()
    for face in faces:
        x1, y1, x2, y2 = (int(v) for v in face.box)
        thickness = max(1, int(face.size / 150))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), thickness)
        for x, y in face.mesh[:, :2].astype(int):
            cv2.circle(canvas, (int(x), int(y)), max(1, thickness // 2), (255, 200, 0), -1)
        for x, y in face.landmarks_5.astype(int):
            cv2.circle(canvas, (int(x), int(y)), 2 * thickness, (0, 0, 255), -1)
        yaw, pitch, roll = (float(v) for v in face.pose)
        label = f"{face.score:.2f} y{yaw:+.0f} p{pitch:+.0f} r{roll:+.0f}"
        cv2.putText(
            canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (0, 255, 0), thickness
        )
    return canvas
