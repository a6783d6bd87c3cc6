"""Checkpoints in and out: load a base model to train, export a directory the agent serves.

An output directory holds merged weights (LoRA adapters are merged), the tokenizer with its
chat template, ``swirl_card.json`` (method, data, settings, figures) and a README model card.
``swirl_agents.models.load_chat_model(DIR)`` and ``swirl ask --model DIR`` load it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

CARD_FILE = "swirl_card.json"


def resolve_base(spec: str) -> Path:
    """A plain HF checkpoint directory for ``spec``: a directory, or ``smollm2`` (the embedded default)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    from swirl_agents.models import local_model_path  # converts the embedded model on first use

    return Path(local_model_path(spec))


def load_base(
    spec: str,
    *,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    device: str | None = None,
):
    """(model, tokenizer) to train; with ``lora``, the model wrapped in LoRA adapters (all linear layers).

    Args:
        spec: a checkpoint directory or ``smollm2``.
        lora: train adapters instead of all weights.
        lora_r: LoRA rank.
        lora_alpha: LoRA scale.
        device: ``cuda``, ``cpu``, ...; default: this process's device (its own GPU under
            ``accelerate launch``, the CPU without one).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from swirl_agents.errors import UsageError

    path = resolve_base(spec)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise UsageError(f"the tokenizer in {path} has no chat template")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if device is None:
        from accelerate import PartialState

        # cpu=True on a machine without GPUs: under torchrun that is gloo DDP over CPU processes
        device = PartialState(cpu=not torch.cuda.is_available()).device
    model.to(device)
    if lora:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=lora_r, lora_alpha=lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        model = get_peft_model(model, config)
    return model, tokenizer


def export_model(model: Any, tokenizer: Any, out: str | Path, card: dict[str, Any]) -> Path:
    """Write ``out``: merged weights, tokenizer, ``swirl_card.json`` and README.md; returns ``out``.

    Args:
        model: the trained model (a peft model is merged first).
        tokenizer: its tokenizer.
        out: the output directory (created; files in it are replaced).
        card: method, base model, data, settings and figures to record.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    card = {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **card}
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    (out / "README.md").write_text(model_card(card))
    return out


def model_card(card: dict[str, Any]) -> str:
    """A short README for an output directory, from its card."""
    figures = card.get("figures", {})
    rows = "\n".join(f"| {k} | {v} |" for k, v in figures.items() if not isinstance(v, list))
    settings = json.dumps(card.get("config", {}), indent=2)
    return f"""# {card.get("method", "?")} model trained with swirl-agents

- Method: **{card.get("method")}** ({card.get("method_description", "")})
- Base model: `{card.get("base_model")}`
- Data: `{card.get("data")}` ({card.get("trajectories")} trajectories, {card.get("steps")} step states)
- Judge: {card.get("judge", "-")}

Serve it with the agent: `swirl ask --model DIR "..."` or
`create_swirl_agent(load_chat_model("DIR"), tools)`.

## Figures
| figure | value |
|---|---|
{rows}

## Settings
```json
{settings}
```
"""
