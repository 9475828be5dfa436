"""Command line: `faceweave swap | analyse | bench | eval | demo | inspect`; the only place that knows exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from faceweave import __version__
from faceweave.errors import DeviceError, FaceweaveError, MediaError, NoFaceError, UsageError
from faceweave.runtime import limit_blas_threads, quiet_native_logs
from faceweave.settings import FIELDS, SECTIONS, Declared, Settings, load_settings, section_fields

if TYPE_CHECKING:
    from faceweave.app.video import Progress
    from faceweave.batch import BatchProgress
    from faceweave.models.store import DownloadProgress

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NO_FACE, EXIT_MEDIA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
VIDEO_LIMIT_FLAGS = ("max_video_seconds", "max_video_frames", "max_video_pixels")
EXIT_DEVICE = 5  # a camera / virtual camera / display that does not exist
EXIT_BATCH_FAILED = 6  # `faceweave batch` finished, but some files failed (listed in the summary)

log = logging.getLogger("faceweave")

EXAMPLES = {
    "swap": """examples:
  faceweave swap -s me.jpg -t photo.jpg -o out.png
  faceweave swap -s me.jpg -t clip.mp4 -o out.mp4 --start 12 --end 20     # seconds 12 to 20 only
  faceweave swap -s me.jpg -r guest.jpg -t group.jpg -o out.jpg           # only the faces like guest.jpg""",
    "analyse": """examples:
  faceweave analyse photo.jpg
  faceweave analyse group.jpg --debug-image faces.png --embedding""",
    "bench": """examples:
  faceweave bench --repeat 10
  faceweave bench --video clip.mp4 --flicker --json
  faceweave bench --live --input clip.mp4 --resize 720p""",
    "eval": """examples:
  faceweave eval --images portraits/ --output eval/
  faceweave eval --images portraits/ --output eval/ --cases pairs,yaw --videos clips/
  faceweave eval --images portraits/ --output blind/ --blind     # later: --score-blind blind/key.json ratings.jsonl""",
    "live": """examples:
  faceweave live -s me.jpg --camera 0 --window
  faceweave live -s me.jpg --input clip.mp4 --realtime --serve 8080 --record out.mp4
  faceweave live -s me.jpg --camera 0 --virtual-camera --no-hud""",
    "demo": """examples:
  faceweave demo
  faceweave demo --output /tmp/faceweave-demo""",
    "inspect": """examples:
  faceweave inspect out.png
  faceweave inspect swapped.mp4""",
    "completion": """examples:
  faceweave completion bash > ~/.local/share/bash-completion/completions/faceweave
  faceweave completion zsh > ~/.zfunc/_faceweave          # a folder on $fpath
  faceweave completion fish > ~/.config/fish/completions/faceweave.fish""",
}
"""Each subcommand's `--help` ends with two or three examples (batch, models, serve and keys keep theirs beside their
arguments)."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Subcommand help that fits a screen: the usage line names the required arguments and then [options] (the
    option list follows anyway), an option and its help share a line, and examples keep their layout."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34)

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any) -> str:
        if usage is not None:
            return super()._format_usage(usage, actions, groups, prefix)
        actions = list(actions)
        chosen = {id(action) for group in groups if group.required for action in group._group_actions}
        kept = [a for a in actions if a.required or not a.option_strings or id(a) in chosen]
        text = super()._format_usage(None, kept, groups, prefix).rstrip("\n")
        return f"{text} [options]\n\n" if len(kept) < len(actions) else f"{text}\n\n"


class _Parser(argparse.ArgumentParser):
    """The subcommands' parser: `_HelpFormatter` help, for nested subcommands too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "formatter_class": _HelpFormatter})


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """The settings flags, one group per section, generated from their declaration in `faceweave.settings`.

    argparse (stdlib) rather than a parsing library: the flags are data declared once, argparse needs no new
    dependency, matches unambiguous prefixes and suggests close choices; shtab turns it into `faceweave completion`.
    """
    group = parser.add_argument_group("settings (each flag is also a FACEWEAVE_* variable and a --config key)")
    group.add_argument("--config", type=Path, metavar="TOML", help="TOML file with settings ([faceweave] table)")
    for section in SECTIONS:
        flagged = [(field.flag, field) for field in section_fields(section) if field.flag is not None]
        if flagged:
            group = parser.add_argument_group(section.TITLE)
            for flag, field in flagged:
                _add_flag(group, flag, field)


