"""The engine every front door reuses: `Engine` (models, immutable), `Stream` (one run's memory), the chain."""

from faceweave.engine.chain import Binding, Context, FaceTarget, Processor, chain_names
from faceweave.engine.core import (
    Bindings,
    BoundEngine,
    Engine,
    FrameResult,
    ImageInput,
    Prepared,
    Stages,
    load_input,
    load_photos,
    split_stages,
)
from faceweave.engine.profile import Mode, Profile
from faceweave.engine.stream import Stream

__all__ = [
    "Binding",
    "Bindings",
    "BoundEngine",
    "Context",
    "Engine",
    "FaceTarget",
    "FrameResult",
    "ImageInput",
    "Mode",
    "Prepared",
    "Processor",
    "Profile",
    "Stages",
    "Stream",
    "chain_names",
    "load_input",
    "load_photos",
    "split_stages",
]
