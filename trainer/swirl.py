"""SWiRL, the paper's step-wise RL: single-step, on-policy RL over an offline set of states.

J(θ) = E_{s∼T, a∼π_θ(s)} [R(a|s)]. The states s are the steps of the filtered trajectories
(conversational prompts, exactly as the agent sends them). At each optimizer step we take
``prompts_per_step`` states, sample ``num_generations`` fresh actions per state, cut each after
its first closed tag (the agent's stop sequence: text after it, such as an invented tool result,
is never part of the action) and let a judge score it (R = 1 if GOOD, else 0). The sampled action
is never executed. The update, written out in :func:`swirl_loss`:

    A_j    = (R_j - mean_group(R)) / (std_group(R) + eps)        group baseline (GRPO)
    ratio  = π_θ(a_t|s, a_<t) / sg[π_θ(a_t|s, a_<t)]             = 1, carries the gradient
    KL_t   = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          k3 estimator, toward the start
    loss   = mean_j [ mean_t ( -(ratio * A_j) + beta * KL_t ) ]

The K samples of one state share its prompt: it is run once, with gradient, and its keys/values
serve the K completions; sampling reads a detached copy of that pass (repeated K times, freed
when decoding ends) and the loss the pass itself. So a state costs one prompt pass instead of 2K
(K to sample, K for the loss), and the gradient is exact (it flows through the shared pass).
Finished samples leave the decoding batch. The loss, a mean over samples, is backpropagated
state by state (:func:`swirl_backward`): one state's completion graph is alive at a time, not
the batch's. The reference model (for the KL term) makes one more prompt pass per state, without
gradient.

Cold start: on a base model that never writes a tagged action every reward is 0, every advantage
is 0 and nothing is learned (``frac_reward_zero_std`` = 1). Start from a warm model (SFT on
bootstrap trajectories, ``swirl train --method sft``).

``backend="trl"`` runs the same objective on TRL's ``GRPOTrainer`` instead (multi-GPU under
``accelerate launch``; it samples every row with its own prompt pass).
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tqdm.auto import tqdm

from swirl_agents.protocol import complete_turn
from swirl_agents.traces.schema import Step, Trajectory
from trainer.examples import iter_step_examples
from trainer.judges import ProcessJudge, StepContext
from trainer.sft import chat

# The agent stops generation at the first closing tag (DESIGN section 3); so does the sampler.
_CLOSED_TAG = re.compile(r"</(search_query|math_exp|answer)>")
_CALL_END = "</tool_call>"  # toolcalls.CLOSE (that module loads LangChain messages)


@dataclass
class SwirlConfig:
    """Settings of :func:`train_swirl` (defaults suit SmolLM2-135M on a CPU)."""

    learning_rate: float = 1e-5  # AdamW learning rate
    epochs: float = 1.0  # passes over the states (ignored when max_steps is set)
    max_steps: int | None = None  # optimizer steps; overrides epochs
    num_generations: int = 4  # sampled actions per state (the group of the baseline)
    prompts_per_step: int = 2  # states per optimizer step
    grad_accum: int = 1  # batches of states per optimizer step
    max_completion_length: int = 96  # new tokens per sampled action
    max_prompt_length: int = 1024  # states with longer prompts are left out
    temperature: float = 1.0  # sampling temperature
    beta: float = 0.04  # KL weight toward the starting model (> 0)
    scale_rewards: bool = True  # divide advantages by the group's std (GRPO); False: Dr. GRPO
    dynamic_sampling: bool = False  # train only on states whose K rewards differ (DAPO)
    max_draws: int = 4  # dynamic sampling: at most this many states drawn per state wanted
    max_grad_norm: float = 1.0  # gradient clipping
    gradient_checkpointing: bool = False  # saves memory on big models, costs time
    lora: bool = False  # train LoRA adapters (merged on export)
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scale
    bf16: bool | None = None  # None: on where the GPU supports it
    backend: str = "native"  # native (this file's loop) or trl (TRL's GRPOTrainer)
    seed: int = 0  # sampling and data order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_rows(trajectories: Sequence[Trajectory], tokenizer: Any = None) -> list[dict[str, Any]]:
    """One row per state s_i: the chat ``prompt`` and what the judge needs to score a_i.

    The row is a dataset row (TRL passes its columns to the reward function), so ``history``,
    the steps before s_i, is their records' JSON (``Step.to_dict``), read back by the reward,
    and ``tools`` the bound tools' schemas as JSON for a native tool-call run ("" for the tag
    protocol). With a ``tokenizer``, ``text`` is the prompt as the model reads it
    (``StepExample.render``: for a tool-call run with the schemas and ``<tool_call>`` turns,
    which the ``prompt`` messages cannot show)."""
    return [
        {
            "prompt": chat(e.messages),
            "question": e.question,
            "history": json.dumps([s.to_dict() for s in e.history], ensure_ascii=False),
            "task": e.task,
            "tools": "" if e.tag_protocol else json.dumps(e.tools, ensure_ascii=False),
            "max_steps": e.max_steps or 0,  # 0: the run's budget was not recorded
            **({"text": e.prompt_text(tokenizer)} if tokenizer is not None else {}),
        }
        for e in iter_step_examples(trajectories)
    ]


def judge_reward(judge: ProcessJudge):
    """A reward function (TRL's signature): 1.0 where ``judge`` says the cut action is GOOD.
    A row with ``tools`` is a tool-call state: its action is judged as the reply it is (the
    tag cut does not apply), with the tools' schemas."""

    def reward(
        completions, question, history, task, tools=None, max_steps=None, log_metric=None, **_: Any
    ) -> list[float]:
        tools = tools or [""] * len(completions)
        budgets = max_steps or [0] * len(completions)
        contexts = [
            StepContext(
                q, _steps(h), complete_turn(_text(c), stopped=False), t, max_steps=b or None
            )
            if not s
            else StepContext(
                q, _steps(h), _text(c), t, tool_calls=True, tools=json.loads(s), max_steps=b or None
            )
            for c, q, h, t, s, b in zip(
                completions, question, history, task, tools, budgets, strict=True
            )
        ]
        verdicts = judge.judge_steps(contexts)
        if log_metric is not None:
            log_metric("judge/unknown_frac", sum(v == "unknown" for v in verdicts) / len(verdicts))
        return [1.0 if v == "good" else 0.0 for v in verdicts]

    reward.__name__ = f"judge_{judge.name}".replace("/", "_").replace(":", "_")
    return reward


def _steps(history: str) -> list[Step]:
    """A row's ``history`` column back as the Step records it was written from."""
    return [Step.from_dict(s) for s in json.loads(history)]


def _text(completion: Any) -> str:
    """A completion: a list of messages (conversational) or a string."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


# --- the objective ------------------------------------------------------------------------------


def group_advantages(rewards: Any, k: int, scale: bool = True, eps: float = 1e-4) -> Any:
    """A_j = R_j - mean of its group of ``k`` (divided by the group's std when ``scale``)."""
    groups = rewards.view(-1, k)
    centered = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        centered = centered / (groups.std(dim=1, keepdim=True) + eps)
    return centered.reshape(-1)


def swirl_loss(
    logp: Any, ref_logp: Any, advantages: Any, mask: Any, beta: float
) -> tuple[Any, dict[str, float]]:
    """The SWiRL loss of a batch of sampled actions (token log-probs [N, T], mask [N, T]).

    Policy gradient with the group baseline plus a k3 KL penalty toward the reference, token
    mean within each action, then mean over actions: every state (and sample) weighs the same.
    """
    import torch

    ratio = torch.exp(logp - logp.detach())  # 1 in value; d ratio = d logp (on-policy)
    delta = ref_logp - logp
    kl = torch.exp(delta) - delta - 1
    per_token = -(ratio * advantages[:, None]) + beta * kl
    lengths = mask.sum(dim=1).clamp(min=1)
    loss = ((per_token * mask).sum(dim=1) / lengths).mean()
    mean_kl = ((kl * mask).sum(dim=1) / lengths).mean()
    return loss, {"kl": mean_kl.item()}


# --- shared-prompt sampling and log-probs --------------------------------------------------------


def _run_prompts(model: Any, prompts: Sequence[Sequence[int]], pad_id: int) -> list[tuple]:
    """One pass per prompt, unpadded: its (last logits [1, V], cache, mask, next position).
    The prompt's K samples read it through :func:`_for_sampling` and :func:`_state_logprobs`,
    which repeat only what each needs; a pass of its own lets its graph be freed as soon as its
    samples' loss is backpropagated (and no compute or memory goes to padding)."""
    import torch

    from swirl_agents.models import engine  # the serving engine's cache conventions

    device = next(model.parameters()).device
    passes = []
    for prompt in prompts:
        ids = torch.tensor([list(prompt)], device=device)
        # only the last position's logits are needed: the vocabulary projection of every
        # prompt token would cost compute and, with gradient, hundreds of MB per state
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        next_position = torch.tensor([len(prompt)], device=device)
        passes.append(
            (out.logits[:, -1], engine.output_cache(out), torch.ones_like(ids), next_position)
        )
    return passes


def _cache_of(cache: Any, tensors: Sequence[tuple[Any, Any]]) -> Any:
    """A cache like ``cache`` holding ``tensors`` (keys, values per layer): a pass that reads
    it appends to the new one, never to ``cache``."""
    clone = copy.copy(cache)
    clone.layers = []
    for layer, (keys, values) in zip(cache.layers, tensors, strict=True):
        fresh = copy.copy(layer)
        fresh.keys, fresh.values = keys, values
        clone.layers.append(fresh)
    return clone


def _for_sampling(passes: Sequence[tuple], k: int) -> tuple:
    """The prompt passes as one left-padded batch cut from the graph, each row repeated ``k``
    times (row r*k + j is sample j of prompt r), for decoding; it is freed when decoding ends."""
    import torch

    width = max(mask.shape[1] for _, _, mask, _ in passes)

    def rows(tensors, dim):  # each prompt's row left-padded (zeros) to the width, k times
        def left(t):
            shape = list(t.shape)
            shape[dim] = width - t.shape[dim]
            return torch.cat([t.new_zeros(shape), t.detach()], dim=dim)

        return torch.cat([left(t) for t in tensors]).repeat_interleave(k, 0)

    caches = [cache for _, cache, _, _ in passes]
    kv = [
        (rows([c.layers[i].keys for c in caches], 2), rows([c.layers[i].values for c in caches], 2))
        for i in range(len(caches[0].layers))
    ]
    return (
        torch.cat([last.detach() for last, _, _, _ in passes]).repeat_interleave(k, 0),
        _cache_of(caches[0], kv),
        rows([mask for _, _, mask, _ in passes], 1),
        torch.cat([position for _, _, _, position in passes]).repeat_interleave(k),
    )


def _decode(
    model: Any, tokenizer: Any, prompt: tuple, *, max_new_tokens: int, temperature: float,
    generator: Any = None,
) -> list[list[int]]:  # fmt: skip
    """Sample from a prompt pass until each row writes the end-of-turn token or closes a tag;
    finished rows leave the batch, so the last long sample does not carry the others."""
    import torch

    from swirl_agents.models import engine

    logits, cache, mask, positions = prompt
    eos = engine.eos_ids(model, tokenizer)  # where the agent's engine stops a turn
    cache_kw = engine.cache_argument(model)  # once, not per token
    out: list[list[int]] = [[] for _ in range(logits.shape[0])]
    active = list(range(logits.shape[0]))  # row of out for each batch row
    with torch.no_grad():
        for _ in range(max_new_tokens):
            probs = torch.softmax(logits.float() / max(temperature, 1e-5), dim=-1)
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            keep = []
            for i, t in enumerate(tokens.tolist()):
                row = out[active[i]]
                if t in eos:
                    continue
                row.append(t)
                if not _CLOSED_TAG.search(tokenizer.decode(row[-12:])):  # a tag is a few tokens
                    keep.append(i)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=tokens.device)
                cache.batch_select_indices(index)
                tokens, mask, positions = tokens[index], mask[index], positions[index]
                active = [active[i] for i in keep]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            step = model(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=positions[:, None],
                **{cache_kw: cache},
                use_cache=True,
            )
            logits, positions = step.logits[:, -1], positions + 1
    return out


def sample_actions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    k: int,
    *,
    max_new_tokens: int,
    temperature: float,
    generator: Any = None,
) -> list[list[int]]:
    """``k`` sampled completions per prompt (token ids; row r*k + j is sample j of prompt r),
    each ending at the end-of-turn token or at its first closed tag, from one prompt pass."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        passes = _run_prompts(model, prompts, pad_id)
    return _decode(
        model, tokenizer, _for_sampling(passes, k), max_new_tokens=max_new_tokens,
        temperature=temperature,
        generator=generator,
    )  # fmt: skip


def _completion_logprobs(
    model: Any, prompt: tuple, completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[Any, Any]:
    """Token log-probs [N, T] of the completions after a prompt pass with one row per
    completion, and the mask."""
    import torch

    from swirl_agents.models import engine

    last, cache, mask, positions = prompt
    device = last.device
    width = max(1, max(len(c) for c in completions))
    ids = torch.full((len(completions), width), pad_id, dtype=torch.long, device=device)
    cmask = torch.zeros_like(ids)
    for r, c in enumerate(completions):
        if c:
            ids[r, : len(c)] = torch.tensor(c, device=device)
            cmask[r, : len(c)] = 1
    logits = model(
        input_ids=ids,
        attention_mask=torch.cat([mask, cmask], dim=1),
        position_ids=positions[:, None] + torch.arange(width, device=device),
        **{engine.cache_argument(model): cache},
        use_cache=True,
    ).logits
    # token t is predicted by the logits before it: the prompt's last for t = 0
    predict = torch.cat([last[:, None], logits[:, :-1]], dim=1).float()
    logp = torch.log_softmax(predict, dim=-1).gather(-1, ids[..., None]).squeeze(-1)
    return logp, cmask.float()


def _state_logprobs(
    model: Any, state: tuple, completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[Any, Any]:
    """Token log-probs [n, T] of ``completions``, samples at one prompt's pass ``state``, and
    their mask. The prompt's keys/values are broadcast over the samples (a view, not n copies)."""
    last, cache, mask, positions = state
    n = len(completions)
    kv = [(la.keys.expand(n, -1, -1, -1), la.values.expand(n, -1, -1, -1)) for la in cache.layers]
    rows = (last.expand(n, -1), _cache_of(cache, kv), mask.expand(n, -1), positions.expand(n))
    return _completion_logprobs(model, rows, completions, pad_id)


