"""The learning experiment, in the paper's order: does step-wise RL beat SFT on the same data?

    python bench/learning.py --out runs/exp4 --results results/exp4     # the CPU configuration

Stages (each cached in ``--out``; a rerun resumes at the first unfinished one):

1. bootstrap  annotation trajectories from the first ``--warm-questions`` train questions of
              ``--dataset`` (``swirl generate --from-annotations``), process-filtered with the
              rule judge;
2. warm       SFT from the base model on them. *Our addition to the paper*: the base model never
              writes a valid action, so without it step-wise RL has no reward spread;
3. generate   the warm model writes ``--samples`` trajectories (temperature ``--temperature``)
              for each of the next ``--rl-questions`` train questions, with the agent graph
              and its tools (``swirl generate --model WARM``);
4. filter     those trajectories, process-filtered (``--filter-judge``, default the gold-free rule
              judge; ``--filter-prefix`` keeps each one up to its first non-GOOD step); the
              none/outcome/both files are written too, for the filtering comparison;
5. sft, swirl from the warm model, on the *same* kept trajectories: the SFT baseline on their
              actions, SWiRL on their states with the ``--reward`` judge (default ``reference``,
              the offline stand-in for a strong judge). Run side by side, one thread each;
6. eval       warm, SFT and SWiRL (and ``--eval-base``) on the same first ``--eval-questions``
              evaluation questions (GSM8K test, HotPotQA eval); per-question outcomes go to
              ``RESULTS/DATASET_MODEL.jsonl``;
7. compare    paired comparisons (SWiRL vs SFT, SWiRL vs warm, SFT vs warm): the difference, its
              95% interval and the exact McNemar p, in ``RESULTS/compare.json``.

``RESULTS/run.json`` holds the commands, date, hardware, threads and each stage's wall time.
The last line on stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

SWIRL = str(Path(sys.executable).parent / "swirl")  # the console script of this venv
FILTER_MODES = ("process", "none", "outcome", "both")  # process first: the main run's data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    a = p.add_argument
    a("--out", default="runs/learning", help="working dir (stages cached here, never in git)")
    a("--results", default=None, help="results dir for git (default: results/<name of --out>)")
    a("--base", default="smollm2-base", help="the base model spec (untrained)")
    a(
        "--dataset",
        default="gsm8k",
        choices=("gsm8k", "hotpotqa"),
        help="the task trained and evaluated",
    )
    a("--warm-questions", type=int, default=1500, help="train questions for the warm start")
    a(
        "--warm",
        default=None,
        help="use this model as the warm start instead of training one (stages 1-2 skipped), "
        "e.g. smollm2, whose shipped adapter is an SFT warm start on GSM8K train[:1500]; keep "
        "--warm-questions at the questions it trained on, since generation starts after them",
    )
    a("--warm-steps", type=int, default=120, help="warm-start SFT optimizer steps")
    a("--warm-lr", type=float, default=1e-4, help="warm-start SFT learning rate")
    a(
        "--warm-max-length",
        type=int,
        default=1024,
        help="warm-start SFT tokens per sequence; a step whose prompt and action pass it is "
        "dropped (HotPotQA at 1024: 185 of 1,713 annotation steps, the last ones, after the "
        "search results)",
    )
    a("--rl-questions", type=int, default=150, help="train questions the warm model solves")
    a("--samples", type=int, default=4, help="trajectories per question (the paper: 5)")
    a("--temperature", type=float, default=0.7, help="sampling temperature of the generation")
    a("--filter-judge", default="rule", help="process filter judge")
    a(
        "--filter-prefix",
        action="store_true",
        help="the process (and both) filters keep each trajectory up to its first non-GOOD step "
        "instead of dropping it (swirl filter --prefix; a step-level variant, not the paper's)",
    )
    add_training_args(p)  # --reward, --steps, --sft-*, --swirl-*, ... (this script's defaults)
    a(
        "--swirl-name",
        default="swirl",
        help="the SWiRL arm's name (its dir in --out, its outcome file): a rerun with another "
        "name and, e.g., another --reward trains one more arm on the cached data, compared with "
        "the same SFT model (give it its own --results)",
    )
    a("--eval-questions", type=int, default=300, help="first N evaluation-split questions")
    a(
        "--eval-warm-questions",
        type=int,
        default=None,
        help="first N test questions for the warm model (default: --eval-questions; 0: do not "
        "evaluate it, e.g. a --warm model whose outcomes are already committed)",
    )
    a(
        "--warm-outcomes",
        default=None,
        help="the --warm model's committed per-question outcomes on this split (e.g. "
        "results/adapter/gsm8k_smollm2.jsonl): used as its evaluation instead of running one",
    )
    a("--eval-base", action="store_true", help="also evaluate the base model (slow)")
    a("--concurrency", type=int, default=32, help="agent runs batched together")
    a(
        "--one-at-a-time",
        action="store_true",
        help="train SFT and SWiRL one after the other, all threads each (when both do not fit "
        "in memory side by side)",
    )
    a("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for the whole job")
    a(
        "--stop-after",
        choices=("generate", "filter"),
        default=None,
        help="end after this stage (e.g. filter: the data for bench/filtering.py only)",
    )
    return p.parse_args(argv)


def add_training_args(p: argparse.ArgumentParser, **defaults: object) -> None:
    """The SFT and SWiRL flags :func:`train_command` reads, shared with ``bench/filtering.py``;
    these defaults are this script's, ``defaults`` (by dest) override them."""
    d = {"reward": "reference", "steps": 60, "sft_lr": 5e-5, "sft_batch": 4, "swirl_lr": 2e-5,
         "swirl_batch": 4, "swirl_accum": 1, "num_generations": 4, "completion_tokens": 64,
         "beta": 0.04, "max_length": 1024} | defaults  # fmt: skip
    a = p.add_argument
    a("--reward", default=d["reward"],
      help="SWiRL reward judge (rule, rule-strict, reference, reference-budget, "
      "reference-grounded)")  # fmt: skip
    a("--steps", type=int, default=d["steps"], help="optimizer steps of each SFT and SWiRL run")
    a("--sft-lr", type=float, default=d["sft_lr"], help="SFT learning rate")
    a("--sft-batch", type=int, default=d["sft_batch"], help="SFT trajectories per step")
    a("--swirl-lr", type=float, default=d["swirl_lr"], help="SWiRL learning rate")
    a("--swirl-batch", type=int, default=d["swirl_batch"], help="SWiRL states per pass")
    a("--swirl-accum", type=int, default=d["swirl_accum"], help="SWiRL passes per optimizer step")
    a("--num-generations", type=int, default=d["num_generations"], help="SWiRL samples per state")
    a("--completion-tokens", type=int, default=d["completion_tokens"],
      help="SWiRL tokens per sampled action")  # fmt: skip
    a("--beta", type=float, default=d["beta"], help="SWiRL KL weight")
    a("--swirl-temperature", type=float, default=1.0, help="SWiRL sampling temperature")
    a("--dynamic-sampling", action="store_true",
      help="SWiRL trains only states whose samples' rewards differ (DAPO)")  # fmt: skip
    a("--max-length", type=int, default=d["max_length"],
      help="SFT tokens per sequence, SWiRL per state")  # fmt: skip


