"""The `faceweave batch` arguments and the pieces faceweave.cli uses to run them (exit codes stay in faceweave.cli)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from faceweave.batch.options import BatchOptions

EPILOG = """examples:
  faceweave batch --source me.jpg --input photos/ --output swapped/ --workers 2
  faceweave batch --targets 'shots/**/*.jpg' --sources 'faces/*.png' --output out/ \\
      --output-pattern '{target_stem}_{source_stem}{ext}'

A manifest (.faceweave-batch.sqlite in --output) makes reruns skip finished files; failures are listed at the end
of every run and kept until --retry-failed. Exit status 6 when any file failed."""


def add_parser(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    add_settings: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register `faceweave batch` (with the shared swap settings added by `add_settings`)."""
    batch = commands.add_parser(
        "batch",
        help="swap faces in every image/video of a folder (or glob), resumably, on N processes or Ray",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("--source", "-s", action="append", default=[], type=Path, help="source photo (repeatable)")
    batch.add_argument("--sources", metavar="GLOB", help="with --targets: each match is a source (cartesian product)")
    where = batch.add_mutually_exclusive_group(required=True)
    where.add_argument("--input", "-i", type=Path, help="folder walked recursively; --output mirrors its tree")
    where.add_argument("--targets", metavar="GLOB", help="target files ('**' recurses), named by --output-pattern")
    batch.add_argument("--output", "-o", type=Path, required=True, help="output folder (holds the manifest)")
    batch.add_argument(
        "--output-pattern",
        help="with --targets: {target_stem} {target_name} {target_dir} {source_stem} {source_name} {ext}"
        " (default '{target_stem}_{source_stem}{ext}' with --sources, else '{target_stem}{ext}')",
    )
    batch.add_argument("--workers", "-j", type=int, default=os.cpu_count() or 1, help="worker processes (CPUs)")
    batch.add_argument(
        "--threads-per-worker",
        type=int,
        metavar="N",
        help="threads each worker's OpenCV and BLAS/OpenMP pools may use (default: CPUs // workers, at least 1)",
    )
    batch.add_argument("--engine", choices=("local", "ray"), default="local", help="local processes or Ray actors")
    batch.add_argument("--address", help="with --engine ray: the cluster to join (e.g. ray://head:10001)")
    batch.add_argument("--gpus-per-worker", type=float, default=0.0, help="with --engine ray: GPUs per actor")
    batch.add_argument("--max-in-flight", type=int, help="files handed out at once (default 2 × workers)")
    batch.add_argument("--retry-failed", action="store_true", help="retry files that failed in earlier runs")
    batch.add_argument(
        "--allow-no-face", action="store_true", help="write targets without a face unchanged (default: a failure)"
    )
    add_settings(batch)


def options_from_args(args: argparse.Namespace) -> BatchOptions:
    """BatchOptions from parsed arguments (validated by BatchOptions itself)."""
    return BatchOptions(
        output=args.output,
        sources=tuple(args.source),
        input=args.input,
        targets=args.targets,
        source_glob=args.sources,
        output_pattern=args.output_pattern,
        workers=args.workers,
        engine=args.engine,
        retry_failed=args.retry_failed,
        address=args.address,
        gpus_per_worker=args.gpus_per_worker,
        max_in_flight=args.max_in_flight,
        threads_per_worker=args.threads_per_worker,
    )
