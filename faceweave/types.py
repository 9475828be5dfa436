"""Array aliases used across the package, documented once.

`Image`: H×W×3 uint8, BGR colour order (a still is an `image`, a video or live picture a `frame`).
`Mask`: H×W uint8, 0–255. `FloatArray`: float32 of any shape (points in pixels: x right, y down).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
