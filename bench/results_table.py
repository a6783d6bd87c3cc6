"""The README's results table, generated from the committed per-question outcome files.

    python bench/results_table.py results/exp4            # print the markdown
    python bench/results_table.py results/exp4 --readme README.md   # rewrite its results block
    python bench/results_table.py results/exp4 results/exp5          # several runs, in order

Reads ``RUN/run.json`` (commands, stage wall times, training figures), ``RUN/DATASET_MODEL.jsonl``
(one line per question; a run.json ``"borrowed": {"sft": "exp15"}`` takes that model's files from
results/exp15 instead, for a run that compares new arms with an earlier run's models) and recomputes every accuracy, interval and paired comparison from the
outcome files themselves, so the table cannot drift from the data.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from swirl_agents.compare import compare_outcomes, read_outcomes
from swirl_agents.evaluate import wilson_interval

START, END = "<!-- results:start -->", "<!-- results:end -->"
LABELS = {
    "base": "base SmolLM2-135M-Instruct",
    "warm": "warm start (SFT on annotations; our addition)",
    "sft": "warm + SFT on the kept trajectories (baseline)",
    "swirl": "warm + SWiRL on the same kept trajectories",
    "swirl_ds": "warm + SWiRL with dynamic sampling, same kept trajectories",
    "swirl_strict": "warm + SWiRL, reward rule-strict (gold-free)",
    "swirl_lowlr": "warm + SWiRL, reward reference-grounded, lr 5e-6",
    "swirl_lr5e-6_48": "warm + SWiRL, reward reference-grounded, lr 5e-6, 48 steps",
    "swirl_budget": "warm + SWiRL with dynamic sampling, reward reference-budget",
    "swirl_states8": "warm + SWiRL, 8 states x 4 samples per step",
    "swirl_lr2e-5": "warm + SWiRL, lr 2e-5",
    # exp18: the same recipes at another seed
    "sft_seed1": "warm + SFT on the kept trajectories, seed 1",
    "swirl_seed1": "warm + SWiRL on the same kept trajectories, seed 1",
    # transfer (results/transfer): a model trained on the other task, evaluated on this one
    "hotpotqa-warm": "trained on HotPotQA: warm start (exp5)",
    "hotpotqa-swirl": "trained on HotPotQA: warm + SWiRL (exp5)",
    "gsm8k-warm": "trained on GSM8K: warm start (exp4)",
    "gsm8k-swirl": "trained on GSM8K: warm + SWiRL (exp4)",
    # exp7: the SFT baseline's learning rate on a held-out training slice
    "sft_lr1e-5": "warm + SFT on the kept trajectories, lr 1e-5",
    "sft_lr5e-5": "warm + SFT on the kept trajectories, lr 5e-5 (exp5's baseline)",
    "sft_lr2e-4": "warm + SFT on the kept trajectories, lr 2e-4",
    # bench/filtering.py: the same number of trajectories kept by each filter
    **{
        f"{m}_{f}": f"warm + {name} on {f}-filtered trajectories"
        for m, name in (("swirl", "SWiRL"), ("sft", "SFT"))
        for f in ("none", "outcome", "process", "both")
    },
}
# DATASET in RUN/DATASET_MODEL.jsonl: the split each file's questions come from
DATASETS = {
    "gsm8k": "gsm8k",
    "hotpotqa": "hotpotqa",
    "hotpotqa-heldout": "hotpotqa, training-pool questions 700-799 (held out from all training)",
}


def _records(run: Path) -> list[dict]:
    """bench/learning.py's run.json, then bench/filtering.py's filtering_run.json."""
    paths = [run / "run.json", run / "filtering_run.json"]
    return [json.loads(p.read_text()) for p in paths if p.exists()]


def table(run: Path) -> str:
    records = _records(run)
    record = records[0] if records else {}
    lines = [record["what"], ""] if record.get("what") else []  # what the run changed
    for dataset, caption in DATASETS.items():
        borrowed = {m: r for rec in records for m, r in rec.get("borrowed", {}).items()}
        files = {m: run.parent / borrowed.get(m, run.name) / f"{dataset}_{m}.jsonl" for m in LABELS}
        files = {m: f for m, f in files.items() if f.exists()}
        if not files:
            continue
        lines += [
            f"**{caption}** ({run.name}; accuracy with its 95% Wilson interval)",
            "",
            "| model | correct | accuracy | answered | mean steps |",
            "|---|---|---|---|---|",
        ]
        for m, f in files.items():
            outcomes = read_outcomes(f)
            right, n = sum(outcomes.values()), len(outcomes)
            low, high = wilson_interval(right, n)
            rows = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
            steps = sum(r.get("steps", 0) for r in rows) / len(rows)
            answered = sum(r.get("outcome") == "answered" for r in rows) / len(rows)
            label = LABELS.get(m, m) + (f" ({borrowed[m]})" if m in borrowed else "")
            lines.append(
                f"| {label} | {right}/{n} | {right / n:.1%} [{low:.1%}, {high:.1%}] "
                f"| {answered:.0%} | {steps:.2f} |"
            )
        lines += ["", "| paired comparison | n | B - A [95% CI] | only A right | only B right | "
                      "exact McNemar p |", "|---|---|---|---|---|---|"]  # fmt: skip
        pairs = (("sft", "swirl"), ("sft", "swirl_ds"), ("swirl", "swirl_ds"),
                 ("sft", "swirl_budget"), ("swirl_ds", "swirl_budget"), ("warm", "swirl"),
                 ("warm", "swirl_ds"), ("warm", "sft"), ("base", "warm"),
                 ("sft", "swirl_strict"), ("swirl", "swirl_strict"),
                 ("hotpotqa-warm", "hotpotqa-swirl"), ("gsm8k-warm", "gsm8k-swirl"),
                 ("sft_lr5e-5", "sft_lr1e-5"), ("sft_lr5e-5", "sft_lr2e-4"), ("warm", "sft_lr5e-5"))  # fmt: skip
        pairs += tuple(tuple(p) for r in records for p in r.get("pairs", []))  # a run's own
        for a, b in dict.fromkeys(pairs):
            if a in files and b in files:
                c = compare_outcomes(files[a], files[b])
                low, high = c["diff_ci95"]
                lines.append(
                    f"| {b} vs {a} | {c['n']} | {c['diff']:+.1%} [{low:+.1%}, {high:+.1%}] "
                    f"| {c['a_only_correct']} | {c['b_only_correct']} | {c['p_value']:.3g} |"
                )
        lines.append("")
    stages = {name: s for r in records for name, s in r.get("stages", {}).items()}
    if stages:
        lines += ["| stage | wall time | threads | beside |", "|---|---|---|---|"]
        for name, s in stages.items():
            beside = ", ".join(s.get("alongside", [])) or "-"
            lines.append(f"| {name} | {s['wall_s'] / 60:.1f} min | {s['threads']} | {beside} |")
        lines.append("")
    if record.get("hardware"):
        lines.append(f"Hardware: {record['hardware']}; started {record.get('started')}.")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", type=Path, nargs="+", help="results/RUN directories")
    p.add_argument("--readme", type=Path, help="rewrite the block between the results markers")
    args = p.parse_args()
    text = "\n".join(table(run) for run in args.runs)
    if args.readme:
        readme = args.readme.read_text()
        if START not in readme or END not in readme:
            raise SystemExit(f"{args.readme}: no {START} ... {END} block")
        block = f"{START}\n{text}{END}"
        args.readme.write_text(
            re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S)
        )
    print(text, end="")


if __name__ == "__main__":
    main()
