"""``swirl filter`` and ``swirl train``, added to the ``swirl`` CLI through an entry point."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from swirl_agents.cli.common import (
    BaseUrlOpt,
    JsonOpt,
    LimitOpt,
    ModelOpt,
    check_model,
    cli_errors,
    eprint,
    print_json,
    store_path,
)
from swirl_agents.errors import UsageError

DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Trajectories: a trace store (.db) or a JSONL file (default: the trace store, "
        "$SWIRL_STORE or swirl_traces.db).",
    ),
]
JudgeOpt = Annotated[
    str,
    typer.Option(
        "--judge",
        help="rule (the offline stand-in judge, gold-free), rule-strict (rule, and no answer while "
        "numbers of the question are unused), reference (reads the training questions' reference "
        "solutions: an offline stand-in for a strong judge, refused on evaluation splits), "
        "reference-budget (reference, and a search beyond the question's supporting paragraphs "
        "or a tool call at the last step is BAD), reference-grounded (reference, and a right "
        "answer is BAD until the run has seen its evidence), or a "
        "judge model: an init_chat_model string (google_genai:gemini-2.5-flash), openai:NAME with "
        "--base-url, or a local model.",
    ),
]
VotesOpt = Annotated[
    int, typer.Option("--votes", min=1, help="LLM judge samples per verdict (majority vote).")
]


def _load(data: str, limit: int | None):
    from swirl_agents.traces import load_trajectories

    if "://" not in data and not Path(data).is_file():  # a postgresql:// store is read as it is
        raise UsageError(
            f"--data {data!r}: no such file (a .db trace store or a .jsonl file; without --data "
            "the trace store is read: --store, $SWIRL_STORE or swirl_traces.db)"
        )
    if _is_question_file(data):  # one line, not one "skipped" line per question
        raise UsageError(
            f"--data {data!r} is a question/answer dataset, not trajectories: give it to "
            "`swirl generate --dataset FILE` (or --from-annotations for gsm8k/hotpotqa) first"
        )
    trajectories = load_trajectories(data, limit=limit)
    if not trajectories:
        raise UsageError(f"--data {data!r} holds no trajectories")
    return trajectories


def _is_question_file(data: str) -> bool:
    """Whether a JSONL file's first record is a dataset question (question/answer, no steps)."""
    if "://" in data or not data.endswith(".jsonl"):
        return False
    import json

    try:
        with open(data, encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        record = json.loads(first)
    except (OSError, UnicodeDecodeError, ValueError):
        return False  # the loader reports what is wrong with the file, line by line
    return (
        isinstance(record, dict)
        and {"question", "answer"} <= record.keys()
        and not {"steps", "outcome"} & record.keys()
    )


def _check_judge(judge: str, base_url: str | None) -> None:
    """A judge model's spec, checked before anything loads (the offline judges need none)."""
    from trainer.judges import OFFLINE_JUDGES

    if judge not in OFFLINE_JUDGES:
        check_model(judge, base_url, flag="--judge")
    elif base_url is not None:
        raise UsageError(f"--base-url is for a judge model (openai:NAME), not --judge {judge}")


def _judges(judge: str, base_url: str | None, votes: int, trajectories=()):
    from trainer.judges import READS_GOLD, make_judges

    if judge in READS_GOLD:
        from trainer.reference import refuse_eval_splits

        refuse_eval_splits(trajectories, judge)

    kw = {"base_url": base_url} if base_url else {}
    # Several votes only make sense with sampling.
    return make_judges(judge, votes=votes, temperature=0.7 if votes > 1 else 0.0, **kw)


def filter_command(
    out: Annotated[
        str, typer.Option("--out", help="Where to write the kept trajectories (JSONL).")
    ],
    data: DataOpt = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="none, outcome (correct answer), process (every step GOOD), both."
        ),
    ] = "process",
    judge: JudgeOpt = "rule",
    prefix: Annotated[
        bool,
        typer.Option(
            "--prefix",
            help="process, both: keep each trajectory up to its first step the judge does not "
            "call GOOD, instead of dropping it (a step-level variant, not the paper's).",
        ),
    ] = False,
    base_url: BaseUrlOpt = None,
    votes: VotesOpt = 1,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep the trajectories that pass a filter and write them as JSONL.

    Production traces have no gold answers: filter them with --mode process.
    """
    from swirl_agents.traces import write_jsonl
    from trainer.filters import MODES, filter_trajectories

    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if prefix and mode not in ("process", "both"):
        raise UsageError(
            f"--prefix cuts trajectories at a BAD step: use it with --mode process or both, not {mode}"
        )
    if mode != "none":
        _check_judge(judge, base_url)
    data = data or store_path(None)
    trajectories = _load(data, limit)
    process, outcome = (
        _judges(judge, base_url, votes, trajectories) if mode != "none" else (None, None)
    )
    result = filter_trajectories(
        trajectories,
        mode,  # type: ignore[arg-type]
        process_judge=process,
        outcome_judge=outcome,
        prefix=prefix,
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, result.kept)
    report = {
        "data": data,
        "mode": mode,
        "judge": judge,
        "prefix": prefix,
        "stages": result.stages,
        "step_verdicts": result.verdicts,
        "kept": len(result.kept),
        "out": out,
    }
    if as_json:
        print_json(report)
    else:
        eprint(" -> ".join(f"{k} {v}" for k, v in result.stages.items()))
        if result.verdicts:
            eprint(
                "step verdicts: "
                + ", ".join(f"{k} {v}" for k, v in sorted(result.verdicts.items()))
            )
        eprint(f"wrote {len(result.kept)} trajectories to {out}")


def train_command(
    out: Annotated[str, typer.Option("--out", help="Output directory (weights, tokenizer, card).")],
    data: DataOpt = None,
    method: Annotated[
        str, typer.Option("--method", help="swirl (step-wise RL) or sft (baseline).")
    ] = "swirl",
    model: ModelOpt = "smollm2",
    judge: JudgeOpt = "rule",
    base_url: BaseUrlOpt = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Optimizer steps (smoke runs).")
    ] = None,
    epochs: Annotated[float, typer.Option("--epochs", min=0.0, help="Passes over the data.")] = 1.0,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Learning rate (default: sft 5e-5, swirl 1e-5).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="sft: trajectories per pass; swirl: states per step."
        ),
    ] = None,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", min=1, help="Passes per optimizer step.")
    ] = 1,
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length",
            min=16,
            help="sft: tokens per sequence; swirl: prompt tokens per state (longer states are "
            "left out).",
        ),
    ] = 1024,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="sft: weigh each step 1/K per trajectory.")
    ] = False,
    num_generations: Annotated[
        int, typer.Option("--num-generations", min=2, help="swirl: samples per state.")
    ] = 4,
    max_completion_length: Annotated[
        int, typer.Option("--max-completion-length", min=1, help="swirl: tokens per sample.")
    ] = 96,
    beta: Annotated[
        float, typer.Option("--beta", help="swirl: KL weight toward the start model (> 0).")
    ] = 0.04,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="swirl: sampling temperature.")
    ] = 1.0,
    dynamic_sampling: Annotated[
        bool,
        typer.Option(
            "--dynamic-sampling",
            help="swirl: train only on states whose samples' rewards differ, drawing more "
            "states to fill each step (DAPO's dynamic sampling; equal rewards teach nothing).",
        ),
    ] = False,
    lora: Annotated[
        bool, typer.Option("--lora", help="Train LoRA adapters (merged on export).")
    ] = False,
    lora_r: Annotated[
        int, typer.Option("--lora-r", min=1, help="--lora: the adapters' rank.")
    ] = 16,
    lora_alpha: Annotated[
        int, typer.Option("--lora-alpha", min=1, help="--lora: the adapters' scale (alpha).")
    ] = 32,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="swirl: native (our loop, one prompt pass per state) or trl (TRL's "
            "GRPOTrainer, for multi-GPU runs under accelerate launch).",
        ),
    ] = "native",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model on trajectories with SWiRL (step-wise RL) or SFT; write a directory the agent loads.

    SWiRL needs a warm start: on a base model that never writes tagged actions every reward is 0.
    Train --method sft first, then --method swirl --model SFT_DIR.
    """
    from trainer.checkpoints import export_model, load_base, resolve_base

    if method not in ("swirl", "sft"):
        raise UsageError(f"--method must be swirl or sft, got {method!r}")
    # Checked here, before the data and the base model load (train_swirl checks them only then).
    if method == "swirl":
        if backend not in ("native", "trl"):
            raise UsageError(f"--backend must be native or trl, got {backend!r}")
        if beta <= 0:
            raise UsageError("--beta must be > 0: SWiRL keeps a KL term toward the start model")
        _check_judge(judge, base_url)
    check_model(model)
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out!r} is a file: give a directory for the trained model")
    # Libraries print training logs on stdout; with --json it must hold only our document.
    data = data or store_path(None)
    with contextlib.redirect_stdout(sys.stderr):
        trajectories = _load(data, limit)
        base = resolve_base(model)
        eprint(f"{method}: {len(trajectories)} trajectories from {data}, base {model} ({base})")
        if method == "sft":
            from trainer.sft import SFTConfig, train_sft

            config = SFTConfig(
                epochs=epochs,
                max_steps=max_steps,
                grad_accum=grad_accum,
                max_length=max_length,
                normalize=normalize,
                lora=lora,
                lora_r=lora_r,
                lora_alpha=lora_alpha,
                seed=seed,
                **({"learning_rate": lr} if lr else {}),
                **({"batch_size": batch_size} if batch_size else {}),
            )
            policy, tokenizer = load_base(
                str(base), lora=lora, lora_r=config.lora_r, lora_alpha=config.lora_alpha
            )
            figures = train_sft(policy, tokenizer, trajectories, config)
            description = "supervised fine-tuning on the recorded actions (the paper's baseline)"
            judge_name = None
        else:
            from trainer.swirl import SwirlConfig, train_swirl

            config = SwirlConfig(
                epochs=epochs,
                max_steps=max_steps,
                grad_accum=grad_accum,
                num_generations=num_generations,
                max_completion_length=max_completion_length,
                max_prompt_length=max_length,
                beta=beta,
                temperature=temperature,
                dynamic_sampling=dynamic_sampling,
                lora=lora,
                lora_r=lora_r,
                lora_alpha=lora_alpha,
                backend=backend,
                seed=seed,
                **({"learning_rate": lr} if lr else {}),
                **({"prompts_per_step": batch_size} if batch_size else {}),
            )
            process_judge, _ = _judges(judge, base_url, 1, trajectories)
            policy, tokenizer = load_base(str(base))
            policy, figures = train_swirl(policy, tokenizer, trajectories, process_judge, config)
            description = (
                "step-wise RL: fresh actions sampled at the trajectories' states, rewarded by the "
                "judge, group baseline and KL toward the start model"
            )
            judge_name = f"{judge} (process, GOOD=1)"
            if figures.get("frac_reward_zero_std_mean") == 1.0:
                eprint(
                    "warning: every group of samples got the same reward, so nothing was learned; "
                    "warm-start the model with --method sft first"
                )
        card = {
            "method": method,
            "method_description": description,
            "base_model": model,
            "base_path": str(base),
            "data": data,
            "trajectories": len(trajectories),
            "steps": sum(len(t.steps) for t in trajectories),
            "sources": dict(Counter(t.source for t in trajectories)),
            "datasets": dict(Counter(str(t.dataset) for t in trajectories)),
            "judge": judge_name,
            "config": config.to_dict(),
            "figures": figures,
        }
        from accelerate import PartialState

        if not PartialState().is_main_process:  # under `accelerate launch`: one process writes
            return
        export_model(policy, tokenizer, out, card)
    summary = {k: v for k, v in figures.items() if not isinstance(v, list)}
    if as_json:
        print_json({"out": out, "method": method, "base_model": model, **summary})
    else:
        eprint(", ".join(f"{k} {v}" for k, v in summary.items()))
        eprint(f"wrote {out}: serve it with swirl ask --model {out}")


def register(app: typer.Typer) -> None:
    """Add ``filter`` and ``train`` to the ``swirl`` app."""
    app.command("filter")(cli_errors(filter_command))
    app.command("train")(cli_errors(train_command))
