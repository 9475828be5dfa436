"""The FaceweaveError family: raised in the library, mapped to exit codes / HTTP statuses at the edges."""

from __future__ import annotations


class FaceweaveError(Exception):
    """Base of every error faceweave raises on purpose.

    Messages say what was expected, what was found and what to do next, on one line.
    """


class UsageError(FaceweaveError, ValueError):
    """A setting or argument is invalid (bad option value, unsupported output extension)."""


class MediaError(FaceweaveError):
    """A file cannot be read or written as media (missing, unreadable, corrupt, too large)."""

    def __init__(self, path: object, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        message = f"{problem}: '{self.path}'"
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str, str]]:
        """Pickle with the constructor's arguments (worker processes and Ray send errors back)."""
        return type(self), (self.path, self.problem, self.hint)


class LimitError(MediaError):
    """Media over a configured limit (its size, length, frame count): a 413 for the service, exit 4 for the CLI."""


class NoFaceError(FaceweaveError):
    """No usable face was found where one is required (source, target or reference)."""

    def __init__(self, role: str, name: str, hint: str = "", matching: bool = False) -> None:
        self.role = role
        self.name = name
        self.hint = hint
        self.matching = matching
        message = f"no face {'matching the reference ' if matching else ''}found in {role} '{name}'"
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[NoFaceError], tuple[str, str, str, bool]]:
        """Pickle with the constructor's arguments (worker processes and Ray send errors back)."""
        return type(self), (self.role, self.name, self.hint, self.matching)


class ModelError(FaceweaveError):
    """A model file is missing, corrupt or does not match its contract."""


class DeviceError(FaceweaveError):
    """A capture or output device is missing or unusable (camera index, virtual camera, display)."""
