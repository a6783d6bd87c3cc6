"""The paper's filtering comparison: SWiRL (or SFT) on the same number of trajectories kept by
each filter (none, outcome, process, both), evaluated on the same questions.

Runs on a finished ``bench/learning.py`` working dir, which holds the warm model and the four
filters' files (``kept_{none,outcome,process,both}.jsonl``) of the warm model's own trajectories:

    python bench/learning.py --out runs/exp10 ...        # at least through its filter stage
    python bench/filtering.py --out runs/exp10 --results results/exp10 --steps 16

or, from a given warm start (the shipped adapter) and its committed outcomes (results/exp16):

    python bench/learning.py --out runs/exp16 --warm smollm2 --warm-questions 2150 --stop-after filter
    python bench/filtering.py --out runs/exp16 --dataset gsm8k --warm smollm2 \
        --warm-outcomes results/adapter/gsm8k_smollm2.jsonl

Stages (each cached in ``--out/filtering``; a rerun resumes at the first unfinished one):

1. subsample  ``--trajectories`` of each filter's kept runs (seeded; default: the smallest kept
              set, so that every arm trains on the same number). Two filters that keep the same
              runs (on HotPotQA every outcome-kept run also passes the rule process filter, so
              both = outcome) are trained once and reported as one arm;
2. train      from the warm model, each ``--methods`` on each arm, two side by side;
3. eval       each trained arm and the warm model on the first ``--eval-questions`` evaluation
              questions; per-question outcomes in ``RESULTS/DATASET_METHOD_FILTER.jsonl``;
4. compare    paired comparisons (process vs outcome, process vs none, each vs warm) in
              ``RESULTS/filtering.json``.

``RESULTS/filtering_run.json`` holds the commands, threads and each stage's wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: learning.py beside it
from learning import Pipeline, _card, _cpu_model, add_training_args, train_command  # noqa: E402

FILTERS = ("none", "outcome", "process", "both")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--out", required=True, help="a bench/learning.py working dir (its warm model and filters)")
    a("--results", help="results dir for git (default: results/<name of --out>)")
    a("--dataset", choices=["gsm8k", "hotpotqa"], default="hotpotqa", help="the task")
    a(
        "--warm",
        default=None,
        help="the warm start the trajectories came from (default: OUT/warm; the same --warm "
        "as bench/learning.py's, e.g. smollm2)",
    )
    a(
        "--warm-outcomes",
        default=None,
        help="the warm model's committed outcomes on this split, used instead of evaluating it",
    )
    a("--trajectories", type=int, help="kept runs per arm (default: the smallest kept set)")
    a("--seed", type=int, default=0, help="seed of the subsample")
    a("--methods", default="swirl", help="comma-separated: swirl, sft")
    add_training_args(p, reward="reference-grounded", steps=16, sft_batch=5, swirl_lr=3e-5,
                      swirl_batch=2, swirl_accum=2, num_generations=8, completion_tokens=48,
                      max_length=1536)  # fmt: skip
    a("--eval-questions", type=int, default=200, help="first N evaluation-split questions")
    a("--concurrency", type=int, default=32, help="agent runs batched together")
    a("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for the whole job")
    return p.parse_args(argv)


def subsample(kept: dict[str, Path], n: int | None, seed: int, out: Path) -> dict[str, Path]:
    """``n`` runs of each filter's file (all of a smaller one), one arm per distinct set of runs:
    returns {arm: file}, an arm named for the first filter (in FILTERS order) that kept it."""
    rows = {f: [x for x in p.read_text().splitlines() if x.strip()] for f, p in kept.items()}
    n = n or min(len(r) for r in rows.values())
    arms: dict[str, Path] = {}
    seen: dict[frozenset, str] = {}
    for name in FILTERS:
        if name not in rows:
            continue
        lines = rows[name]
        picked = lines if len(lines) <= n else random.Random(seed).sample(lines, n)
        key = frozenset(picked)
        if key in seen:  # the same runs as an earlier filter: one arm, reported under both
            print(f"[subsample] {name} keeps the same {len(picked)} runs as {seen[key]}",
                  file=sys.stderr)  # fmt: skip
            continue
        seen[key] = name
        path = out / f"kept_{name}_{len(picked)}.jsonl"
        path.write_text("\n".join(picked) + "\n")
        arms[name] = path
    return arms


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    src = Path(args.out)
    out = src / "filtering"
    results = Path(args.results or Path("results") / src.name)
    warm = args.warm or src / "warm"
    kept = {f: src / f"kept_{f}.jsonl" for f in FILTERS}
    need = [*kept.values(), *([] if args.warm else [Path(warm) / "config.json"])]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise SystemExit(f"not a finished bench/learning.py filter stage: missing {missing}")
    out.mkdir(parents=True, exist_ok=True)

    pipe = Pipeline(out, results, args.threads, record="filtering_run.json")  # not run.json
    pipe.record.setdefault("started", dt.datetime.now().isoformat(timespec="seconds"))
    pipe.record["config"] = vars(args)
    pipe.record["hardware"] = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, {_cpu_model()}, no GPU"
    )
    arms = subsample(kept, args.trajectories, args.seed, out)
    pipe.record["arms"] = {a: sum(1 for _ in p.open()) for a, p in arms.items()}
    pipe.save()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - {"sft", "swirl"})
    if unknown:
        raise SystemExit(f"--methods: unknown method(s) {unknown} (swirl, sft)")
    jobs = [
        (f"{m}_{arm}", out / f"{m}_{arm}" / "config.json",
         train_command(m, data, warm, out / f"{m}_{arm}", args))
        for m in methods for arm, data in arms.items()
    ]  # fmt: skip
    for i in range(0, len(jobs), 2):
        pipe.run(jobs[i : i + 2])

    models = {name: str(out / name) for name, *_ in jobs}
    if not args.warm_outcomes:
        models["warm"] = str(warm)
    pipe.evaluate(
        args.dataset, models, dict.fromkeys(models, args.eval_questions), args.concurrency
    )
    files = {name: results / f"{args.dataset}_{name}.jsonl" for name in models}
    if args.warm_outcomes:  # evaluated before on the same split: the pairs use shared questions
        files["warm"] = pipe.adopt_outcomes(args.dataset, "warm", args.warm_outcomes)
    from swirl_agents.compare import compare_outcomes

    pairs = [(f"{m}_{a}", f"{m}_{b}") for m in methods for a, b in
             (("outcome", "process"), ("none", "process"), ("none", "outcome"),
              ("outcome", "both"), ("process", "both"))]  # fmt: skip
    pairs += [("warm", name) for name, *_ in jobs]
    pairs = [(a, b) for a, b in pairs if a in files and b in files]
    comparisons = {f"{b}_vs_{a}": compare_outcomes(files[a], files[b]) for a, b in pairs}
    (results / "filtering.json").write_text(json.dumps(comparisons, indent=2) + "\n")
    pipe.record["pairs"] = pairs
    pipe.record["train"] = {name: _card(out / name) for name, *_ in jobs}
    pipe.record["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    pipe.save()
    print(json.dumps({"arms": pipe.record["arms"], "compare": comparisons}))


if __name__ == "__main__":
    main()
