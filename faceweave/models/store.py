"""The model store: verified files in one folder, resumable downloads (HTTP Range), sha256, atomic placement.

Nothing here touches the network unless `download` is called (or `ensure(..., download=True)`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from faceweave.errors import ModelError
from faceweave.models.spec import ModelSpec

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
VerifyStatus = Literal["ok", "missing", "mismatch", "unverified"]


@dataclasses.dataclass(frozen=True)
class DownloadProgress:
    """Bytes of one model received so far (`total` None when the server did not say)."""

    name: str
    done: int
    total: int | None


ProgressCallback = Callable[[DownloadProgress], None]


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What `verify` found for one model."""

    name: str
    path: Path
    status: VerifyStatus
    sha256: str | None


class _InterruptedError(Exception):
    """The server closed the connection before the whole file arrived."""


def default_model_dir() -> Path:
    """The user cache folder for models (~/.cache/faceweave/models)."""
    return Path.home() / ".cache" / "faceweave" / "models"


def sha256_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a file, read in chunks.

    Example:
        >>> sha256_file(Path("model.onnx"))  # doctest: +SKIP
        'e4a3f08c...'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def licence_text(spec: ModelSpec) -> str:
    """The model's licence (non-commercial ones say so first)."""
    return f"{'' if spec.commercial else 'NON-COMMERCIAL use only — '}{spec.licence}"


def licence_notice(spec: ModelSpec) -> str:
    """One line about the model's licence, naming it."""
    return f"{spec.name}: {licence_text(spec)}"