def _add_flag(group: argparse._ArgumentGroup, flag: str, field: Declared) -> None:
    """One settings flag; its value stays None unless given, so the lower layers (env, --config) show through."""
    help_text = field.spec.help.replace("%", "%%")
    metavar = {int: "N", float: "X"}.get(field.kind, flag.rsplit("-", 1)[-1].upper())  # short: one line with help
    if field.kind is bool:  # --name turns on a default-off field, --no-name turns off a default-on one
        action = "store_false" if field.default else "store_true"
        help_text = f"turn off: {help_text}" if field.default else help_text
        group.add_argument(flag, dest=field.name, action=action, default=None, help=help_text)
        return
    if field.spec.choices:
        help_text += f" ({' / '.join(map(str, field.spec.choices))}; default {field.default})"
    elif field.default != "":
        help_text += f" (default {field.default})"
    if field.literal:
        group.add_argument(flag, dest=field.name, choices=field.literal, help=help_text)
    elif field.kind is str:
        group.add_argument(flag, dest=field.name, metavar=metavar, help=help_text)
    else:
        group.add_argument(flag, dest=field.name, type=field.kind, metavar=metavar, help=help_text)


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    flags = {name: getattr(args, name, None) for name, field in FIELDS.items() if field.flag is not None}
    return load_settings(getattr(args, "config", None), **flags, **extra)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceweave", description=__doc__)
    parser.add_argument("--version", action="version", version=f"faceweave {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and timings")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    swap = commands.add_parser("swap", help="swap the source face onto the faces of a target", epilog=EXAMPLES["swap"])
    swap.add_argument(
        "--source", "-s", action="append", required=True, type=Path, metavar="PHOTO", help="source photo (repeatable)"
    )
    swap.add_argument("--target", "-t", required=True, type=Path, metavar="FILE", help="target image or video")
    swap.add_argument(
        "--output", "-o", required=True, type=Path, metavar="FILE", help=".jpg .png .webp .bmp .tif; video .mp4 ..."
    )
    swap.add_argument(
        "--reference",
        "-r",
        action="append",
        default=[],
        type=Path,
        metavar="PHOTO",
        help="swap only faces like this person; with several, reference i gets source i",
    )
    swap.add_argument("--require-face", action="store_true", help="fail (exit 3) when the target has no face")
    swap.add_argument("--overwrite", "-y", action="store_true", help="replace an existing output (never an input)")
    _add_video_options(swap)
    _add_settings(swap)

    analyse = commands.add_parser(
        "analyse", aliases=["analyze"], help="print the faces of an image as JSON", epilog=EXAMPLES["analyse"]
    )
    analyse.add_argument("image", type=Path)
    analyse.add_argument("--debug-image", type=Path, help="write the image with boxes, mesh and pose drawn")
    analyse.add_argument("--embedding", action="store_true", help="include the 128-D identity descriptors")
    _add_settings(analyse)

    bench = commands.add_parser(
        "bench", help="per-stage timings at 720p and 1080p, warm and cold", epilog=EXAMPLES["bench"]
    )
    bench.add_argument("--source", type=Path, help="source photo (default: a bundled sample)")
    bench.add_argument("--target", type=Path, help="target photo (default: a bundled sample)")
    bench.add_argument("--repeat", type=int, default=30, help="warm runs per case (median reported)")
    bench.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    bench.add_argument("--video", type=Path, help="video mode: swap this file; fps, stages, speed vs decode+encode")
    bench.add_argument("--flicker", action="store_true", help="with --video: flicker per smoothing mode too")
    bench.add_argument(
        "--presets", action="store_true", help="with --video: x264 presets' size, speed, PSNR, SSIM on the swap"
    )
    bench.add_argument("--live", action="store_true", help="live mode: play --input at its native rate")
    bench.add_argument("--input", type=Path, help="with --live: the file played as a camera")
    bench.add_argument("--resize", choices=("720p", "1080p"), help="re-encode the clip to this size first (temp)")
    bench.add_argument("--retime", type=int, metavar="FPS", help="with --live: replay the clip's frames at this rate")
    _add_settings(bench)

    evaluate = commands.add_parser(
        "eval", help="quality over every cross-identity pair of single-face photos", epilog=EXAMPLES["eval"]
    )
    evaluate.add_argument("--images", type=Path, help="folder of photos named person_01.jpg ...")
    evaluate.add_argument(
        "--output", type=Path, help="folder for summary.json and the sheets (--score-blind: a file for the report)"
    )
    _add_eval_cases(evaluate)
    _add_eval_blind(evaluate)
    _add_settings(evaluate)

    live = commands.add_parser(
        "live", help="real-time swap from a camera, stream or file (Ctrl-C stops)", epilog=EXAMPLES["live"]
    )
    live.add_argument(
        "--source", "-s", action="append", required=True, type=Path, metavar="PHOTO", help="source photo (repeatable)"
    )
    live.add_argument(
        "--reference", "-r", action="append", default=[], type=Path, metavar="PHOTO", help="swap only this person"
    )
    where = live.add_mutually_exclusive_group(required=True)
    where.add_argument("--camera", type=int, metavar="INDEX", help="camera index (0 is the first)")
    where.add_argument("--input", help="video file or stream URL")
    live.add_argument("--realtime", action="store_true", help="play --input at its native rate, as a camera would")
    live.add_argument("--record", type=Path, metavar="FILE", help="also record the output (.mp4 .mkv .mov .webm)")
    live.add_argument("--overwrite", "-y", action="store_true", help="replace an existing --record file")
    live.add_argument("--serve", type=int, metavar="PORT", help="browser view on http://127.0.0.1:PORT/ (0: any)")
    live.add_argument("--window", action="store_true", help="show an OpenCV window (needs a display)")
    live.add_argument("--virtual-camera", action="store_true", help="send to a virtual camera (pyvirtualcam)")
    live.add_argument("--no-hud", dest="hud", action="store_false", help="hide the fps/latency overlay")
    live.add_argument("--json", action="store_true", help="end with one JSON line of the run's figures")
    _add_settings(live)

    demo = commands.add_parser(
        "demo", help="swap the bundled sample portraits (no files needed)", epilog=EXAMPLES["demo"]
    )
    demo.add_argument("--output", type=Path, default=Path("out"), help="output folder (default out/)")

    inspect = commands.add_parser(
        "inspect", help="show a file's provenance (image or video): labels, C2PA, watermark", epilog=EXAMPLES["inspect"]
    )
    inspect.add_argument("file", type=Path)

    from faceweave.batch import commands as batch_commands
    from faceweave.models import commands as model_commands

    batch_commands.add_parser(commands, _add_settings)
    model_commands.add_parser(commands)

    from faceweave.service import commands as service_commands

    _add_settings(service_commands.add_serve_parser(commands))
    service_commands.add_keys_parser(commands)
    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)", epilog=EXAMPLES["completion"]
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    return parser


