"""SFT, the paper's baseline: teacher forcing on the recorded actions, loss on action tokens only.

The K step examples of one trajectory share prefixes (s_{i+1} = s_i + a_i + result), so we
tokenize the whole conversation once, mark each action's tokens with a span, and take one
forward pass. The reduction is the one of K separate examples: token mean within each step,
then a weighted mean over steps (weight 1, or 1/K with per-trajectory normalisation).
``tokenize_trajectory`` checks, step by step, that the full conversation's tokens start with
each per-step example's tokens (chat template boundaries), and falls back to K separate
sequences for a trajectory where they do not.

The loop runs under ``accelerate``: alone it is a plain torch loop; under ``accelerate launch``
each process takes its own share of the batches and gradients are averaged across processes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tqdm.auto import tqdm

from swirl_agents.traces.schema import Trajectory
from trainer.examples import chat, step_examples  # noqa: F401 - chat: re-exported


@dataclass
class SFTConfig:
    """Settings of :func:`train_sft` (defaults suit SmolLM2-135M on a CPU)."""

    learning_rate: float = 5e-5  # AdamW learning rate
    epochs: float = 1.0  # passes over the trajectories (ignored when max_steps is set)
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 4  # trajectories per forward pass (per process under accelerate launch)
    grad_accum: int = 1  # forward passes per optimizer step
    max_length: int = 1024  # tokens per sequence; steps past it are dropped
    normalize: bool = False  # weigh each step 1/K (per-trajectory normalisation)
    prefix_shared: bool = True  # one pass per trajectory; False trains on K separate examples
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_ratio: float = 0.05  # share of steps with a linear warm-up
    max_grad_norm: float = 1.0  # gradient clipping
    lora: bool = False  # train LoRA adapters (merged on export) instead of all weights
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scale
    bf16: bool | None = None  # bf16 autocast; None: on where the GPU supports it
    seed: int = 0  # shuffling, initialisation of adapters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainSequence:
    """One token sequence with the spans of the action tokens that carry the loss."""

    input_ids: list[int]
    spans: list[tuple[int, int]]  # [start, end) token ranges of actions a_i
    weights: list[float]  # one per span


@dataclass
class TokenizeStats:
    """What tokenization kept and dropped."""

    trajectories: int = 0  # trajectories with at least one trainable step
    steps: int = 0  # steps kept
    dropped_steps: int = 0  # steps past max_length
    fallback_trajectories: int = 0  # trajectories split into K sequences (template not prefix-safe)
    tokens: int = 0  # tokens in all sequences


def _ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def tokenize_trajectory(
    tokenizer: Any,
    trajectory: Trajectory,
    *,
    normalize: bool = False,
    prefix_shared: bool = True,
    max_length: int | None = None,
) -> list[TrainSequence]:
    """The training sequences of one trajectory: one with K spans (prefix-shared), or K with one.

    Step i's example is s_i + a_i as ``StepExample.render`` writes it (the chat template; for a
    tool-call run the tool schemas and ``<tool_call>`` blocks too); its loss tokens are those
    after s_i with the generation prompt. With ``prefix_shared`` the full conversation is used
    when each step's example tokens are a prefix of it (else K sequences).

    Args:
        tokenizer: a tokenizer with a chat template.
        trajectory: the recorded run.
        normalize: span weights 1/K instead of 1.
        prefix_shared: pack the K steps into one sequence.
        max_length: drop steps whose tokens end past this length.
    """
    pairs = step_examples(trajectory, normalize=normalize)
    k = len(pairs)
    if not k:
        return []
    weight = pairs[0].weight
    texts = [e.render(tokenizer) for e in pairs]
    prompts = _ids(tokenizer, [prompt for prompt, _ in texts])
    examples = _ids(tokenizer, [example for _, example in texts])
    for i, (prompt, example) in enumerate(zip(prompts, examples, strict=True)):
        if example[: len(prompt)] != prompt:
            raise ValueError(
                f"trajectory {trajectory.id} step {i}: the chat template's prompt is not a prefix "
                "of the prompt + action, so the action tokens cannot be told apart"
            )
    spans = [(len(p), len(e)) for p, e in zip(prompts, examples, strict=True)]
    keep = [i for i in range(k) if spans[i][1] <= (max_length or math.inf)]  # a prefix of steps
    full = examples[-1]
    if prefix_shared and all(full[: len(e)] == e for e in examples):
        if not keep:
            return []
        return [
            TrainSequence(
                full[: spans[keep[-1]][1]], [spans[i] for i in keep], [weight] * len(keep)
            )
        ]
    return [TrainSequence(examples[i], [spans[i]], [weight]) for i in keep]


def batch_loss(
    model: Any,
    sequences: Sequence[TrainSequence],
    *,
    pad_id: int = 0,
    total_weight: float | None = None,
) -> tuple[Any, Any]:
    """One forward pass over ``sequences``: (loss, per-step losses).

    Step loss = mean token NLL of its span; loss = sum(w_s * step_loss_s) / total_weight
    (default: the sum of the weights here, so equal weights give the mean over steps). Logits are
    computed only where an action token is predicted (``logits_to_keep``), which saves most of
    the lm-head cost on long contexts.
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    width = max(len(s.input_ids) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    # Position t - 1 predicts token t, so an action span [a, b) is read at a - 1 .. b - 2.
    positions = sorted({t - 1 for s in sequences for a, b in s.spans for t in range(a, b)})
    column = {p: j for j, p in enumerate(positions)}
    targets = torch.full((len(sequences), len(positions)), -100, dtype=torch.long)
    step_of = torch.zeros_like(targets)
    weights: list[float] = []
    for row, seq in enumerate(sequences):
        ids[row, : len(seq.input_ids)] = torch.tensor(seq.input_ids)
        mask[row, : len(seq.input_ids)] = 1
        for (a, b), w in zip(seq.spans, seq.weights, strict=True):
            cols = [column[t - 1] for t in range(a, b)]
            targets[row, cols] = ids[row, a:b]
            step_of[row, cols] = len(weights)
            weights.append(w)
    logits = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        logits_to_keep=torch.tensor(positions, device=device),
    ).logits
    flat_targets = targets.reshape(-1).to(device)
    valid = flat_targets != -100
    nll = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1])[valid], flat_targets[valid], reduction="none"
    )
    steps = step_of.reshape(-1).to(device)[valid]
    sums = torch.zeros(len(weights), device=device).index_add(0, steps, nll)
    counts = torch.zeros(len(weights), device=device).index_add(0, steps, torch.ones_like(nll))
    step_losses = sums / counts
    w = torch.tensor(weights, device=device)
    return (w * step_losses).sum() / (total_weight or w.sum()), step_losses.detach()


