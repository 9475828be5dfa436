"""The /v1 endpoints: synchronous image swap, and video / image-batch jobs stored until fetched or expired."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool

from faceweave import __version__
from faceweave.errors import UsageError
from faceweave.media.image_io import LoadedImage
from faceweave.media.video_io import probe_video
from faceweave.service.choice import FaceChoice
from faceweave.service.config import OPTION_FIELDS
from faceweave.service.engine import AnalyseOutput, SwapInput, SwapOutput, digest_sources, model_names
from faceweave.service.errors import ServiceError, busy
from faceweave.service.jobs import REQUEST_KEY, Job, JobKind, new_job_id
from faceweave.service.model_choice import client_overrides, client_settings, model_headers
from faceweave.service.pool import PRIORITY_JOB, QueueFullError
from faceweave.service.quality import QUALITIES, QualityName
from faceweave.service.runner import IMAGES_RESULT
from faceweave.service.sqlite import PRIVATE_DIR, write_private
from faceweave.service.state import Service
from faceweave.service.uploads import IMAGE_MAGIC, decode_upload, read_upload, spool_video, store_video
from faceweave.settings import FIELDS, Declared, Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")
MAX_SOURCES = 8
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text}
    for code, text in {
        400: "bad option or missing consent",
        401: "missing API key",
        403: "wrong or revoked API key",
        413: "upload too large (bytes or pixels)",
        415: "not an image / video by content",
        422: "no face, corrupt media or invalid field",
        429: "rate limit (Retry-After)",
        503: "queue full (Retry-After)",
    }.items()
}


class _OptionsForm(BaseModel):
    """Options a client may set per request (a safe subset of Settings) plus output format and consent."""

    model_config = ConfigDict(frozen=True)

    format: Literal["auto", "jpg", "png", "webp"] = "auto"
    quality: QualityName | None = Field(
        None,
        description="an output quality preset (/v1/info lists each with its values): `high` or `small` sets"
        " `jpeg_quality` (unless sent too) and a video job's x264 CRF and preset; `standard` keeps the server's",
    )
    consent: str | None = Field(None, max_length=2000, description="consent statement recorded in the label")
    faces: str | None = Field(
        None,
        max_length=200,
        description="the faces to swap, as /v1/analyse numbers them (e.g. `0,2`); they are followed by identity"
        " through a video or batch. Without it the `selector` decides",
    )
    face_sources: str | None = Field(
        None,
        max_length=200,
        description="with several source people: the `source` photo (0-based) that goes onto each face in `faces`"
        " (e.g. `1,0`); without it all source photos show one person",
    )
    start: float | None = Field(None, ge=0, description="video jobs: start of the part to swap and keep, in seconds")
    end: float | None = Field(None, gt=0, description="video jobs: end of that part, in seconds")

    def overrides(self) -> dict[str, Any]:
        """The Settings fields this request changes: its fields, over those of its `quality` preset."""
        chosen = {name: getattr(self, name) for name in OPTION_FIELDS if getattr(self, name) is not None}
        return ({} if self.quality is None else QUALITIES[self.quality].overrides()) | chosen


def client_field(field: Declared) -> tuple[Any, Any]:
    """The form field of a client-settable setting: optional (None keeps the operator's value), choices or range; a
    model name is checked against the installed models when the request comes (`model_choice.client_overrides`)."""
    if field.spec.catalog is not None:
        return str | None, Field(None, max_length=64, description=f"{field.spec.help}; installed: see /v1/info")
    choices = field.spec.client_choices or field.literal
    annotation: Any = cast(Any, Literal)[choices] if choices else field.kind
    if field.spec.bounds is None:
        return annotation | None, Field(None)
    low, high = field.spec.bounds
    return annotation | None, Field(None, ge=low, le=high)


if TYPE_CHECKING:
    SwapOptions = _OptionsForm
else:  # the settings fields are generated from their declaration (client=True in faceweave.settings)
    SwapOptions = create_model(
        "SwapOptions",
        __base__=_OptionsForm,
        __doc__=_OptionsForm.__doc__,
        __module__=__name__,
        **{name: client_field(FIELDS[name]) for name in OPTION_FIELDS},
    )


Sources = Annotated[list[UploadFile], File(description="photos of the source person (1 to 8)")]
Options = Annotated[SwapOptions, Form()]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _settings(service: Service, options: SwapOptions) -> Settings:
    return client_settings(service.base, client_overrides(service.models, service.base, options.overrides()))


def _consent(service: Service, options: SwapOptions) -> str | None:
    return check_consent(options.consent, service.config.require_consent)


def check_consent(given: str | None, required: bool) -> str | None:
    """The consent statement to record (None when blank); 400 when it is missing but `required`, or not one line of
    printable text."""
    consent = (given or "").strip() or None
    if consent is None and required:
        raise ServiceError(400, "this service requires a `consent` field: a statement that the people shown agreed")
    if consent is not None and not consent.isprintable():
        raise ServiceError(400, "consent must be printable text on one line")
    return consent


def _choice(options: SwapOptions, sources: int) -> FaceChoice | None:
    try:
        return FaceChoice.parse(options.faces, options.face_sources, sources)
    except UsageError as exc:
        raise ServiceError(400, str(exc)) from exc


def _retry(service: Service, reason: str) -> ServiceError:
    service.metrics.rejected.labels("queue").inc()
    return busy(reason, service.config.retry_after_s)


async def _images(service: Service, uploads: Sequence[UploadFile], role: str) -> tuple[list[bytes], list[LoadedImage]]:
    limit, pixels = service.config.max_upload_bytes, service.config.max_image_pixels
    blobs = [await read_upload(upload, limit, role) for upload in uploads]
    images = [await run_in_threadpool(decode_upload, blob, role, pixels) for blob in blobs]
    return blobs, images


def _extension(options: SwapOptions, target: bytes) -> str:
    if options.format != "auto":
        return "." + options.format
    return ".jpg" if target.startswith(b"\xff\xd8\xff") else ".png"


@router.post(
    "/swap",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}, **_ERRORS},
    summary="Swap the source person's face onto the target image; answers the labelled, watermarked image",
)
async def swap(request: Request, source: Sources, target: Annotated[UploadFile, File()], options: Options) -> Response:
    service = _service(request)
    if not 1 <= len(source) <= MAX_SOURCES:
        raise ServiceError(422, f"send 1 to {MAX_SOURCES} `source` photos, got {len(source)}")
    consent, settings = _consent(service, options), _settings(service, options)
    choice = _choice(options, len(source))
    if options.start is not None or options.end is not None:
        raise ServiceError(400, "`start` and `end` trim a video: send the video to /v1/jobs")
    blobs, sources = await _images(service, source, "source")
    target_blobs, targets = await _images(service, [target], "target")
    extension = _extension(options, target_blobs[0])
    job = SwapInput(tuple(sources), digest_sources(blobs), targets[0], settings, extension, consent, choice=choice)
    try:
        future = service.pool.submit(lambda engine: engine.swap(job))
    except QueueFullError as exc:
        raise _retry(service, str(exc)) from exc
    output: SwapOutput = await asyncio.wrap_future(future)
    _record(request, service, output, settings)
    headers = {"X-Faces": str(output.faces), "X-Faces-Swapped": str(output.swapped), **model_headers(settings)}
    return Response(output.data, media_type=output.media_type, headers=headers)


@router.post(
    "/analyse",
    responses=_ERRORS,
    summary="The faces of an image, numbered as `faces` takes them: box, score, size, pose and a JPEG thumbnail",
)
async def analyse(request: Request, target: Annotated[UploadFile, File()], options: Options) -> JSONResponse:
    service = _service(request)
    settings = _settings(service, options)
    _, targets = await _images(service, [target], "target")
    try:
        future = service.pool.submit(lambda engine: engine.analyse(targets[0], settings))
    except QueueFullError as exc:
        raise _retry(service, str(exc)) from exc
    output: AnalyseOutput = await asyncio.wrap_future(future)
    service.metrics.swap_stage.labels("analyse").observe(output.analyse_ms / 1000)
    request.state.log_extra = {"faces": len(output.faces), "stages_ms": {"analyse": round(output.analyse_ms, 1)}}
    body = {"width": output.width, "height": output.height, "order": settings.face_order, "faces": output.faces}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/info", summary="What the web UI needs before its first request (no key needed)")
async def info(request: Request) -> JSONResponse:
    service = _service(request)
    config, base = service.config, service.base
    return JSONResponse(
        {
            "version": __version__,
            "auth": service.auth.keys is not None,
            "consent_required": config.require_consent,
            "max_sources": MAX_SOURCES,
            "max_upload_bytes": config.max_upload_bytes,
            "max_video_bytes": config.max_video_bytes,
            "max_batch_images": config.max_batch_images,
            "max_live_sessions": config.max_live_sessions,
            "defaults": {name: getattr(base, name) for name in OPTION_FIELDS},
            "models": service.models.to_json(),
            "quality": [{"name": name} | preset.describe(base) for name, preset in QUALITIES.items()],
        }
    )


def _record(request: Request, service: Service, output: SwapOutput, settings: Settings) -> None:
    stages = {"sources": output.sources_ms, "analyse": output.analyse_ms, "swap": output.swap_ms}
    for stage, ms in {**stages, "encode": output.encode_ms}.items():
        service.metrics.swap_stage.labels(stage).observe(ms / 1000)
    request.state.log_extra = {
        "stages_ms": {stage: round(ms, 1) for stage, ms in stages.items()} | {"encode": round(output.encode_ms, 1)},
        "faces": output.faces,
        "swapped": output.swapped,
        "models": model_names(settings),
    }


@router.post("/jobs", status_code=202, responses=_ERRORS, summary="Queue a video swap or a batch of images")
async def create_job(
    request: Request,
    source: Sources,
    target: Annotated[list[UploadFile], File(description="one video, or 1..N images (answer: a zip)")],
    options: Options,
    faces_from: Annotated[
        UploadFile | None, File(description="the picture `faces` numbers the faces of (default: the first target)")
    ] = None,
) -> JSONResponse:
    service = _service(request)
    if not 1 <= len(source) <= MAX_SOURCES or not target:
        raise ServiceError(422, f"send 1 to {MAX_SOURCES} `source` photos and at least one `target`")
    consent, overrides = _consent(service, options), client_overrides(service.models, service.base, options.overrides())
    settings = client_settings(service.base, overrides)
    choice = _choice(options, len(source))
    if options.start is not None and options.end is not None and options.end <= options.start:
        raise ServiceError(400, f"`end` ({options.end}) must be after `start` ({options.start})")
    if service.pool.full:  # filled while the body arrived
        raise _retry(service, f"{service.pool.depth} tasks waiting")
    job_id = new_job_id()
    try:
        kind, inputs = await _store_inputs(service, job_id, source, target)
        if faces_from is not None and choice is not None:
            inputs["faces_from"] = [await _store_picture(service, job_id, faces_from)]
        await run_in_threadpool(_check_trim, service, job_id, kind, inputs, options)
    except BaseException:
        service.store.remove_files(job_id)
        raise
    extras = {
        "start": options.start,
        "end": options.end,
        "choice": None if choice is None else choice.to_json(),
        "quality": options.quality,
    }
    stored = overrides | {REQUEST_KEY: {name: value for name, value in extras.items() if value is not None}}
    key_id = request.state.key_id if hasattr(request.state, "key_id") else None
    job = service.store.create(kind, options=stored, inputs=inputs, job_id=job_id, key_id=key_id, consent=consent)
    try:
        service.pool.submit(functools.partial(service.runner, job.id), priority=PRIORITY_JOB)
    except QueueFullError as exc:
        service.store.delete(job.id)
        raise _retry(service, str(exc)) from exc
    del settings  # validated above; the worker rebuilds it from the stored overrides
    return JSONResponse(job.to_public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def _store_picture(service: Service, job_id: str, upload: UploadFile) -> str:
    """Keep the `faces_from` picture of a job (checked like a target image)."""
    blobs, _ = await _images(service, [upload], "faces_from")
    name = "faces_from.img"
    write_private(service.store.folder(job_id) / "inputs" / name, blobs[0])
    return name


def _check_trim(
    service: Service, job_id: str, kind: JobKind, inputs: dict[str, list[str]], options: SwapOptions
) -> None:
    """400 when `start`/`end` come with images, or `start` is past the end of the video."""
    if options.start is None and options.end is None:
        return
    if kind != "video":
        raise ServiceError(400, "`start` and `end` trim a video; this job's targets are images")
    info = probe_video(service.store.folder(job_id) / "inputs" / inputs["target"][0])
    if options.start is not None and info.duration is not None and options.start >= info.duration:
        raise ServiceError(400, f"`start` ({options.start} s) is past the end of the video ({info.duration:.2f} s)")


async def _store_inputs(
    service: Service, job_id: str, sources: Sequence[UploadFile], targets: Sequence[UploadFile]
) -> tuple[JobKind, dict[str, list[str]]]:
    folder = service.store.folder(job_id) / "inputs"
    folder.mkdir(exist_ok=True, mode=PRIVATE_DIR)
    blobs, _ = await _images(service, sources, "source")
    names = {"source": [f"source_{i}.img" for i in range(len(blobs))]}
    for name, blob in zip(names["source"], blobs, strict=True):
        write_private(folder / name, blob)
    head = await targets[0].read(16)
    if not head.startswith(IMAGE_MAGIC):  # a video: streamed to disk, never held in memory
        if len(targets) > 1:
            raise ServiceError(422, "a video job takes exactly one `target` video")
        spooled = await spool_video(targets[0], head, folder, service.config.max_video_bytes)
        name = await run_in_threadpool(store_video, spooled, folder, service.config.video_limits)
        return "video", {**names, "target": [name]}
    if len(targets) > service.config.max_batch_images:
        raise ServiceError(413, f"at most {service.config.max_batch_images} images per job, got {len(targets)}")
    limit = service.config.max_upload_bytes  # an image: never more than the image limit read into memory
    first = await read_upload(targets[0], limit, "target", head)
    rest, _ = await _images(service, targets[1:], "target")
    await run_in_threadpool(decode_upload, first, "target", service.config.max_image_pixels)
    names["target"] = []
    for index, blob in enumerate([first, *rest]):
        name = f"target_{index:04d}" + (".jpg" if blob.startswith(b"\xff\xd8\xff") else ".img")
        write_private(folder / name, blob)
        names["target"].append(name)
    return "images", names


@router.get("/jobs/{job_id}", responses=_ERRORS, summary="A job's state, progress and error")
async def get_job(request: Request, job_id: str) -> JSONResponse:
    service = _service(request)
    job = _owned_job(request, service, job_id)
    return JSONResponse(job.to_public())


@router.get("/jobs/{job_id}/result", responses=_ERRORS, summary="The finished job's output (video or zip)")
async def job_result(request: Request, job_id: str) -> FileResponse:
    service = _service(request)
    job = _owned_job(request, service, job_id)
    if job.state != "done" or job.result is None:
        raise ServiceError(409, f"job is {job.state}, not done; poll GET /v1/jobs/{{id}}")
    path = service.store.folder(job.id) / job.result
    media_type = "application/zip" if job.result == IMAGES_RESULT else "video/mp4"
    return FileResponse(path, media_type=media_type, filename=f"faceweave-{job.kind}{path.suffix}")


@router.delete("/jobs/{job_id}", responses=_ERRORS, summary="Cancel a job and delete its files")
async def delete_job(request: Request, job_id: str) -> JSONResponse:
    service = _service(request)
    job = _owned_job(request, service, job_id)
    if service.store.finish(job.id, "cancelled", error="cancelled by the client"):
        if job.state == "queued":
            service.store.remove_files(job.id)
        return JSONResponse({"id": job.id, "state": "cancelled"})
    service.store.delete(job.id)
    return JSONResponse({"id": job.id, "state": "deleted"})


def _owned_job(request: Request, service: Service, job_id: str) -> Job:
    """The job, if it exists and the caller may see it; 404 otherwise (never saying which)."""
    job = service.store.get(job_id)
    if job is None or not _owns(request, job.key_id):
        raise ServiceError(404, "no such job (it may have expired)")
    return job


def _owns(request: Request, owner: str | None) -> bool:
    """Jobs are visible to the key that made them only (any caller in --no-auth mode)."""
    caller = request.state.key_id if hasattr(request.state, "key_id") else None
    return owner is None or caller == owner
