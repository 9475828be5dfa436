"""The command line's exit codes, and the one mapping from an error that reached it to its code."""

from __future__ import annotations

from faceweave.errors import DeviceError, MediaError, NoFaceError, UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NO_FACE, EXIT_MEDIA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_DEVICE = 5  # a camera / virtual camera / display that does not exist
EXIT_BATCH_FAILED = 6  # `faceweave batch` finished, but some files failed (listed in the summary)


def exit_code(error: BaseException) -> int:
    """The exit code for an error that reached the command line."""
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if isinstance(error, NoFaceError):
        return EXIT_NO_FACE
    if isinstance(error, MediaError):
        return EXIT_MEDIA
    if isinstance(error, DeviceError):
        return EXIT_DEVICE
    return EXIT_FAILURE
