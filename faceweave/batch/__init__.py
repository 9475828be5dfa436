"""The batch engine: swap faces in a folder tree (or glob) of images and videos, resumably, on local processes or Ray.

Example:
    >>> from faceweave.batch import BatchOptions, run_batch
    >>> options = BatchOptions(output=Path("out"), sources=(Path("me.jpg"),), input=Path("photos"))  # doctest: +SKIP
    >>> run_batch(options, Settings(require_face=True)).ok  # doctest: +SKIP
    True
"""

from faceweave.batch.options import BatchOptions
from faceweave.batch.runner import run_batch
from faceweave.batch.summary import BatchProgress, BatchSummary, FailedFile, summary_table

__all__ = ["BatchOptions", "BatchProgress", "BatchSummary", "FailedFile", "run_batch", "summary_table"]