def _add_eval_cases(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quality cases (figures per bucket in summary.json, sheets in OUTPUT/cases/)")
    group.add_argument(
        "--cases",
        default="pairs",
        help="comma-separated: pairs (default: every cross-identity pair), yaw, small, occluded",
    )
    group.add_argument("--videos", type=Path, help="yaw: turned faces from the clips in this folder; --blind: frames")
    group.add_argument("--case-sources", help="yaw/small/occluded: comma-separated source photo names in --images")
    group.add_argument("--per-bucket", type=int, default=8, help="yaw: at most this many targets per bucket (8)")


def _add_eval_blind(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "blind realism (A/B sheets in OUTPUT/sheets/ for a rater, the key in OUTPUT/key.json)"
    )
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--blind", action="store_true", help="write sheets of real photos beside their swaps, and a key")
    mode.add_argument(
        "--score-blind", nargs=2, type=Path, metavar=("KEY", "RATINGS"), help="score a rater's ratings.jsonl"
    )
    group.add_argument("--seed", type=int, default=0, help="--blind: seed of the pairs, sides and order (0)")
    group.add_argument("--blind-pairs", type=int, default=30, help="--blind: cross-identity pairs to show (30)")
    group.add_argument("--markdown", action="store_true", help="--score-blind: print the per-sheet table as Markdown")


def _add_video_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("video targets (detected by content; output .mp4 .mkv .mov .webm)")
    group.add_argument("--start", type=float, metavar="SECONDS", help="skip the video before this time")
    group.add_argument("--end", type=float, metavar="SECONDS", help="stop the video at this time")
    group.add_argument("--encoder", metavar="NAME", help="libx264 (default; libvpx-vp9 for .webm), libx265, ...")
    group.add_argument("--crf", type=int, metavar="N", help="constant quality, lower is better (x264 default 18)")
    group.add_argument("--preset", metavar="NAME", help="encoder speed (x264: ultrafast ... veryslow, default medium)")
    group.add_argument("--max-video-seconds", type=float, metavar="SECONDS", help="refuse (exit 4) a longer video")
    group.add_argument("--max-video-frames", type=int, metavar="N", help="refuse (exit 4) a video with more frames")
    group.add_argument("--max-video-pixels", type=int, metavar="N", help="refuse (exit 4) larger video frames")


class _Bar:
    """A tqdm bar on `stream`, made at the first report (so its rate leaves out loading the models)."""

    def __init__(self, stream: TextIO, columns: int | None, **options: Any) -> None:
        width = (columns or 81) - 1  # tqdm's own size probe fails on the filtered descriptor 2, and on 0×0 terminals
        self.options = {"file": stream, "ncols": width, "nrows": 20, "mininterval": 0.25, **options}
        self.bar: Any = None  # tqdm ships no type information

    def start(self, done: float = 0, total: float | None = None, postfix: str = "") -> None:
        """Draw the bar now, at `done` (later reports count from here)."""
        from tqdm import tqdm  # type: ignore[import-untyped]

        self.close()
        self.bar = tqdm(total=total, initial=done, postfix=postfix or None, **self.options)

    def show(self, done: float, total: float | None, postfix: str = "") -> None:
        """Move the bar to `done` of `total` (None: not known yet, so no ETA) with `postfix` after the rate."""
        if self.bar is None or done < self.bar.n:  # the first report, or a download starting over
            self.start(done, total, postfix)
        self.bar.total = total
        if postfix:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(done - self.bar.n)

    def frames(self, progress: Progress) -> None:
        self.show(progress.frames, progress.total)

    def files(self, progress: BatchProgress) -> None:
        """Files swapped (or failed) of those left to swap: skipped files count in neither, so rate and ETA hold."""
        left = None if progress.estimate is None else max(0, progress.estimate - progress.skipped)
        self.show(progress.done + progress.failed, left, f"{progress.skipped} skipped, {progress.failed} failed")

    def download(self, progress: DownloadProgress) -> None:
        self.show(progress.done, progress.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _progress_bar(args: argparse.Namespace, **options: Any) -> Iterator[_Bar | None]:
    """A progress bar when standard error is a terminal (or with -v), else None: nothing is written. Meanwhile log
    lines (-v: a batch's failures) print on their own lines above the bar."""
    if not (getattr(args, "terminal", False) or args.verbose):
        yield None
        return
    from tqdm.contrib.logging import logging_redirect_tqdm  # type: ignore[import-untyped]

    stream = _display(args)
    bar = _Bar(stream, getattr(args, "columns", None), **options)
    console = list(logging.getLogger().handlers)
    with logging_redirect_tqdm():
        for handler in logging.getLogger().handlers:
            if handler not in console and isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)  # tqdm's: it clears the bar, prints the line and redraws the bar there
        try:
            yield bar
        finally:
            bar.close()


def _display(args: argparse.Namespace) -> TextIO:
    """Where the bars and the lines around them go: standard error (its terminal reached directly, see main)."""
    stream: TextIO = getattr(args, "display", None) or sys.stderr
    return stream


def _open_terminal() -> TextIO:
    """Standard error's terminal opened a second time, for the bars and the lines printed around them: they reach it
    in order, past the native-log filter, whose thread would let a line on standard output overtake them."""
    sys.stderr.flush()
    duplicate = os.dup(sys.stderr.fileno())
    return os.fdopen(duplicate, "w", encoding=sys.stderr.encoding, errors="backslashreplace", buffering=1)


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


def cmd_bench(args: argparse.Namespace) -> int:
    from faceweave.lab.bench import run_bench

    if args.video is not None or args.live:
        return cmd_bench_video(args)
    figures = run_bench(_settings(args), args.source, args.target, args.repeat, report=print)
    if args.json:
        print(json.dumps(figures))
    return EXIT_OK


def cmd_bench_video(args: argparse.Namespace) -> int:
    from faceweave.lab import bench_video

    settings = _settings(args)
    if args.live:
        if args.input is None or args.video is not None:
            raise UsageError("bench --live needs --input FILE (and no --video)")
        figures = bench_video.bench_live(settings, args.source, args.input, args.resize, print, args.retime)
    else:
        figures = bench_video.bench_video(settings, args.source, args.video, args.resize, report=print)
        if args.presets:
            from faceweave.lab.bench_encode import bench_presets

            figures["presets"] = bench_presets(settings, args.source, args.video, report=print)["presets"]
        if args.flicker:
            figures["flicker"] = bench_video.bench_flicker(settings, args.source, args.video, report=print)
    if args.json:
        print(json.dumps(figures))
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


def cmd_eval(args: argparse.Namespace) -> int:
    from faceweave.lab.eval_cases import CaseOptions
    from faceweave.lab.evaluate import evaluate

    if args.score_blind is not None:
        return cmd_score_blind(args)
    if args.images is None or args.output is None:
        raise UsageError("eval needs --images DIR and --output DIR (or --score-blind KEY RATINGS)")
    if args.blind:
        return cmd_eval_blind(args)
    cases = tuple(name.strip() for name in args.cases.split(",") if name.strip())
    sources = tuple(name.strip() for name in (args.case_sources or "").split(",") if name.strip())
    options = CaseOptions(cases=cases, videos=args.videos, sources=sources, per_bucket=args.per_bucket)
    summary = evaluate(args.images, args.output, _settings(args), options, pairs="pairs" in cases)
    print(json.dumps(summary, indent=2))
    if "pairs" in cases:
        print(f"contact sheet: {args.output / 'contact_sheet.png'}")
    if set(cases) - {"pairs"}:
        print(f"case contact sheets: {args.output / 'cases'}")
    return EXIT_OK


def cmd_eval_blind(args: argparse.Namespace) -> int:
    from faceweave.lab.blind import BlindOptions, run_blind

    options = BlindOptions(args.images, args.videos, seed=args.seed, pairs=args.blind_pairs)
    summary = run_blind(options, args.output, _settings(args))
    print(json.dumps(summary, indent=2))
    print(f"sheets for the rater: {args.output / 'sheets'} (answers: {args.output / 'key.json'})")
    return EXIT_OK


def cmd_score_blind(args: argparse.Namespace) -> int:
    from faceweave.lab.blind_score import markdown_table, score_blind

    report = score_blind(*args.score_blind)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(report) if args.markdown else json.dumps(report, indent=2))
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "swap": cmd_swap,
    "analyse": cmd_analyse,
    "analyze": cmd_analyse,
    "bench": cmd_bench,
    "eval": cmd_eval,
    "demo": cmd_demo,
    "live": cmd_live,
    "inspect": cmd_inspect,
    "models": cmd_models,
    "batch": cmd_batch,
    "serve": cmd_serve,
    "keys": cmd_keys,
    "completion": cmd_completion,
}


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


