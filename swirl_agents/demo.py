"""The quickstart pipeline (``make demo``): bootstrap, filter, train, and evaluate base vs trained.

On the embedded SmolLM2-135M-Instruct and a budget for 2 CPU cores:

1. bootstrap annotation trajectories from GSM8K train (calculator annotations -> tool calls);
2. keep the ones a judge finds GOOD at every step (``swirl filter --mode process --judge rule``);
3. fine-tune the model on them (``swirl train --method sft``; ``--swirl-steps N`` adds SWiRL);
4. evaluate base and trained on the first GSM8K test questions and print the comparison.

Each stage's output lands in ``--out`` and a rerun skips finished stages. The trainer is reached
through the ``swirl`` command (``swirl_agents`` never imports ``trainer``); without it installed,
the demo shows the agent answering one question with the calculator.

    python -m swirl_agents.demo [--out runs/demo] [--train 200] [--sft-steps 10] [--eval 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from swirl_agents.errors import SwirlError

QUESTION = (
    "A baker makes 48 muffins in the morning and sells 3/4 of them. In the afternoon she bakes "
    "24 more. How many muffins does she have at the end of the day?"
)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _swirl_command() -> list[str]:
    """The ``swirl`` console script of this environment."""
    script = Path(sys.executable).parent / "swirl"
    found = str(script) if script.exists() else shutil.which("swirl")
    if not found:
        raise SwirlError("the `swirl` command is not installed (pip install -e .)")
    return [found]


def _run(name: str, done: Path, args: list[str]) -> None:
    """Run ``swirl ARGS`` unless ``done`` exists; its progress bars show on stderr."""
    if done.exists():
        _say(f"[{name}] done already: {done}")
        return
    cmd = [*_swirl_command(), *args]
    _say(f"[{name}] {shlex.join(['swirl', *args])}")
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SwirlError(f"stage {name} failed: {shlex.join(cmd)}")


def ask_one(model: str = "smollm2") -> None:
    """Issue 2's demo: the agent answers one GSM8K-style question with the calculator."""
    from swirl_agents.agent import create_swirl_agent
    from swirl_agents.models import load_chat_model
    from swirl_agents.tools import load_tools

    agent = create_swirl_agent(load_chat_model(model), load_tools(["calculator"]), max_steps=10)
    state = agent.invoke({"question": QUESTION})
    for step in state["steps"]:
        _say(f"step {step.index + 1} [{step.kind}] {step.text.strip()}")
        if step.observation:
            _say(f"  -> {step.observation}")
    print(f"answer: {state['answer']} ({state['outcome']})")


def pipeline(
    out: Path,
    n_train: int,
    n_eval: int,
    swirl_steps: int,
    concurrency: int,
    sft_steps: int = 10,
    batch_size: int = 2,
    lr: float = 2e-4,
) -> None:
    """Bootstrap -> filter -> train -> evaluate base vs trained; prints the comparison table.

    Args:
        out: the output directory (finished stages are skipped on a rerun).
        n_train: GSM8K train solutions converted into trajectories.
        n_eval: GSM8K test questions each model answers.
        swirl_steps: SWiRL optimiser steps after SFT (0: SFT only).
        concurrency: agent runs batched together in evaluation.
        sft_steps: SFT optimiser steps (each on ``batch_size`` trajectories).
        batch_size: trajectories per SFT step.
        lr: the SFT learning rate (high, since the budget is a few steps).
    """
    from swirl_agents.bootstrap import bootstrap
    from swirl_agents.evaluate import evaluate_dataset
    from swirl_agents.report import markdown_table, plot_accuracy
    from swirl_agents.traces.jsonl import write_jsonl
    from swirl_agents.traces.store import open_store

    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    data, kept = out / "bootstrap.jsonl", out / "filtered.jsonl"
    if not data.exists():
        _say(f"[bootstrap] {n_train} GSM8K train solutions -> calculator trajectories")
        result = bootstrap("gsm8k", "train", limit=n_train)
        write_jsonl(data, result.trajectories)
        _say(f"[bootstrap] {len(result.trajectories)} converted, skipped {dict(result.skipped)}")
    _run("filter", kept, ["filter", "--data", str(data), "--mode", "process", "--judge", "rule",
                          "--out", str(kept)])  # fmt: skip
    trained = out / "sft"
    _run("sft", trained / "config.json", ["train", "--method", "sft", "--data", str(kept),
         "--model", "smollm2-base", "--max-steps", str(sft_steps), "--batch-size", str(batch_size), "--lr", str(lr),
         "--out", str(trained)])  # fmt: skip
    if swirl_steps:
        sft, trained = trained, out / "swirl"
        _run("swirl", trained / "config.json", ["train", "--method", "swirl", "--data", str(kept),
             "--model", str(sft), "--judge", "rule", "--max-steps", str(swirl_steps),
             "--out", str(trained)])  # fmt: skip
    summaries = []
    store = open_store(str(out / "eval_traces.db"))
    try:
        for label, spec in (("base", "smollm2-base"), (trained.name, str(trained))):
            cached = out / f"eval_{label}_{n_eval}.json"  # a rerun reuses finished evaluations
            if cached.exists():
                _say(f"[eval] {label}: cached ({cached})")
                summaries.append(json.loads(cached.read_text()))
                continue
            _say(f"[eval] {label} on the first {n_eval} GSM8K test questions")
            report = evaluate_dataset(
                "gsm8k", "test", model=spec, limit=n_eval, concurrency=concurrency, store=store
            )
            summaries.append({**report.summary, "label": label})
            cached.write_text(json.dumps(summaries[-1], default=str))
    finally:
        store.close()
    plot = plot_accuracy(summaries, out / "accuracy.png", "GSM8K test: base vs trained")
    print(markdown_table(summaries))
    print(f"\nplot: {plot}; eval traces: {out / 'eval_traces.db'}; {time.time() - started:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m swirl_agents.demo",
        description="Quickstart: bootstrap, filter, train, evaluate base vs trained.",
    )
    parser.add_argument("--out", default="runs/demo", help="output directory (stages cached)")
    parser.add_argument("--train", type=int, default=200, help="GSM8K train solutions to convert")
    parser.add_argument("--eval", type=int, default=8, help="GSM8K test questions to evaluate")
    parser.add_argument("--sft-steps", type=int, default=10, help="SFT optimiser steps")
    parser.add_argument("--batch-size", type=int, default=2, help="trajectories per SFT step")
    parser.add_argument("--lr", type=float, default=2e-4, help="SFT learning rate")
    parser.add_argument(
        "--swirl-steps", type=int, default=0, help="SWiRL steps after SFT (0: none)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="agent runs batched together")
    parser.add_argument("--ask", action="store_true", help="only run the agent on one question")
    args = parser.parse_args(argv)
    try:
        if args.ask or importlib.util.find_spec("trainer") is None:
            if not args.ask:
                _say("the trainer is not installed: showing the agent on one question instead")
            ask_one()
        else:
            pipeline(
                Path(args.out),
                args.train,
                args.eval,
                args.swirl_steps,
                args.concurrency,
                args.sft_steps,
                args.batch_size,
                args.lr,
            )
    except SwirlError as exc:
        _say(f"error: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
