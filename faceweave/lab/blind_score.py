"""`faceweave eval --score-blind KEY RATINGS`: a rater's answers to the blind sheets, scored against the key.

Ratings are one JSON object per line: {"sheet", "manipulated": "A"|"B", "confidence": 50–100, "natural_A": 1–5,
"natural_B": 1–5, "reason"}. The fool rate is the share of sheets where the rater took the real photo for the edit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceweave.errors import UsageError
from faceweave.lab.blind import KINDS


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


RATING_RULES: tuple[tuple[str, Any, str], ...] = (  # field, check, what it must be
    ("manipulated", lambda v: v in ("A", "B"), '"A" or "B"'),
    ("confidence", lambda v: (isinstance(v, float) and 50 <= v <= 100) or _whole(v, 50, 100), "a number 50 to 100"),
    ("natural_A", lambda v: _whole(v, 1, 5), "a whole number 1 to 5"),
    ("natural_B", lambda v: _whole(v, 1, 5), "a whole number 1 to 5"),
    ("reason", lambda v: isinstance(v, str), "a string (or left out)"),
)


def check_rating(row: Any, sheets: dict[str, Any]) -> dict[str, Any]:
    """One rating line's object, validated (sheet named with or without .png); ValueError says what is wrong."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    sheet = row.get("sheet")
    if not isinstance(sheet, str) or sheet.removesuffix(".png") not in sheets:
        raise ValueError(f"'sheet' must name a sheet of the key (sheet_01 ...), got {sheet!r}")
    row = {"reason": "", **row, "sheet": sheet.removesuffix(".png")}
    for field, check, expected in RATING_RULES:
        if not check(row.get(field)):
            raise ValueError(f"'{field}' must be {expected}, got {json.dumps(row.get(field))}")
    return row


def read_ratings(path: Path, sheets: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ratings per sheet; a bad line raises UsageError naming the file and the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the ratings '{path}' ({exc}); give a UTF-8 JSON Lines file") from exc
    ratings: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rating = check_rating(json.loads(line), sheets)
            if rating["sheet"] in ratings:
                raise ValueError(f"{rating['sheet']} is rated twice")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise UsageError(f"{path} line {number}: {exc}") from None
        ratings[rating["sheet"]] = rating
    return ratings


def _figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def mean(values: Sequence[float]) -> float | None:
        return round(float(np.mean(values)), 4) if values else None

    swap = [r["natural_swap"] for r in rows]
    return {
        "sheets_rated": len(rows),
        "fool_rate": mean([not r["caught"] for r in rows]),
        "mean_natural_swap": mean(swap),
        "mean_natural_real": mean([r["natural_real"] for r in rows]),
        "share_swap_le_2": mean([s <= 2 for s in swap]),
        "share_swap_1": mean([s == 1 for s in swap]),
        "mean_confidence_when_right": mean([r["confidence"] for r in rows if r["caught"]]),
    }


def score_blind(key_path: Path, ratings_path: Path) -> dict[str, Any]:
    """Score a rater's ratings against the key: how often the real photo was picked, how natural each side looked.

    `fool_rate`: share of rated sheets where the rater picked the real photo as the edited one (chance is 0.5);
    `missing`: sheets of the key without a rating; `pairs`: one row per rated sheet; `contradictory`: sheets whose
    rater scored the image they picked as edited above the other (pick and scores disagree), and `consistent_only`
    the naturalness means without them.
    """
    try:
        sheets = json.loads(key_path.read_text(encoding="utf-8"))["sheets"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"'{key_path}' is no blind key ({exc!r}); give the key.json that --blind wrote") from exc
    ratings = read_ratings(ratings_path, sheets)
    rows = []
    for name in sorted(ratings):
        rating, truth = ratings[name], sheets[name]
        real_side = "B" if truth["manipulated"] == "A" else "A"
        rows.append({
            "sheet": name, "kind": truth["kind"], "source": truth["source"], "target": truth["target"],
            "caught": rating["manipulated"] == truth["manipulated"], "confidence": rating["confidence"],
            "natural_swap": rating[f"natural_{truth['manipulated']}"], "natural_real": rating[f"natural_{real_side}"],
            "reason": rating.get("reason", ""), "contradictory": _contradictory(rating),
        })  # fmt: skip
    kinds = [kind for kind in KINDS if any(entry["kind"] == kind for entry in sheets.values())]
    figures = _figures(rows)
    contradictory = [r["sheet"] for r in rows if r["contradictory"]]
    consistent = _figures([r for r in rows if not r["contradictory"]])
    return {
        "sheets_rated": figures.pop("sheets_rated"),
        "missing": sorted(set(sheets) - set(ratings)),
        **figures,
        "contradictory": contradictory,
        "consistent_only": {k: consistent[k] for k in ("sheets_rated", "mean_natural_swap", "mean_natural_real")},
        "per_kind": {kind: _figures([r for r in rows if r["kind"] == kind]) for kind in kinds},
        "pairs": rows,
    }


def _contradictory(rating: dict[str, Any]) -> bool:
    """Whether a rater rated the image they called edited as more natural than the other one: their pick and their
    scores disagree, so the naturalness of that sheet cannot be trusted (a rater once swapped the two fields on
    most sheets where B was the edit)."""
    picked = rating["manipulated"]
    other = "B" if picked == "A" else "A"
    return bool(rating[f"natural_{picked}"] > rating[f"natural_{other}"])


def markdown_table(report: dict[str, Any]) -> str:
    """The report's per-sheet table as Markdown."""
    columns = ("sheet", "kind", "source", "target", "caught", "confidence", "natural_swap", "natural_real", "reason")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in report["pairs"]:
        cells = ["yes" if row[c] is True else "no" if row[c] is False else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)
