"""SWiRL, the paper's step-wise RL, on TRL's ``GRPOTrainer``.

J(θ) = E_{s∼T, a∼π_θ(s)} [R(a|s)]: the states s are the steps of the filtered trajectories
(conversational prompts, exactly as the agent sends them), the policy samples fresh actions
(``num_generations`` per state, the group baseline), and a judge scores each action at its state:
R = 1 if GOOD, else 0. A sampled action is cut after its first closed tag before scoring (GRPO does
not stop on strings, so text the model writes after the tag, such as an invented tool result,
earns nothing) and is never executed. A KL term (``beta`` > 0) keeps the policy near the start.

Cold start: on a base model that almost never writes a tagged action the reward is 0 for every
sample, so the group advantage is 0 and nothing is learned (TRL logs ``frac_reward_zero_std`` = 1).
Start from a warm model (SFT on bootstrap trajectories, ``swirl train --method sft``). A warm model
also ends its turn with the end-of-turn token right after the tag, which ends the sample there.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from swirl_agents.protocol import complete_turn
from swirl_agents.traces.schema import Trajectory
from trainer.judges import ProcessJudge, StepContext, step_contexts
from trainer.sft import chat


@dataclass
class SwirlConfig:
    """Settings of :func:`train_swirl` (defaults suit SmolLM2-135M on a CPU)."""

    learning_rate: float = 1e-5  # AdamW learning rate
    epochs: float = 1.0  # passes over the states (ignored when max_steps is set)
    max_steps: int | None = None  # optimizer steps; overrides epochs
    num_generations: int = 4  # sampled actions per state (the group of the baseline)
    prompts_per_step: int = 2  # states per optimizer step
    grad_accum: int = 1  # gradient accumulation steps
    max_completion_length: int = 96  # new tokens per sampled action
    max_prompt_length: int = 1024  # states with longer prompts are left out
    temperature: float = 1.0  # sampling temperature
    beta: float = 0.04  # KL weight toward the starting model (> 0)
    gradient_checkpointing: bool = False  # saves memory on big models, costs time
    lora: bool = False  # train LoRA adapters (merged on export)
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scale
    bf16: bool | None = None  # None: on where the GPU supports it
    seed: int = 0  # sampling and data order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_rows(trajectories: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """One dataset row per state s_i: the chat ``prompt`` and what the judge needs to score a_i."""
    from swirl_agents.protocol import build_messages

    rows = []
    for t in trajectories:
        steps = [s.__dict__ for s in t.steps]
        for i, context in enumerate(step_contexts(t)):
            rows.append(
                {
                    "prompt": chat(build_messages(t.system_prompt, t.question, steps, upto=i)),
                    "question": context.question,
                    "history": json.dumps(context.history),
                    "task": context.task,
                }
            )
    return rows


def judge_reward(judge: ProcessJudge):
    """A GRPO reward function: 1.0 where ``judge`` says the (cut) sampled action is GOOD, else 0."""

    def reward(completions, question, history, task, log_metric=None, **_: Any) -> list[float]:
        contexts = [
            StepContext(q, json.loads(h), complete_turn(_text(c), stopped=False), t)
            for c, q, h, t in zip(completions, question, history, task, strict=True)
        ]
        verdicts = judge.judge_steps(contexts)
        if log_metric is not None:
            log_metric("judge/unknown_frac", sum(v == "unknown" for v in verdicts) / len(verdicts))
        return [1.0 if v == "good" else 0.0 for v in verdicts]

    reward.__name__ = f"judge_{judge.name}".replace("/", "_").replace(":", "_")
    return reward


def _text(completion: Any) -> str:
    """A TRL completion: a list of messages (conversational) or a string."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


def train_swirl(
    model: Any,
    tokenizer: Any,
    trajectories: Sequence[Trajectory],
    judge: ProcessJudge,
    config: SwirlConfig,
) -> tuple[Any, dict[str, Any]]:
    """Run step-wise RL from ``model``; returns (the trained model, figures).

    Args:
        model: a transformers causal LM (the start policy and the KL reference).
        tokenizer: its tokenizer, with a chat template.
        trajectories: the (process-filtered) trajectories whose states are the prompts.
        judge: scores sampled actions (``RuleProcessJudge`` offline, an LLM judge as in the paper).
        config: the settings.
    """
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from swirl_agents.errors import SwirlError, UsageError

    if config.beta <= 0:
        raise UsageError("beta must be > 0: SWiRL keeps a KL term toward the starting model")
    rows = state_rows(trajectories)
    texts = tokenizer.apply_chat_template(
        [r["prompt"] for r in rows], tokenize=False, add_generation_prompt=True
    )
    n_tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    rows = [r for r, n in zip(rows, n_tokens, strict=True) if n <= config.max_prompt_length]
    if not rows:
        raise SwirlError(f"no state of {len(trajectories)} trajectories fits max_prompt_length")
    cuda = torch.cuda.is_available()
    bf16 = config.bf16 if config.bf16 is not None else cuda and torch.cuda.is_bf16_supported()
    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    with tempfile.TemporaryDirectory(prefix="swirl-grpo-") as scratch:
        args = GRPOConfig(
            output_dir=scratch,  # nothing is saved there: the caller exports the model
            learning_rate=config.learning_rate,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps or -1,
            per_device_train_batch_size=config.prompts_per_step * config.num_generations,
            gradient_accumulation_steps=config.grad_accum,
            num_generations=config.num_generations,
            max_completion_length=config.max_completion_length,
            temperature=config.temperature,
            beta=config.beta,
            gradient_checkpointing=config.gradient_checkpointing,
            bf16=bf16,
            use_cpu=not cuda,
            seed=config.seed,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=judge_reward(judge),
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    figures = {
        "method": "swirl",
        "optimizer_steps": trainer.state.global_step,
        "states": len(rows),
        "trajectories": len(trajectories),
        "reward_first": logs[0]["reward"] if logs else None,
        "reward_last": logs[-1]["reward"] if logs else None,
        "reward_mean": sum(e["reward"] for e in logs) / len(logs) if logs else None,
        "frac_reward_zero_std_mean": (
            sum(e.get("frac_reward_zero_std", 0.0) for e in logs) / len(logs) if logs else None
        ),
        "bf16": bf16,
        "rewards": [e["reward"] for e in logs],
        "kl": [e.get("kl") for e in logs],
    }
    return trainer.model, figures