def action_logprobs(
    model: Any, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], k: int,
    pad_id: int,
) -> tuple[Any, Any]:  # fmt: skip
    """Token log-probs [N, T] of the completions (row r*k + j belongs to prompt r) and their
    mask, from one prompt pass per prompt (gradient flows through it)."""
    import torch

    passes = _run_prompts(model, prompts, pad_id)
    states = [
        _state_logprobs(model, state, completions[r * k : (r + 1) * k], pad_id)
        for r, state in enumerate(passes)
    ]
    width = max(logp.shape[1] for logp, _ in states)
    padded = [[torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in s] for s in states]
    return torch.cat([logp for logp, _ in padded]), torch.cat([mask for _, mask in padded])


def _reference_logprobs(
    reference: Any, prompt_ids: Sequence[int], completions: Sequence[Sequence[int]], pad_id: int
) -> Any:
    """The reference model's token log-probs of one state's samples (no gradient)."""
    import torch

    with torch.no_grad():
        (state,) = _run_prompts(reference, [prompt_ids], pad_id)
        return _state_logprobs(reference, state, completions, pad_id)[0]


def swirl_backward(
    model: Any, reference: Any, passes: Sequence[tuple], prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]], advantages: Any, k: int, pad_id: int, beta: float,
    scale: float = 1.0,
) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Backpropagate ``scale`` times the SWiRL loss of the sampled completions (row r*k + j is
    sample j of prompt r) through the prompts' passes (with gradient); returns (loss, stats),
    the loss being :func:`swirl_loss` of the whole batch.

    That loss is a mean over the N samples, so it is a sum of per-state shares (k/N times the
    state's loss), and each share is built and backpropagated alone, through its own prompt
    pass: only one state's completion graph (activations, full-vocabulary logits, keys/values
    for K rows) and reference pass are alive at a time, and each prompt pass's graph is freed
    once its share is done. ``reference`` None: the model with its (LoRA) adapters disabled.
    """
    import contextlib

    n = len(completions)
    loss_value, stats = 0.0, {"kl": 0.0, "tokens": 0}
    for r, state in enumerate(passes):
        rows = slice(r * k, (r + 1) * k)
        disabled = model.disable_adapter() if reference is None else contextlib.nullcontext()
        with disabled:
            ref_logp = _reference_logprobs(
                reference or model, prompts[r], completions[rows], pad_id
            )
        logp, mask = _state_logprobs(model, state, completions[rows], pad_id)
        loss, share = swirl_loss(logp, ref_logp, advantages[rows], mask, beta)
        weight = len(logp) / n  # this state's share of the mean over samples
        (loss * weight * scale).backward()
        loss_value += loss.item() * weight
        stats["kl"] += share["kl"] * weight
        stats["tokens"] += int(mask.sum().item())
    return loss_value, stats


# --- training -----------------------------------------------------------------------------------


def cut_action(tokenizer: Any, ids: list[int], tool_calls: bool = False) -> tuple[str, list[int]]:
    """The action text cut after its first closed tag, and the token ids it spans. A tool-call
    state's action (``tool_calls``) that holds a ``<tool_call>`` block is cut after its last
    block instead: what follows is not read by the parser (``toolcalls.parse_tool_calls``)."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if tool_calls and _CALL_END in text:
        end = text.rindex(_CALL_END) + len(_CALL_END)
        for n in range(1, len(ids) + 1):
            if len(tokenizer.decode(ids[:n], skip_special_tokens=True)) >= end:
                return text[:end], ids[:n]
    action = complete_turn(text, stopped=False)
    if len(action) < len(text.rstrip()):  # shorten the tokens to the cut text
        for n in range(1, len(ids) + 1):
            if _CLOSED_TAG.search(tokenizer.decode(ids[:n], skip_special_tokens=True)):
                return action, ids[:n]
    return action, ids


