"""How far evaluated GSM8K runs stay on the worked solution's path (an analysis, after training).

    .venv/bin/python bench/gold_path.py --store runs/exp13/eval_traces.db
    .venv/bin/python bench/gold_path.py --outcomes results/exp14/gsm8k_*.jsonl

For every ``eval`` run in the store: how many of its calculator steps, from the first, compute a
value of the question's worked solution (the ``<<a*b=c>>`` results or the gold answer), and
whether a wrong answer is one of those intermediate values (stopping short). It reads the
evaluation split's solutions as the grader reads its answers: to score, never to train or judge.
Prints one JSON line per model. ``--outcomes`` reads committed per-question outcome files instead
(``runs/`` does not outlive its machine); they hold the answer but not the steps, so only the
stopping-short count is given.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from swirl_agents.datasets import load_questions
from swirl_agents.grading import numeric_equal
from swirl_agents.tools.calculator import calculate
from swirl_agents.traces import load_trajectories
from trainer.reference import gsm8k_values


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="a trace store holding eval runs")
    source.add_argument("--outcomes", nargs="+", type=Path, help="per-question outcome files")
    p.add_argument("--split", default="test")
    args = p.parse_args()
    if args.outcomes:
        return stopping_short(args.outcomes, args.split)
    questions = {q.question: q for q in load_questions("gsm8k", args.split)}
    runs = collections.defaultdict(list)
    for t in load_trajectories(args.store):
        if t.source == "eval" and t.question in questions:
            runs[t.model].append(t)
    for model, ts in runs.items():
        leading = collections.Counter()
        short = with_math = first_on_path = 0
        for t in ts:
            q = questions[t.question]
            values = [str(v) for v in gsm8k_values(q.metadata["solution"])]
            on_path = 0
            for step in (s for s in t.steps if s.kind == "math"):
                result = calculate(step.argument)
                if not any(numeric_equal(result, v) for v in [*values, q.answer]):
                    break
                on_path += 1
            with_math += any(s.kind == "math" for s in t.steps)
            first_on_path += on_path > 0
            leading[min(on_path, 3)] += 1
            if t.answer and not t.correct and any(numeric_equal(t.answer, v) for v in values):
                short += 1
        print(json.dumps({
            "model": model, "runs": len(ts), "runs_with_math": with_math,
            "first_calc_on_path": first_on_path,
            "leading_calcs_on_path": {"0": leading[0], "1": leading[1], "2": leading[2],
                                      "3+": leading[3]},
            "wrong_answer_is_intermediate_value": short,
        }))  # fmt: skip


def stopping_short(files: list[Path], split: str) -> None:
    """Wrong answers that are a value of the worked solution, from outcome files alone."""
    questions = {q.id: q for q in load_questions("gsm8k", split)}
    for path in files:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        short = 0
        for row in rows:
            q = questions[row["question_id"]]
            values = [str(v) for v in gsm8k_values(q.metadata["solution"])]
            answer = row.get("answer")
            if answer and not row["correct"] and any(numeric_equal(answer, v) for v in values):
                short += 1
        wrong = sum(not r["correct"] for r in rows)
        print(json.dumps({"outcomes": str(path), "runs": len(rows), "wrong": wrong,
                          "wrong_answer_is_intermediate_value": short}))  # fmt: skip


if __name__ == "__main__":
    main()
