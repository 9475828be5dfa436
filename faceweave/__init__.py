"""faceweave: put a source person's face onto the faces in target images, offline on a CPU.

Public API:
    swap_image(source, target, **options) -> BGR image
    Engine.load(settings) -> engine.process(frame, engine.bind(sources))  (Stream for video: engine.stream())
    Settings, load_settings, Faces, SourceIdentity, FaceAnalyser, and the FaceweaveError family.
"""

from faceweave.errors import FaceweaveError, MediaError, ModelError, NoFaceError, UsageError
from faceweave.faces import Face, Faces
from faceweave.settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "Engine",
    "Face",
    "FaceAnalyser",
    "Faces",
    "FaceweaveError",
    "MediaError",
    "ModelError",
    "NoFaceError",
    "Settings",
    "SourceIdentity",
    "Stream",
    "UsageError",
    "__version__",
    "load_settings",
    "swap_image",
]


def __getattr__(name: str) -> object:
    """Heavy parts (models) load on first use, so `import faceweave` stays fast."""
    if name == "swap_image":
        from faceweave.api import swap_image

        return swap_image
    if name in ("Engine", "Stream"):
        from faceweave import engine

        return getattr(engine, name)
    if name == "SourceIdentity":
        from faceweave.swap.source import SourceIdentity

        return SourceIdentity
    if name == "FaceAnalyser":
        from faceweave.analysis.analyser import FaceAnalyser

        return FaceAnalyser
    raise AttributeError(f"module 'faceweave' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API, lazy names included (so `help(faceweave)` and completion list them)."""
    return sorted(set(globals()) | set(__all__))
