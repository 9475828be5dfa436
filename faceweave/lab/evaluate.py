"""`faceweave eval`: the pairs evaluation and the cases, one summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceweave.lab.eval import evaluate_pairs
from faceweave.lab.eval_cases import CaseOptions, evaluate_cases
from faceweave.settings import Settings


def evaluate(
    folder: Path, output_dir: Path, settings: Settings, cases: CaseOptions | None = None, pairs: bool = True
) -> dict[str, Any]:
    """Run the evaluation; writes summary.json into output_dir.

    With `pairs` (the default figure): every cross-identity pair, pairs.jsonl and contact_sheet.png. With
    `cases` (yaw buckets, small and occluded faces, see eval_cases): a "cases" entry, cases.jsonl and cases/*.png.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = evaluate_pairs(folder, output_dir, settings) if pairs else {}
    if cases is not None and set(cases.cases) - {"pairs"}:
        summary["cases"] = evaluate_cases(folder, output_dir, settings, cases)
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
