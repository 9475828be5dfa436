"""The subcommands' functions (`cmd_*`: parsed arguments in, exit code out); heavy modules are imported inside them.

The lab's subcommands (bench, eval) are in `faceweave.cli.lab_commands`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from faceweave.cli.exits import EXIT_BATCH_FAILED, EXIT_OK
from faceweave.cli.parser import _parser, _settings
from faceweave.cli.progress import _display, _progress_bar
from faceweave.errors import UsageError
from faceweave.settings import Settings

if TYPE_CHECKING:
    from faceweave.models.store import DownloadProgress

log = logging.getLogger("faceweave")


def cmd_swap_video(args: argparse.Namespace, settings: Settings) -> int:
    from faceweave.app.video import swap_video_file
    from faceweave.media.video_io import VideoLimits
    from faceweave.media.video_writer import EncodeOptions

    options = EncodeOptions(encoder=args.encoder, crf=args.crf, preset=args.preset)
    with _progress_bar(args, desc="swap", unit=" frames") as bar:
        summary = swap_video_file(
            args.source, args.target, args.output, settings, args.reference,
            start=args.start, end=args.end, options=options, progress=None if bar is None else bar.frames,
            limits=VideoLimits(args.max_video_pixels, args.max_video_seconds, args.max_video_frames),
        )  # fmt: skip
    log.info("%d frames, %d swapped, %.1f fps", summary.frames, summary.frames_swapped, summary.fps)
    print(args.output)
    return EXIT_OK


def cmd_swap(args: argparse.Namespace) -> int:
    from faceweave.app.jobs import swap_image_file as swap_file
    from faceweave.app.output import check_no_clobber
    from faceweave.app.video import looks_like_video

    settings = _settings(args, require_face=args.require_face or None)
    check_no_clobber(args.output, args.overwrite)
    if looks_like_video(args.target):
        return cmd_swap_video(args, settings)
    video_flags = [
        f"--{name.replace('_', '-')}"
        for name in (
            "start",
            "end",
            "encoder",
            "crf",
            "preset",
            "max_video_seconds",
            "max_video_frames",
            "max_video_pixels",
        )
        if getattr(args, name) is not None
    ]
    if video_flags:
        raise UsageError(f"{', '.join(video_flags)} apply to video targets only, and '{args.target}' is not a video")
    result = swap_file(args.source, args.target, args.output, settings, references=args.reference)
    if not result.swapped:
        log.warning("no face swapped in target '%s' (%d found); wrote it unchanged", args.target, len(result.faces))
    print(args.output)
    return EXIT_OK


def cmd_analyse(args: argparse.Namespace) -> int:
    from faceweave.app.jobs import analyse_file
    from faceweave.media.image_io import check_output_path

    if args.debug_image is not None:
        check_output_path(args.debug_image)  # fail before loading models
    faces, debug = analyse_file(args.image, _settings(args), args.debug_image is not None, args.embedding)
    if args.debug_image is not None and debug is not None:
        from faceweave.media.image_io import write_image

        write_image(args.debug_image, debug)
    rows = faces.to_json()
    if args.embedding and faces.embedding is not None:
        for row, vector in zip(rows, faces.embedding, strict=True):
            row["embedding"] = [round(float(v), 5) for v in vector]
    print(json.dumps({"image": str(args.image), "faces": rows}, indent=2))
    return EXIT_OK


def cmd_live(args: argparse.Namespace) -> int:
    from faceweave.app.output import check_no_clobber, check_not_an_input
    from faceweave.live.session import LiveOptions, create_session

    if args.record is not None:
        check_not_an_input(args.record, [args.input, *args.source, *(args.reference or [])])
        check_no_clobber(args.record, args.overwrite)
    options = LiveOptions(
        camera=args.camera, input=args.input, realtime=args.realtime, record=args.record, serve=args.serve,
        window=args.window, virtual_camera=args.virtual_camera, hud=args.hud,
    )  # fmt: skip
    settings = _settings(args)
    session = create_session(settings, args.source, options, args.reference)
    summary = session.run()
    print(
        f"faceweave: {summary.frames} frames at {summary.fps:.1f} fps ({summary.dropped} dropped),"
        f" latency p50 {summary.p50_latency_ms:.1f} ms, p95 {summary.p95_latency_ms:.1f} ms",
        file=sys.stderr,
    )
    if args.record is not None:
        print(args.record)
    if args.json:
        print(json.dumps(summary.to_json()))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from faceweave.app.jobs import swap_image_file as swap_file
    from faceweave.samples import sample_path

    args.output.mkdir(parents=True, exist_ok=True)
    output = args.output / "demo_swap.png"
    swap_file([sample_path("hopper")], sample_path("astronaut"), output, Settings())
    print(f"swapped Grace Hopper's face onto the astronaut photo: {output}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from faceweave.models import commands as model_commands

    @contextlib.contextmanager
    def display() -> Iterator[Callable[[DownloadProgress], None] | None]:
        with _progress_bar(args, desc="  download", unit="B", unit_scale=True, unit_divisor=1024) as bar:
            if bar is not None:
                bar.start()  # before the first bytes arrive: its rate counts them too
            yield None if bar is None else bar.download

    return model_commands.run(args, print, display)


def cmd_serve(args: argparse.Namespace) -> int:
    from faceweave.service import commands as service_commands

    return service_commands.serve(args, _settings(args), print)


def cmd_keys(args: argparse.Namespace) -> int:
    from faceweave.service import commands as service_commands

    return service_commands.keys(args, print)


def cmd_batch(args: argparse.Namespace) -> int:
    from faceweave.batch import run_batch, summary_table
    from faceweave.batch.commands import options_from_args

    options = options_from_args(args)  # bad combinations fail before the settings or any worker
    settings = _settings(args, require_face=not args.allow_no_face)
    with _progress_bar(args, desc="batch", unit=" files") as bar:
        summary = run_batch(options, settings, progress=None if bar is None else bar.files)
    print(summary_table(summary), file=_display(args))
    print(summary.summary_path)
    return EXIT_OK if summary.ok else EXIT_BATCH_FAILED


def cmd_completion(args: argparse.Namespace) -> int:
    """Print a completion script generated from the parser (shtab: nothing runs at TAB time but the shell)."""
    import shtab

    parser = _parser()
    _complete_paths(parser)
    print(shtab.complete(parser, args.shell))
    return EXIT_OK


def _complete_paths(parser: argparse.ArgumentParser) -> None:
    """Mark every Path-typed argument, in every subcommand, to complete file names."""
    import shtab

    for action in parser._actions:
        if action.type is Path:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _complete_paths(subparser)


def cmd_inspect(args: argparse.Namespace) -> int:
    from faceweave.provenance.inspect import inspect_file

    for line in inspect_file(args.file, Settings().max_image_pixels):
        print(line)
    return EXIT_OK