class ModelStore:
    """A folder of model files named by their specs.

    Example:
        >>> store = ModelStore(Path("~/.cache/faceweave/models").expanduser())
        >>> path = store.require(find_spec("inswapper_128"))  # doctest: +SKIP
    """

    def __init__(self, root: Path, timeout: float = 30.0, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes

    @classmethod
    def from_dir(cls, model_dir: str) -> ModelStore:
        """The store in `model_dir` (Settings.model_dir / FACEWEAVE_MODEL_DIR), or the default when empty."""
        return cls(Path(model_dir).expanduser() if model_dir else default_model_dir())

    def path(self, spec: ModelSpec) -> Path:
        """Where the model's file lives (present or not)."""
        return self.root / spec.file_name

    def _part(self, spec: ModelSpec) -> Path:
        return self.root / (spec.file_name + ".part")

    def _stamp(self, spec: ModelSpec) -> Path:
        return self.root / (spec.file_name + ".sha256")

    def is_present(self, spec: ModelSpec) -> bool:
        """True when the model's file exists in the store."""
        return self.path(spec).is_file()

    def require(self, spec: ModelSpec) -> Path:
        """The verified file of a model, never touching the network; ModelError when missing or corrupt.

        A file is hashed once after it changes (a `.sha256` stamp records size, mtime and digest).
        """
        path = self.path(spec)
        if not path.is_file():
            raise ModelError(
                f"model {spec.name!r} is not in {self.root}; run `faceweave models download {spec.name}` "
                f"(or `faceweave models import FILE --name {spec.name}`)"
            )
        digest = self._stamped_digest(spec) or sha256_file(path, self.chunk_bytes)
        if spec.sha256 is not None and digest != spec.sha256:
            raise ModelError(
                f"model file {path} does not match the pinned sha256 of {spec.name!r} (got {digest[:12]}…); "
                f"run `faceweave models remove {spec.name}` and download it again"
            )
        self._write_stamp(spec, digest)
        return path

    def ensure(
        self,
        spec: ModelSpec,
        download: bool = False,
        progress: ProgressCallback | None = None,
        allow_unverified: bool = False,
    ) -> Path:
        """The model's verified file; downloads it first only when `download` is True."""
        if download and not self.is_present(spec):
            return self.download(spec, progress, allow_unverified)
        return self.require(spec)

    def download(
        self, spec: ModelSpec, progress: ProgressCallback | None = None, allow_unverified: bool = False
    ) -> Path:
        """Fetch the model (resuming a `.part` file), verify its sha256 and move it into place."""
        self._check_verifiable(spec, allow_unverified)
        if not spec.commercial:
            log.warning("%s", licence_notice(spec))
        self.root.mkdir(parents=True, exist_ok=True)
        part, errors = self._part(spec), []
        for url in spec.urls:
            try:
                self._fetch(url, part, spec, progress)
                break
            except (OSError, http.client.HTTPException, _InterruptedError) as error:
                log.warning("download of %s from %s failed: %s", spec.name, url, error)
                errors.append(f"{url}: {error}")
        else:
            kept = part.stat().st_size if part.exists() else 0
            raise ModelError(
                f"could not download {spec.name!r} ({'; '.join(errors)}); {kept} bytes are kept in {part}: "
                "run the same command again to resume"
            )
        return self._place(part, spec, "download")

    def import_file(self, source: Path, spec: ModelSpec, allow_unverified: bool = False) -> Path:
        """Copy a local file into the store after checking it is the pinned file."""
        self._check_verifiable(spec, allow_unverified)
        if not Path(source).is_file():
            raise ModelError(f"cannot import {source}: no such file; give the path of a downloaded {spec.file_name}")
        self.root.mkdir(parents=True, exist_ok=True)
        part = self._part(spec)
        shutil.copyfile(source, part)
        return self._place(part, spec, f"file {source}")

    def verify(self, spec: ModelSpec) -> VerifyResult:
        """Hash the model's file (always, ignoring the stamp) and compare it with the pinned sha256."""
        path = self.path(spec)
        if not path.is_file():
            return VerifyResult(spec.name, path, "missing", None)
        digest = sha256_file(path, self.chunk_bytes)
        if spec.sha256 is None:
            return VerifyResult(spec.name, path, "unverified", digest)
        if digest != spec.sha256:
            self._stamp(spec).unlink(missing_ok=True)
            return VerifyResult(spec.name, path, "mismatch", digest)
        self._write_stamp(spec, digest)
        return VerifyResult(spec.name, path, "ok", digest)

    def remove(self, spec: ModelSpec) -> bool:
        """Delete the model's file, stamp and partial download; True when something was removed."""
        found = False
        for path in (self.path(spec), self._stamp(spec), self._part(spec)):
            if path.exists():
                path.unlink()
                found = True
        return found

    def _check_verifiable(self, spec: ModelSpec, allow_unverified: bool) -> None:
        if spec.variant != "original":
            raise ModelError(
                f"{spec.name!r} is made from {spec.original_name!r}, not downloaded: run "
                f"`faceweave models optimize {spec.original_name} --{spec.variant}`"
            )
        if spec.sha256 is None and not allow_unverified:
            raise ModelError(
                f"model {spec.name!r} has no pinned sha256, so its file cannot be verified; "
                "pass --allow-unverified to accept it unchecked"
            )

    def _place(self, part: Path, spec: ModelSpec, origin: str) -> Path:
        """Verify `part` and rename it onto the model's path (atomic within the folder)."""
        digest = sha256_file(part, self.chunk_bytes)
        if spec.sha256 is not None and digest != spec.sha256:
            part.unlink()
            raise ModelError(
                f"{origin} is not the pinned {spec.name!r} (sha256 {digest[:12]}…, expected {spec.sha256[:12]}…); "
                "it was discarded: try again, another mirror, or the right file"
            )
        if spec.sha256 is None:
            log.warning("%s: no pinned sha256; accepted unverified (sha256 %s)", spec.name, digest)
        path = self.path(spec)
        part.replace(path)
        self._write_stamp(spec, digest)
        return path

    def _fetch(self, url: str, part: Path, spec: ModelSpec, progress: ProgressCallback | None) -> None:
        """Append the missing bytes of `url` to `part` (HTTP Range); raises _InterruptedError when cut short."""
        offset = part.stat().st_size if part.exists() else 0
        if spec.size is not None and offset >= spec.size:
            if offset == spec.size:
                return
            offset = 0
        headers = {"User-Agent": "faceweave", **({"Range": f"bytes={offset}-"} if offset else {})}
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset > 0:  # the partial file is already complete
                return
            raise
        with response:
            if offset and response.status != 206:
                offset = 0  # the server ignored the Range header: start over
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else spec.size
            self._copy(response, part, offset, total, spec.name, progress)

    def _copy(
        self,
        response: http.client.HTTPResponse,
        part: Path,
        offset: int,
        total: int | None,
        name: str,
        progress: ProgressCallback | None,
    ) -> None:
        done = offset
        with part.open("ab" if offset else "wb") as out:
            while True:
                try:
                    chunk = response.read(self.chunk_bytes)
                except http.client.IncompleteRead as error:
                    out.write(error.partial)
                    done += len(error.partial)
                    break
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(DownloadProgress(name, done, total))
        if total is not None and done < total:
            raise _InterruptedError(f"connection closed after {done} of {total} bytes")

    def _stamped_digest(self, spec: ModelSpec) -> str | None:
        """The digest recorded for the file as it is now, or None when the stamp is missing or stale."""
        with contextlib.suppress(OSError, ValueError):
            digest, size, mtime = self._stamp(spec).read_text(encoding="utf-8").split()
            stat = self.path(spec).stat()
            if int(size) == stat.st_size and int(mtime) == stat.st_mtime_ns:
                return digest
        return None

    def _write_stamp(self, spec: ModelSpec, digest: str) -> None:
        stat = self.path(spec).stat()
        with contextlib.suppress(OSError):
            self._stamp(spec).write_text(f"{digest} {stat.st_size} {stat.st_mtime_ns}\n", encoding="utf-8")