LIBRARY_HINT = "install it (Debian/Ubuntu: apt-get install libgl1 libglib2.0-0 libgomp1), or use the faceweave image"


def _missing_system_library(error: ImportError) -> str | None:
    """The shared library an import failed on (OpenCV and MediaPipe need libGL, glib, libgomp in slim containers),
    or None when the import failed for another reason."""
    found = re.search(r"([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file", str(error))
    return found.group(1) if found else None


def _columns() -> int | None:
    """The width of the terminal on standard error, or None when it has none."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or None  # 0: a terminal that gives no size
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return None


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM raises KeyboardInterrupt: every writer's clean-up (atomic files, the video writer's abort) runs."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage, 3 no face, 4 bad media, 6 batch files failed, 1 other)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="faceweave: %(message)s")
    limit_blas_threads()  # the process is ours here: numpy's small matrices need no second (spinning) thread
    signal.signal(signal.SIGTERM, _interrupt)  # kill, a container stop: unwind as Ctrl-C does, .part files removed
    args.terminal = sys.stderr.isatty()  # before the filter below makes descriptor 2 a pipe
    args.columns = _columns() if args.terminal else None  # the progress bars' width, for the same reason
    quiet = argv is None and not args.verbose  # a process of ours: MediaPipe's noise is filtered out of descriptor 2
    args.display = _open_terminal() if quiet and args.terminal else None
    restore = quiet_native_logs() if quiet else None
    try:
        return COMMANDS[args.command](args)
    except FaceweaveError as error:
        print(f"faceweave: error: {error}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("faceweave: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as error:
        library = _missing_system_library(error)
        if library is None:
            raise
        print(f"faceweave: error: the system library {library} is missing; {LIBRARY_HINT}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if restore is not None:
            restore()
        if args.display is not None:
            args.display.close()


if __name__ == "__main__":
    sys.exit(main())
