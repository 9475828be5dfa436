"""Runs one stored job on a worker: a video swap or a batch of images into a zip; progress and cancel via the store."""

from __future__ import annotations

import logging
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from faceweave.app.cache import model_names
from faceweave.app.video import Progress, swap_video
from faceweave.errors import FaceweaveError, MediaError
from faceweave.media.image_io import read_image
from faceweave.media.video_io import VideoReader
from faceweave.provenance.label import label_for
from faceweave.service.choice import FaceChoice
from faceweave.service.engine import SwapEngine, SwapInput, digest_sources
from faceweave.service.jobs import Job, JobStore
from faceweave.service.quality import QUALITIES
from faceweave.settings import Settings
from faceweave.types import Image

log = logging.getLogger(__name__)

VIDEO_RESULT = "result.mp4"
IMAGES_RESULT = "result.zip"


class JobCancelledError(Exception):
    """The job was cancelled (DELETE) while it ran."""


@dataclass(frozen=True)
class JobRunner:
    """Runs jobs by id: `runner(job_id, engine)` is the task a worker executes.

    Example: ``pool.submit(functools.partial(runner, job_id), priority=PRIORITY_JOB)``
    """

    store: JobStore
    base: Settings
    max_image_pixels: int

    def __call__(self, job_id: str, engine: SwapEngine) -> str:
        """Run the job; returns its final state (a job cancelled or already finished is left alone)."""
        job = self.store.start(job_id)
        if job is None:
            if self._cancelled(job_id):
                self.store.remove_files(job_id)
            return "skipped"
        began = time.perf_counter()
        settings = self.base.replace(**job.overrides)
        try:
            result = self._video(job, settings, engine) if job.kind == "video" else self._images(job, settings, engine)
        except JobCancelledError:
            self.store.remove_files(job_id)
            return "cancelled"
        except FaceweaveError as exc:
            return self._end(job_id, "failed", error=self._public(job_id, str(exc)))
        except Exception as exc:  # a bug must fail the job, not the worker
            log.exception("job failed", extra={"job_id": job_id})
            return self._end(job_id, "failed", error=f"internal error ({type(exc).__name__})")
        seconds = round(time.perf_counter() - began, 3)
        log.info(
            "job done", extra={"job_id": job_id, "kind": job.kind, "seconds": seconds, "models": model_names(settings)}
        )
        return self._end(job_id, "done", result=result)

    def _public(self, job_id: str, message: str) -> str:
        """An error message fit for the client: the server's paths (the job's folder, the data directory) left out,
        only the file names the client knows remain."""
        folder = self.store.folder(job_id)
        for prefix in (folder / "inputs", folder, self.store.root):
            message = message.replace(f"{prefix}{os.sep}", "").replace(str(prefix), "<data>")
        return message

    def _cancelled(self, job_id: str) -> bool:
        job = self.store.get(job_id)
        return job is not None and job.state == "cancelled"

    def _end(self, job_id: str, state: str, *, error: str | None = None, result: str | None = None) -> str:
        if not self.store.finish(job_id, "done" if state == "done" else "failed", error=error, result=result):
            self.store.remove_files(job_id)  # cancelled while finishing: nothing to keep
            return "cancelled"
        inputs = self.store.folder(job_id) / "inputs"
        for path in inputs.glob("*"):
            path.unlink(missing_ok=True)
        return state

    def _report(self, job_id: str, fraction: float) -> None:
        if not self.store.progress(job_id, fraction):
            raise JobCancelledError(job_id)

    def _video(self, job: Job, settings: Settings, engine: SwapEngine) -> str:
        """The worker's warm video engine (built on its first video job) with these sources (analysed once per
        content), over one fresh Stream."""
        folder = self.store.folder(job.id)
        sources = [folder / "inputs" / name for name in job.inputs["source"]]
        target = folder / "inputs" / job.inputs["target"][0]
        digest = digest_sources([path.read_bytes() for path in sources])
        start, end = job.request.get("start"), job.request.get("end")
        choice, picture = self._choice(job), None
        if choice is not None:
            picture = self._faces_from(job)
            picture = _first_frame(target, start, end) if picture is None else picture
        video, bindings = engine.bound(settings, "video", digest, sources, choice, picture)
        last = [0.0]

        def progress(state: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25 and state.total:
                last[0] = now
                self._report(job.id, 0.99 * state.frames / state.total)

        label = label_for(settings, consent=job.consent, job_id=job.id)
        output = folder / VIDEO_RESULT
        options = QUALITIES[job.request.get("quality", "standard")].encode_options()
        swap_video(
            video, bindings, target, output, start=start, end=end, options=options, progress=progress, label=label
        )
        return VIDEO_RESULT

    def _choice(self, job: Job) -> FaceChoice | None:
        data = job.request.get("choice")
        return None if data is None else FaceChoice.from_json(data)

    def _faces_from(self, job: Job) -> Image | None:
        """The picture the job's face numbers refer to, when the client sent one (`faces_from`)."""
        names = job.inputs.get("faces_from")
        if not names:
            return None
        return read_image(self.store.folder(job.id) / "inputs" / names[0], self.max_image_pixels).image

    def _images(self, job: Job, settings: Settings, engine: SwapEngine) -> str:
        inputs = self.store.folder(job.id) / "inputs"
        blobs = [(inputs / name).read_bytes() for name in job.inputs["source"]]
        sources = tuple(read_image(inputs / name, self.max_image_pixels) for name in job.inputs["source"])
        targets = job.inputs["target"]
        output = self.store.folder(job.id) / IMAGES_RESULT
        choice = self._choice(job)
        faces_from = None
        if choice is not None:  # the picture the face numbers refer to: the one sent for it, else the first target
            faces_from = read_image(inputs / job.inputs.get("faces_from", targets)[0], self.max_image_pixels)
        try:
            with zipfile.ZipFile(_part(output), "w", zipfile.ZIP_STORED) as archive:
                for index, name in enumerate(targets):
                    target = read_image(inputs / name, self.max_image_pixels)
                    extension = ".jpg" if Path(name).suffix == ".jpg" else ".png"
                    request = SwapInput(
                        sources,
                        digest_sources(blobs),
                        target,
                        settings,
                        extension,
                        job.consent,
                        job.id,
                        choice,
                        faces_from,
                    )
                    archive.writestr(f"{index:04d}{extension}", engine.swap(request).data)
                    self._report(job.id, 0.99 * (index + 1) / len(targets))
            _part(output).replace(output)
        except BaseException:  # failed or cancelled half-way: no half-written archive stays behind
            _part(output).unlink(missing_ok=True)
            raise
        return IMAGES_RESULT


def _first_frame(path: Path, start: float | None, end: float | None) -> Image:
    """The first frame of a video from `start` (the picture a job's face numbers refer to when none was sent)."""
    with VideoReader(path, start, end) as reader:
        for frame in reader:
            return frame.image
    raise MediaError("target", "no frames in the chosen time range", "check `start` and `end` against its length")


def _part(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")