def tokenize_all(
    tokenizer: Any, trajectories: Sequence[Trajectory], config: SFTConfig
) -> tuple[list[list[TrainSequence]], TokenizeStats]:
    """Each trajectory's training sequences (empty ones left out), and what was kept."""
    stats = TokenizeStats()
    units = []
    for trajectory in tqdm(trajectories, desc="tokenize", unit="traj", leave=False):
        seqs = tokenize_trajectory(
            tokenizer,
            trajectory,
            normalize=config.normalize,
            prefix_shared=config.prefix_shared,
            max_length=config.max_length,
        )
        kept = sum(len(s.spans) for s in seqs)
        stats.steps += kept
        stats.dropped_steps += len(trajectory.steps) - kept
        stats.tokens += sum(len(s.input_ids) for s in seqs)
        if seqs:
            units.append(seqs)
            stats.trajectories += 1
            stats.fallback_trajectories += config.prefix_shared and len(seqs) > 1
    return units, stats


def train_sft(
    model: Any, tokenizer: Any, trajectories: Sequence[Trajectory], config: SFTConfig
) -> dict[str, Any]:
    """Fine-tune ``model`` in place on the recorded actions of ``trajectories``; returns figures.

    Args:
        model: a transformers causal LM (or a peft model), already on its device.
        tokenizer: its tokenizer, with a chat template.
        trajectories: the (filtered) trajectories.
        config: the settings.
    """
    import torch
    from accelerate import Accelerator
    from transformers import get_scheduler, set_seed

    from swirl_agents.errors import SwirlError
    from swirl_agents.models.threads import claim_threads, refresh_threads

    claim_threads()  # torch threads for this job, given the other jobs on this machine
    # One process: a no-op. Under `accelerate launch` or torchrun: DDP (gloo over CPU processes).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    units, stats = tokenize_all(tokenizer, trajectories, config)
    if not units:
        raise SwirlError(
            f"no trainable step in {len(trajectories)} trajectories (max_length {config.max_length})"
        )
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = math.ceil(len(units) / (config.batch_size * config.grad_accum * world))
    total = config.max_steps or max(1, math.ceil(config.epochs * per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler("linear", optimizer, int(config.warmup_ratio * total), total)
    ddp_model, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    bf16 = (
        config.bf16
        if config.bf16 is not None
        else device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # Every process draws the same shuffled batches and keeps every world-th one.
    batches = itertools.islice(
        _batches(units, config.batch_size, random.Random(config.seed)), rank, None, world
    )
    losses: list[float] = []
    ddp_model.train()
    bar = tqdm(range(total), desc="sft", unit="step", disable=not accelerator.is_main_process)
    for _ in bar:
        refresh_threads()  # follow other jobs starting and ending (checks every few seconds)
        micro = [next(batches) for _ in range(config.grad_accum)]
        total_weight = sum(w for batch in micro for s in batch for w in s.weights)
        step_loss = 0.0
        for i, batch in enumerate(micro):
            # gradients are averaged across processes once per optimizer step, not per micro-batch
            last = i == len(micro) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(ddp_model):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss, _ = batch_loss(ddp_model, batch, pad_id=pad_id, total_weight=total_weight)
                accelerator.backward(loss)
            step_loss += loss.item()
        accelerator.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss = accelerator.reduce(torch.tensor(step_loss, device=device), "mean").item()
        losses.append(step_loss)
        bar.set_postfix(loss=f"{step_loss:.4f}")
    model.eval()
    return {
        "method": "sft",
        "optimizer_steps": total,
        "processes": world,
        "epochs": round(total / per_epoch, 3),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "losses": losses,
        "bf16": bf16,
        **asdict(stats),
    }


def _batches(units: list[list[TrainSequence]], size: int, rng: random.Random):
    """Endless batches of ``size`` trajectories (their sequences), reshuffled every epoch."""
    while True:
        order = units[:]
        rng.shuffle(order)
        for i in range(0, len(order), size):
            yield [seq for unit in order[i : i + size] for seq in unit]
