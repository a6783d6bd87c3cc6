"""The learning experiment: base vs SFT vs SFT+SWiRL on GSM8K test and the HotPotQA eval split.

    python bench/learning.py --out runs/learning            # the budget that fits a 2-core CPU
    python bench/learning.py --out runs/learning --gsm8k-eval 1319 --hotpot-eval 482   # full splits

Pipeline (each stage is cached in ``--out``: a rerun resumes at the first unfinished stage):

1. bootstrap: annotation trajectories from GSM8K train (calculator annotations) and the HotPotQA
   training pool (supporting titles), ``swirl generate --from-annotations``;
2. filter: process filter with the rule judge, ``swirl filter --mode process --judge rule``;
3. sft: ``swirl train --method sft`` from the embedded SmolLM2-135M-Instruct on the kept data;
4. swirl: ``swirl train --method swirl`` from the SFT model on the states of the *same* kept
   trajectories, rewarded by the rule judge (so SFT and SWiRL see the same data);
5. eval: base, SFT and SWiRL on the first N GSM8K test questions and the first M questions of the
   HotPotQA eval split (offline corpus), each run stored as an ``eval`` trace.

The last line on stdout is one JSON object with every figure, the date, the hardware and the wall
time; the stages' logs go to ``OUT/logs``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from swirl_agents.evaluate import evaluate_dataset
from swirl_agents.report import markdown_table, plot_accuracy, plot_actions, write_report

SWIRL = [str(Path(sys.executable).parent / "swirl")]  # the console script of this venv


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="runs/learning", help="output dir (stages cached here)")
    p.add_argument(
        "--gsm8k-train", type=int, default=400, help="GSM8K train questions bootstrapped"
    )
    p.add_argument(
        "--hotpot-train", type=int, default=200, help="HotPotQA pool questions bootstrapped"
    )
    p.add_argument("--sft-epochs", type=float, default=1.0, help="SFT epochs over the kept data")
    p.add_argument(
        "--sft-steps", type=int, default=None, help="SFT optimiser steps (overrides epochs)"
    )
    p.add_argument("--sft-lr", type=float, default=None, help="SFT learning rate (trainer default)")
    p.add_argument("--batch-size", type=int, default=4, help="SFT trajectories per step")
    p.add_argument("--swirl-steps", type=int, default=30, help="SWiRL optimiser steps")
    p.add_argument(
        "--swirl-lr", type=float, default=None, help="SWiRL learning rate (trainer default)"
    )
    p.add_argument("--swirl-batch", type=int, default=None, help="SWiRL states per step")
    p.add_argument("--num-generations", type=int, default=4, help="SWiRL samples per state")
    p.add_argument("--completion-tokens", type=int, default=64, help="SWiRL tokens per sample")
    p.add_argument("--gsm8k-eval", type=int, default=300, help="first N GSM8K test questions")
    p.add_argument("--hotpot-eval", type=int, default=100, help="first M HotPotQA eval questions")
    p.add_argument("--concurrency", type=int, default=32, help="agent runs batched together")
    p.add_argument("--models", default="base,sft,swirl", help="which models to evaluate")
    p.add_argument("--base", default="smollm2", help="the base model spec")
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="train nothing; evaluate the models already trained",
    )
    return p.parse_args()


class Pipeline:
    """Runs stages once: a stage whose output exists is skipped (delete it to redo it)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = (
            json.loads(self._timings_path.read_text()) if self._timings_path.exists() else {}
        )

    @property
    def _timings_path(self) -> Path:
        return self.out / "timings.json"

    def run(self, name: str, output: Path, cmd: list[str]) -> Path:
        """Run ``cmd`` unless ``output`` exists; its stdout and stderr go to ``logs/NAME.log``."""
        if output.exists():
            print(f"[{name}] cached: {output}", file=sys.stderr)
            return output
        print(f"[{name}] {shlex.join(cmd)}", file=sys.stderr, flush=True)
        started = time.time()
        with (self.logs / f"{name}.log").open("w") as log:
            log.write(shlex.join(cmd) + "\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise SystemExit(
                f"[{name}] failed (exit {proc.returncode}); see {self.logs / name}.log"
            )
        self.record(name, time.time() - started)
        return output

    def record(self, name: str, seconds: float) -> None:
        if (
            self._timings_path.exists()
        ):  # another run (--eval-only beside training) may have written
            self.timings = {**json.loads(self._timings_path.read_text()), **self.timings}
        self.timings[name] = round(seconds, 1)
        self._timings_path.write_text(json.dumps(self.timings, indent=2))


def evaluate_stage(
    pipe: Pipeline, name: str, model: str, dataset: str, split: str, n: int, concurrency: int
) -> dict:
    """Evaluate ``model`` on the first ``n`` questions (cached as OUT/eval/NAME/summary.json)."""
    out = pipe.out / "eval" / name
    if (out / "summary.json").exists():
        print(f"[eval {name}] cached", file=sys.stderr)
        return json.loads((out / "summary.json").read_text())
    from swirl_agents.traces.store import open_store

    print(f"[eval {name}] {model} on {dataset}/{split}[:{n}]", file=sys.stderr, flush=True)
    store = open_store(str(pipe.out / "eval_traces.db"))
    try:
        report = evaluate_dataset(
            dataset, split, model=model, limit=n, concurrency=concurrency, store=store
        )
    finally:
        store.close()
    report.summary["label"] = name
    write_report(report, out)
    pipe.record(f"eval_{name}", report.summary["wall_s"])
    return report.summary