def cut_actions(
    tokenizer: Any, sampled: Sequence[list[int]], states: Sequence[dict[str, Any]], k: int
) -> list[tuple[str, list[int]]]:
    """:func:`cut_action` of each sample (sample j belongs to ``states[j // k]``), the tool-call
    cut where that state is a tool-call one."""
    return [
        cut_action(tokenizer, ids, tool_calls=bool(states[j // k]["tools"]))
        for j, ids in enumerate(sampled)
    ]


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
        judge: scores sampled actions (``rule``/``reference`` offline, an LLM judge as in the paper).
        config: the settings.
    """
    from swirl_agents.errors import SwirlError, UsageError
    from swirl_agents.models.threads import claim_threads

    claim_threads()  # torch threads for this job, given the other jobs on this machine
    if config.beta <= 0:
        raise UsageError("beta must be > 0: SWiRL keeps a KL term toward the starting model")
    if config.backend not in ("native", "trl"):
        raise UsageError(f"backend must be native or trl, got {config.backend!r}")
    if config.dynamic_sampling and config.backend == "trl":
        raise UsageError("dynamic sampling runs on the native backend only")
    rows = state_rows(trajectories, tokenizer)  # each with its prompt's text
    prompt_ids = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"]
    keep = [i for i, ids in enumerate(prompt_ids) if len(ids) <= config.max_prompt_length]
    rows = [{**rows[i], "input_ids": prompt_ids[i]} for i in keep]
    if not rows:
        raise SwirlError(f"no state of {len(trajectories)} trajectories fits max_prompt_length")
    if config.backend == "trl":
        model, figures = _train_trl(model, tokenizer, rows, judge, config)
    else:
        model, figures = _train_native(model, tokenizer, rows, judge, config)
    return model, {**figures, "states": len(rows), "trajectories": len(trajectories)}


def _train_native(model, tokenizer, rows, judge, config):
    import torch
    from transformers import get_scheduler, set_seed

    from swirl_agents.models.threads import refresh_threads

    set_seed(config.seed)
    device = next(model.parameters()).device
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )
        reference = None  # the reference is the model with its adapters disabled
    else:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    per_step = config.prompts_per_step * config.grad_accum
    total = config.max_steps or max(1, math.ceil(config.epochs * len(rows) / per_step))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    scheduler = get_scheduler("constant", optimizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    generator = torch.Generator(device=device).manual_seed(config.seed)
    reward_fn = judge_reward(judge)
    order = _state_order(len(rows), random.Random(config.seed))
    k = config.num_generations
    log: list[dict[str, float]] = []
    model.eval()  # no dropout: the loss is computed under the same policy that sampled
    bar = tqdm(range(total), desc="swirl", unit="step")
    for _ in bar:
        refresh_threads()  # follow other jobs starting and ending (checks every few seconds)
        started = time.time()
        entry = {
            "reward": 0.0, "frac_reward_zero_std": 0.0, "kl": 0.0, "loss": 0.0, "tokens": 0,
            "states_sampled": 0, "states_trained": 0,
        }  # fmt: skip
        for _micro in range(config.grad_accum):
            if config.dynamic_sampling:
                batch, sampled_groups, cut, r = _draw_with_spread(
                    model, tokenizer, rows, order, reward_fn, config, generator
                )
                prompts = [row["input_ids"] for row in batch]
                passes = _run_prompts(model, prompts, pad_id)  # with gradient, kept states only
            else:
                batch = [rows[next(order)] for _ in range(config.prompts_per_step)]
                prompts = [row["input_ids"] for row in batch]
                # 1. one pass over the states' prompts (with gradient), shared by their K samples;
                #    sample K actions per state from a detached copy (they are never executed)
                passes = _run_prompts(model, prompts, pad_id)
                sampled = _decode(
                    model, tokenizer, _for_sampling(passes, k),
                    max_new_tokens=config.max_completion_length, temperature=config.temperature,
                    generator=generator,
                )  # fmt: skip
                cut = cut_actions(tokenizer, sampled, batch, k)
                # 2. the judge scores each action at its state: R = 1 if GOOD
                r = torch.tensor(state_rewards(reward_fn, cut, batch, k), device=device)
                sampled_groups = r.view(-1, k)
            entry["reward"] += sampled_groups.mean().item() / config.grad_accum
            entry["frac_reward_zero_std"] += (
                sampled_groups.std(dim=1) == 0
            ).float().mean().item() / config.grad_accum
            entry["states_sampled"] += len(sampled_groups)
            entry["states_trained"] += len(batch)
            if not batch:  # dynamic sampling found no state with spread: no gradient this pass
                continue
            advantages = group_advantages(r, k, config.scale_rewards)
            completions = [ids for _, ids in cut]
            # 3. the loss: policy gradient with the group baseline, KL toward the start (the
            #    reference, or the model without its adapters), backpropagated state by state
            loss, stats = swirl_backward(
                model, reference, passes, prompts, completions, advantages, k, pad_id,
                config.beta, scale=1 / config.grad_accum,
            )  # fmt: skip
            entry["kl"] += stats["kl"] / config.grad_accum
            entry["loss"] += loss / config.grad_accum
            entry["tokens"] += stats["tokens"]
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        entry["step_s"] = round(time.time() - started, 2)
        log.append(entry)
        bar.set_postfix(reward=f"{entry['reward']:.2f}", kl=f"{entry['kl']:.3f}")
    model.eval()
    if config.lora:
        model = model.merge_and_unload()
    return model, _figures(log, total, per_step, k)


def state_rewards(reward_fn, cut, batch, k) -> list[float]:
    """The judge's reward of each cut action (sample j at state ``batch[j // k]``)."""
    return reward_fn(
        completions=[text for text, _ in cut],
        question=[r["question"] for r in batch for _ in range(k)],
        history=[r["history"] for r in batch for _ in range(k)],
        task=[r["task"] for r in batch for _ in range(k)],
        tools=[r["tools"] for r in batch for _ in range(k)],
        max_steps=[r.get("max_steps", 0) for r in batch for _ in range(k)],
    )


def _draw_with_spread(model, tokenizer, rows, order, reward_fn, config, generator):
    """Dynamic sampling (DAPO): sample K actions at states drawn in turn (no gradient) and keep
    the states whose rewards differ, until ``prompts_per_step`` are kept or ``max_draws`` times
    that many are drawn. A state whose K rewards are equal has advantage 0 for every sample, so
    its policy gradient is 0: skipping it spends the expensive pass with gradient only where
    there is something to learn (its KL term is skipped with it).

    Returns (kept states, every drawn group's rewards [drawn, K], the kept states' cut actions,
    their rewards [kept * K])."""
    import torch

    k = config.num_generations
    want = config.prompts_per_step
    kept, kept_cut, kept_rewards, drawn = [], [], [], []
    while len(kept) < want and len(drawn) < want * config.max_draws:
        batch = [rows[next(order)] for _ in range(want - len(kept))]
        sampled = sample_actions(
            model, tokenizer, [r["input_ids"] for r in batch], k,
            max_new_tokens=config.max_completion_length, temperature=config.temperature,
            generator=generator,
        )  # fmt: skip
        cut = cut_actions(tokenizer, sampled, batch, k)
        groups = torch.tensor(state_rewards(reward_fn, cut, batch, k)).view(-1, k)
        for i, row in enumerate(batch):
            drawn.append(groups[i])
            if groups[i].std() > 0:
                kept.append(row)
                kept_cut.extend(cut[i * k : (i + 1) * k])
                kept_rewards.append(groups[i])
    device = next(model.parameters()).device
    rewards = torch.cat(kept_rewards).to(device) if kept_rewards else torch.zeros(0, device=device)
    return kept, torch.stack(drawn), kept_cut, rewards


def _state_order(n: int, rng: random.Random):
    """Endless state indices, reshuffled every epoch."""
    while True:
        order = list(range(n))
        rng.shuffle(order)
        yield from order


def _figures(log: list[dict[str, float]], steps: int, states_per_step: int, k: int) -> dict:
    def mean(key: str) -> float | None:
        return sum(e[key] for e in log) / len(log) if log else None

    seconds = sum(e.get("step_s", 0.0) for e in log)
    trained = sum(e.get("states_trained", states_per_step) for e in log)
    return {
        "method": "swirl",
        "optimizer_steps": steps,
        "states_seen": trained,  # with dynamic sampling, fewer than steps x states per step
        "samples_seen": trained * k,
        "reward_first": log[0]["reward"] if log else None,
        "reward_last": log[-1]["reward"] if log else None,
        "reward_mean": mean("reward"),
        "frac_reward_zero_std_mean": mean("frac_reward_zero_std"),
        "states_per_s": round(trained / seconds, 4) if seconds else None,  # trained states
        "states_sampled": sum(e.get("states_sampled", states_per_step) for e in log),
        "states_trained": trained,
        "rewards": [e["reward"] for e in log],
        "kl": [e["kl"] for e in log],
        "frac_reward_zero_std": [e["frac_reward_zero_std"] for e in log],
    }


def _checkpointing_argument(config_class: type) -> str:
    """transformers 5.24 renamed TrainingArguments' ``gradient_checkpointing`` to
    ``activation_checkpointing`` (the old name warns, and goes in v6): the name this one takes."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_class)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )


def _train_trl(model, tokenizer, rows, judge, config):
    """The same objective on TRL's GRPOTrainer (each sample its own prompt pass)."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

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
    # a tool-call state's prompt is its rendered text (the messages cannot carry the schemas and
    # <tool_call> turns); a dataset column holds one type, so then every row's prompt is text
    as_text = any(r["tools"] for r in rows)
    data = [
        {**{k: v for k, v in r.items() if k not in ("input_ids", "text")},
         **({"prompt": r["text"]} if as_text else {})}
        for r in rows
    ]  # fmt: skip
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
            scale_rewards="group" if config.scale_rewards else "none",
            max_grad_norm=config.max_grad_norm,
            **{_checkpointing_argument(GRPOConfig): config.gradient_checkpointing},
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
            train_dataset=Dataset.from_list(data),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        trainer.train()
    logs = [e for e in trainer.state.log_history if "reward" in e]
    log = [
        {"reward": e["reward"], "kl": e.get("kl") or 0.0,
         "frac_reward_zero_std": e.get("frac_reward_zero_std", 0.0)}
        for e in logs
    ]  # fmt: skip
    figures = _figures(log, trainer.state.global_step, config.prompts_per_step,
                       config.num_generations)  # fmt: skip
    return trainer.model, {**figures, "bf16": bf16}
