"""The lab's subcommands: `faceweave bench` (timings of stills, video, live) and `faceweave eval` (quality, blind)."""

from __future__ import annotations

import argparse
import json

from faceweave.cli.exits import EXIT_OK
from faceweave.cli.parser import _settings
from faceweave.errors import UsageError


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