def train(pipe: Pipeline, args: argparse.Namespace, sft: Path, swirl: Path) -> None:
    """Stages 1-4: bootstrap, process filter, SFT, then SWiRL from the SFT model."""
    out = pipe.out
    store = str(out / "bootstrap.db")
    kept = out / "filtered.jsonl"
    # 1-2. bootstrap annotations (train splits only) and keep the process-filtered ones
    pipe.run("bootstrap_gsm8k", out / "bootstrap_gsm8k.done", [
        *SWIRL, "generate", "--from-annotations", "--dataset", "gsm8k", "--split", "train",
        "--limit", str(args.gsm8k_train), "--store", store,
    ])  # fmt: skip
    (out / "bootstrap_gsm8k.done").touch()
    if args.hotpot_train:
        pipe.run("bootstrap_hotpotqa", out / "bootstrap_hotpotqa.done", [
            *SWIRL, "generate", "--from-annotations", "--dataset", "hotpotqa", "--split", "train",
            "--limit", str(args.hotpot_train), "--store", store,
        ])  # fmt: skip
        (out / "bootstrap_hotpotqa.done").touch()
    pipe.run("filter", kept, [
        *SWIRL, "filter", "--data", store, "--mode", "process", "--judge", "rule", "--out", str(kept),
    ])  # fmt: skip
    # 3-4. SFT from the base; SWiRL from the SFT model on the same kept trajectories
    pipe.run("sft", sft / "config.json", [
        *SWIRL, "train", "--method", "sft", "--data", str(kept), "--model", args.base,
        "--epochs", str(args.sft_epochs), "--batch-size", str(args.batch_size), "--out", str(sft),
        *(["--max-steps", str(args.sft_steps)] if args.sft_steps else []),
        *(["--lr", str(args.sft_lr)] if args.sft_lr else []),
    ])  # fmt: skip
    pipe.run("swirl", swirl / "config.json", [
        *SWIRL, "train", "--method", "swirl", "--data", str(kept), "--model", str(sft),
        "--judge", "rule", "--max-steps", str(args.swirl_steps), "--out", str(swirl),
        "--num-generations", str(args.num_generations),
        "--max-completion-length", str(args.completion_tokens),
        *(["--lr", str(args.swirl_lr)] if args.swirl_lr else []),
        *(["--batch-size", str(args.swirl_batch)] if args.swirl_batch else []),
    ])  # fmt: skip


def main() -> None:
    args = parse_args()
    started = time.time()
    out = Path(args.out)
    pipe = Pipeline(out)
    first_started(out)
    sft, swirl = out / "sft", out / "swirl"
    if not args.eval_only:
        train(pipe, args, sft, swirl)
    # 5. evaluation, the trained models first (the base is slow: it rarely ends a run early)
    specs = {"sft": str(sft), "swirl": str(swirl), "base": args.base}
    wanted = [m for m in ("swirl", "sft", "base") if m in args.models.split(",")]
    if args.eval_only:
        wanted = [m for m in wanted if m == "base" or (out / m / "config.json").exists()]
    sizes = {"gsm8k": ("test", args.gsm8k_eval), "hotpotqa": ("eval", args.hotpot_eval)}
    summaries: dict[str, dict] = {}
    for m in wanted:
        for dataset, (split, n) in sizes.items():
            if n:
                summaries[f"{m}_{dataset}"] = evaluate_stage(
                    pipe, f"{m}_{dataset}", specs[m], dataset, split, n, args.concurrency
                )
    write_results(out, summaries, args, started)


def first_started(out: Path) -> str:
    """When the experiment in ``out`` first started (its wall time spans reruns)."""
    path = out / "started_at"
    if not path.exists():
        path.write_text(dt.datetime.now().isoformat(timespec="seconds"))
    return path.read_text()


FIGURES = (
    "n",
    "accuracy",
    "accuracy_ci95",
    "valid_action_rate",
    "mean_steps",
    "answered_rate",
    "f1",
    "recall_at_5",
)


def write_results(
    out: Path, summaries: dict[str, dict], args: argparse.Namespace, started: float
) -> None:
    """The comparison table and plots in OUT, and the one JSON line last on stdout."""
    for dataset in ("gsm8k", "hotpotqa"):
        rows = [s for k, s in summaries.items() if k.endswith(dataset)]
        if rows:
            plot_accuracy(rows, out / f"accuracy_{dataset}.png", f"{dataset}: base vs SFT vs SWiRL")
            plot_actions(rows, out / f"actions_{dataset}.png")
    (out / "results.md").write_text(markdown_table(list(summaries.values())) + "\n")
    cards = {
        m: json.loads((out / m / "swirl_card.json").read_text())
        for m in ("sft", "swirl")
        if (out / m / "swirl_card.json").exists()
    }
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), {platform.processor() or platform.platform()}",
        "wall_s": round(time.time() - started, 1),  # this invocation (cached stages cost nothing)
        "first_started": first_started(out),
        "stage_seconds": json.loads((out / "timings.json").read_text())
        if (out / "timings.json").exists()
        else {},
        "config": vars(args),
        "train": {
            m: {k: c.get(k) for k in ("trajectories", "steps", "datasets", "figures")}
            for m, c in cards.items()
        },
        "results": {
            k: {f: s.get(f) for f in FIGURES if f in s} | {"model": s["model"]}
            for k, s in summaries.items()
        },
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
