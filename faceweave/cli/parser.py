"""The argument parser: subcommands, their examples and the settings flags generated from `faceweave.settings`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from faceweave import __version__
from faceweave.settings import FIELDS, SECTIONS, Declared, Settings, load_settings, section_fields

DESCRIPTION = (
    "Command line: `faceweave swap | analyse | bench | eval | demo | inspect`; the only place that knows exit codes."
)
"""The top-level `--help` description: the first line of `faceweave.cli`'s docstring."""

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
    parser = argparse.ArgumentParser(prog="faceweave", description=DESCRIPTION)
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
    group.add_argument("--crf", type=int, metavar="N", help="constant quality, lower is better (x264 default 16)")
    group.add_argument("--preset", metavar="NAME", help="encoder speed (x264: ultrafast...veryslow, default veryfast)")
    group.add_argument("--max-video-seconds", type=float, metavar="SECONDS", help="refuse (exit 4) a longer video")
    group.add_argument("--max-video-frames", type=int, metavar="N", help="refuse (exit 4) a video with more frames")
    group.add_argument("--max-video-pixels", type=int, metavar="N", help="refuse (exit 4) larger video frames")