def train_command(
    method: str, data: Path | str, model: Path | str, out: Path | str, args: argparse.Namespace
) -> list[str]:
    """The ``swirl train`` command of ``method`` (sft or swirl) from ``model`` on ``data``,
    with the flags of :func:`add_training_args`."""
    cmd = [SWIRL, "train", "--method", method, "--data", str(data), "--model", str(model),
           "--max-steps", str(args.steps), "--max-length", str(args.max_length)]  # fmt: skip
    if method == "sft":
        cmd += ["--batch-size", str(args.sft_batch), "--lr", str(args.sft_lr)]
    elif method == "swirl":
        cmd += [
            "--judge", args.reward, "--batch-size", str(args.swirl_batch),
            "--grad-accum", str(args.swirl_accum), "--num-generations", str(args.num_generations),
            "--max-completion-length", str(args.completion_tokens), "--beta", str(args.beta),
            "--temperature", str(args.swirl_temperature), "--lr", str(args.swirl_lr),
            *(["--dynamic-sampling"] if args.dynamic_sampling else []),
        ]  # fmt: skip
    else:
        raise SystemExit(f"unknown training method {method!r} (sft, swirl)")
    return [*cmd, "--out", str(out), "--json"]


class Pipeline:
    """Runs stages once: a stage whose output exists is skipped (delete it to redo it)."""

    def __init__(self, out: Path, results: Path, threads: int, record: str = "run.json") -> None:
        self.out, self.results, self.threads = out, results, threads
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        results.mkdir(parents=True, exist_ok=True)
        self.run_path = results / record
        self.record: dict = json.loads(self.run_path.read_text()) if self.run_path.exists() else {}
        self.record.setdefault("stages", {})

    def save(self) -> None:
        self.run_path.write_text(json.dumps(self.record, indent=2) + "\n")

    def run(self, jobs: list[tuple[str, Path, list[str]]]) -> None:
        """Run the jobs whose output is missing side by side, splitting the threads among them."""
        todo = [(n, o, c) for n, o, c in jobs if not o.exists()]
        for name, output, _ in jobs:
            if output.exists():
                print(f"[{name}] cached: {output}", file=sys.stderr)
        if not todo:
            return
        threads = max(1, self.threads // len(todo))
        env = {**os.environ, "SWIRL_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        procs = []
        for name, output, cmd in todo:
            print(f"[{name}] {threads} thread(s): {shlex.join(cmd)}", file=sys.stderr, flush=True)
            log = (self.logs / f"{name}.log").open("w")
            log.write(shlex.join(cmd) + "\n")
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            procs.append((name, output, cmd, proc, time.time(), log))
        failed = []
        ended: dict[str, float] = {}  # each stage's own end, not when the loop got to it
        while len(ended) < len(procs):
            for name, *_, proc, _started, _log in procs:
                if name not in ended and proc.poll() is not None:
                    ended[name] = time.time()
            time.sleep(1)
        for name, _output, cmd, proc, started, log in procs:
            code = proc.returncode
            log.close()
            if code != 0:
                why = f"exit {code}"
                if code == -signal.SIGKILL and len(procs) > 1:  # exp9: SFT beside SWiRL at 1536
                    why += ", killed: out of memory beside the other stages? try --one-at-a-time"
                failed.append(f"[{name}] failed ({why}); see {self.logs / name}.log")
                continue
            self.record["stages"][name] = {
                "command": shlex.join(cmd),
                "wall_s": round(ended[name] - started, 1),
                "threads": threads,
                "alongside": [n for n, *_ in todo if n != name],
                "finished": dt.datetime.fromtimestamp(ended[name]).isoformat(timespec="seconds"),
            }
            self.save()
        if failed:
            raise SystemExit("\n".join(failed))

    def evaluate(
        self, dataset: str, models: dict[str, str], limits: dict[str, int], concurrency: int
    ) -> dict[str, dict]:
        """Evaluate each model (name -> spec) on the first ``limits[name]`` questions of the
        dataset's evaluation split, two at a time; copy each per-question outcome file to
        ``RESULTS/DATASET_NAME.jsonl``; return each one's summary."""
        from swirl_agents.datasets import SPLITS

        split = next(s for s in SPLITS[dataset] if s != "train")  # the fixed one, never trained on
        evals = [
            (f"eval_{name}", self.out / "eval" / name / "summary.json", [
                SWIRL, "eval", "--dataset", dataset, "--split", split,
                "--limit", str(limits[name]), "--model", spec,
                "--concurrency", str(concurrency), "--store", str(self.out / "eval_traces.db"),
                "--report", str(self.out / "eval" / name), "--json",
            ])
            for name, spec in models.items()
        ]  # fmt: skip
        for i in range(0, len(evals), 2):
            self.run(evals[i : i + 2])
        summaries = {}
        for name in models:
            report = self.out / "eval" / name
            shutil.copy(report / "results.jsonl", self.results / f"{dataset}_{name}.jsonl")
            summaries[name] = json.loads((report / "summary.json").read_text())
        return summaries

    def adopt_outcomes(self, dataset: str, name: str, path: str | Path) -> Path:
        """Commit outcomes evaluated before (on the same split) as ``RESULTS/DATASET_NAME.jsonl``,
        as if ``evaluate`` had produced them; return that file."""
        target = self.results / f"{dataset}_{name}.jsonl"
        if Path(path).resolve() != target.resolve():
            shutil.copy(path, target)
        return target


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    results = Path(args.results or Path("results") / out.name)
    pipe = Pipeline(out, results, args.threads)
    pipe.record.setdefault("started", dt.datetime.now().isoformat(timespec="seconds"))
    pipe.record["config"] = vars(args)
    pipe.record["hardware"] = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, {_cpu_model()}, no GPU"
    )
    pipe.save()
    S = SWIRL
    data = args.dataset
    boot, warm_data, warm = out / "bootstrap.db", out / "warm_data.jsonl", out / "warm"
    gen_db = out / "generated.db"
    if args.warm:
        warm = args.warm  # a given warm start: nothing to train
    # 1-2. warm start on annotations of the first warm-questions train questions
    pipe.run([] if args.warm else [("bootstrap", out / "bootstrap.done", [
        "sh", "-c", f"{S} generate --from-annotations --dataset {data} --split train "
        f"--limit {args.warm_questions} --store {boot} && touch {out / 'bootstrap.done'}",
    ])])  # fmt: skip
    pipe.run([] if args.warm else [("warm_data", warm_data, [
        S, "filter", "--data", str(boot), "--mode", "process", "--judge", "rule",
        "--out", str(warm_data), "--json",
    ])])  # fmt: skip
    pipe.run([] if args.warm else [("warm", warm / "config.json", [
        S, "train", "--method", "sft", "--data", str(warm_data), "--model", args.base,
        "--max-steps", str(args.warm_steps), "--batch-size", "4", "--lr", str(args.warm_lr),
        "--max-length", str(args.warm_max_length), "--out", str(warm), "--json",
    ])])  # fmt: skip
    # 3. the warm model solves the next rl-questions train questions, samples times each
    pipe.run([("generate", out / "generate.done", [
        "sh", "-c", f"{S} generate --model {warm} --dataset {data} --split train "
        f"--offset {args.warm_questions} --limit {args.rl_questions} --samples {args.samples} "
        f"--temperature {args.temperature} --concurrency {args.concurrency} --store {gen_db} "
        f"--json > {out / 'generate.json'} && touch {out / 'generate.done'}",
    ])])  # fmt: skip
    if args.stop_after == "generate":
        return
    # 4. filters (process is the main run's data; the others for the filtering comparison)
    pipe.run([(f"filter_{mode}", out / f"kept_{mode}.jsonl", [
        S, "filter", "--data", str(gen_db), "--mode", mode, "--judge", args.filter_judge,
        *(["--prefix"] if args.filter_prefix and mode in ("process", "both") else []),
        "--out", str(out / f"kept_{mode}.jsonl"), "--json",
    ]) for mode in FILTER_MODES])  # fmt: skip
    pipe.record["data"] = _data_record(out, pipe.logs)
    pipe.save()
    if args.stop_after == "filter":
        print(json.dumps({"data": pipe.record["data"]}))
        return
    kept = out / "kept_process.jsonl"
    # 5. SFT and SWiRL from the warm model on the same kept trajectories, side by side
    arm = args.swirl_name  # "swirl", or another name for one more arm on the cached data
    train = [
        (name, out / name / "config.json", train_command(m, kept, warm, out / name, args))
        for name, m in (("sft", "sft"), (arm, "swirl"))
    ]
    for jobs in [[job] for job in train] if args.one_at_a_time else [train]:
        pipe.run(jobs)
    # 6. evaluation on the same test questions, two at a time
    # SFT and SWiRL first: their paired comparison is the experiment's question
    models = {"sft": str(out / "sft"), arm: str(out / arm), "warm": str(warm)}
    if args.eval_warm_questions == 0 or args.warm_outcomes:
        del models["warm"]
    if args.eval_base:
        models["base"] = args.base
    # the paired comparisons use the questions both sides answered (the first N of the split)
    limits = {name: args.eval_questions for name in models}
    limits["warm"] = args.eval_warm_questions or args.eval_questions
    summaries = pipe.evaluate(data, models, limits, args.concurrency)
    if args.warm_outcomes:  # evaluated before, on the same split: its outcomes stand in
        pipe.adopt_outcomes(data, "warm", args.warm_outcomes)
        models["warm"] = str(warm)
    # 7. paired comparisons
    from swirl_agents.compare import compare_outcomes

    pairs = [(a, b) for a, b in [("sft", arm), ("warm", arm), ("warm", "sft")]
             if a in models and b in models]  # fmt: skip
    comparisons = {
        f"{b}_vs_{a}": compare_outcomes(
            results / f"{data}_{a}.jsonl", results / f"{data}_{b}.jsonl"
        )
        for a, b in pairs
    }
    (results / "compare.json").write_text(json.dumps(comparisons, indent=2) + "\n")
    pipe.record["pairs"] = pairs  # bench/results_table.py reads them (an arm's own name)
    pipe.record["train"] = {m: _card(out / m) for m in ("warm", "sft", arm)}
    if args.warm:
        pipe.record["train"]["warm"] = {"given": args.warm}
    keep = ("n", "accuracy", "accuracy_ci95", "valid_action_rate", "mean_steps", "answered_rate")
    pipe.record["eval"] = {m: {k: s.get(k) for k in keep} for m, s in summaries.items()}
    pipe.record["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    pipe.save()
    print(json.dumps({"eval": pipe.record["eval"], "compare": comparisons}))


def _card(model_dir: Path) -> dict:
    card = _json(model_dir / "swirl_card.json")
    figures = card.get("figures", {})
    return {
        "trajectories": card.get("trajectories"),
        "steps": card.get("steps"),
        "judge": card.get("judge"),
        "config": card.get("config"),
        "figures": figures,
    }


def _data_record(out: Path, logs: Path) -> dict:
    """What the generate and filter stages produced (their ``--json`` documents)."""
    return {
        "generate": _json(out / "generate.json"),
        "filters": {m: _filter_log(logs / f"filter_{m}.log") for m in FILTER_MODES},
    }


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _filter_log(path: Path) -> dict:
    """The JSON document a ``swirl filter --json`` stage printed (its log's last JSON line)."""
    if not path.exists():
        return {}
    for line in reversed(path.read_text().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
