"""Paired comparison of two evaluations on the same questions (``swirl eval --compare``).

Each side is a per-question outcome file (JSONL with ``question_id`` and ``correct``, as
``swirl eval --report DIR`` writes in ``DIR/results.jsonl``). The questions both files hold are
paired; the accuracy difference (B - A) gets Newcombe's 95% interval for paired proportions
(method 10, from the two Wilson intervals and the correlation of the pairs), and the exact
McNemar test (a two-sided binomial test on the discordant pairs) says how surprising it is if
the two models were equally good.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from swirl_agents.errors import UsageError
from swirl_agents.evaluate import wilson_interval


def read_outcomes(path: str | Path) -> dict[str, bool]:
    """question_id -> correct, from a per-question outcome file; bad lines name their number."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--compare {path}: no such file")
    outcomes: dict[str, bool] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                qid, correct = str(row["question_id"]), row["correct"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UsageError(
                    f"{path}:{number}: not an outcome record with question_id and correct ({exc})"
                ) from None
            if not isinstance(correct, bool):
                raise UsageError(f"{path}:{number}: 'correct' must be true or false")
            if qid in outcomes:
                raise UsageError(f"{path}:{number}: question_id {qid!r} appears twice")
            outcomes[qid] = correct
    if not outcomes:
        raise UsageError(f"{path}: no outcome records")
    return outcomes


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: P(a split at least this uneven | no difference)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_diff_interval(both: int, only_a: int, only_b: int, neither: int) -> tuple[float, float]:
    """Newcombe's (1998, method 10) 95% interval for accuracy(B) - accuracy(A), paired."""
    n = both + only_a + only_b + neither
    pa, pb = (both + only_a) / n, (both + only_b) / n
    la, ua = wilson_interval(both + only_a, n)
    lb, ub = wilson_interval(both + only_b, n)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    d = pb - pa
    low = d - math.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    high = d + math.sqrt(
        max(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    )
    return max(-1.0, low), min(1.0, high)


def compare_outcomes(a_path: str | Path, b_path: str | Path) -> dict[str, Any]:
    """The paired comparison of two outcome files (see the module docstring)."""
    a, b = read_outcomes(a_path), read_outcomes(b_path)
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise UsageError(f"{a_path} and {b_path} share no question_id: nothing to pair")
    both = sum(a[q] and b[q] for q in shared)
    only_a = sum(a[q] and not b[q] for q in shared)
    only_b = sum(b[q] and not a[q] for q in shared)
    neither = len(shared) - both - only_a - only_b
    n = len(shared)
    low, high = paired_diff_interval(both, only_a, only_b, neither)
    return {
        "a": str(a_path),
        "b": str(b_path),
        "n": n,
        "a_only_questions": len(a) - n,  # questions one side has and the other does not
        "b_only_questions": len(b) - n,
        "a_accuracy": (both + only_a) / n,
        "b_accuracy": (both + only_b) / n,
        "diff": (only_b - only_a) / n,  # b - a
        "diff_ci95": [low, high],
        "p_value": mcnemar_exact(only_a, only_b),  # exact McNemar, two-sided
        "both_correct": both,
        "a_only_correct": only_a,
        "b_only_correct": only_b,
        "neither_correct": neither,
    }
