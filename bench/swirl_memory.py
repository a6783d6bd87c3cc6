"""Peak memory of the SWiRL stage (native loop), and the phase of the step where it peaks.

    nice -n 15 env OMP_NUM_THREADS=1 SWIRL_NUM_THREADS=1 \
        .venv/bin/python bench/swirl_memory.py --steps 2 --states 4 --generations 8 --tokens 64

A model with SmolLM2-135M's real dimensions (30 layers, hidden 576, 9 heads, 3 KV heads, vocab
49152) and random weights, so no hub access: a random model rarely writes the end-of-turn token,
so every sample runs the full ``--tokens`` (the worst case for memory). The states are synthetic
GSM8K-like trajectories whose prompts span about ``--prompt-tokens`` (or the states of ``--data``).
A thread reads this process's RSS every few milliseconds and keeps the peak of each phase:

    prompt      the policy's prompt pass (with gradient) and its repeated cache
    sampling    decoding the K actions per state
    judge       cutting and scoring them
    completion  the policy's pass over the completions, and their log-probs
    reference   the reference model's passes (no gradient)
    loss        the objective
    backward    from the loss back to the weights
    optimizer   clipping and the AdamW step

Prints one JSON line last: ``ru_maxrss`` (the kernel's high-water mark), the peak per phase, the
phase of the peak and states per second.

Measured (2 steps, 8 samples x 64 tokens, 1 thread, 2 cores shared with another job): before the
per-state backward, 1 state per step peaked at 5.13 GiB (in the reference pass, the policy's
whole completion graph alive beneath it; 0.0235 states/s) and 2 states passed the 8 GiB guard in
the reference pass of step 2; after it, 5.12 GiB (0.0296 states/s), 5.95 GiB (0.0361 states/s)
and, for 4 states, 7.99 GiB (in backward). The floor is ~3.2 GiB of weights, reference copy,
gradients and AdamW state; each further state adds 0.8-1 GiB (its prompt pass kept for backward).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import resource
import threading
import time

from swirl_agents.protocol import render_tool_result, system_prompt
from swirl_agents.traces.schema import Step, Trajectory

PAGE = os.sysconf("SC_PAGE_SIZE")
_WORDS = "apples boxes friends clips miles hours dollars cookies pages marbles tickets".split()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PhaseMeter:
    """The peak RSS seen during each phase, sampled by a background thread."""

    def __init__(self, limit_bytes: int, every_s: float = 0.002):
        self.limit = limit_bytes
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self._every)

    def sample(self) -> None:
        rss, phase = rss_bytes(), self.phase
        if rss > self.peaks.get(phase, 0):
            self.peaks[phase] = rss
        if rss > self.limit:  # a shared machine: stop before it runs short
            print(json.dumps({"aborted": f"RSS {rss / 2**30:.2f} GiB in {phase}"}), flush=True)
            os._exit(3)

    def enter(self, phase: str) -> None:
        self.sample()  # the end of the phase before
        self.phase = phase

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


def instrument(meter: PhaseMeter) -> None:
    """Name the phases by wrapping the loop's functions (module attributes, looked up per call)."""
    import torch

    import trainer.swirl as swirl

    inside_reference = threading.local()

    def phase(name, fn, after=None):
        @functools.wraps(fn)
        def wrapped(*a, **kw):
            if getattr(inside_reference, "on", False):
                return fn(*a, **kw)  # the reference's own prompt and completion passes
            meter.enter(name)
            inside_reference.on = name == "reference"
            try:
                return fn(*a, **kw)
            finally:
                inside_reference.on = False
                if after:
                    meter.enter(after)

        return wrapped

    swirl._run_prompts = phase("prompt", swirl._run_prompts)
    swirl._decode = phase("sampling", swirl._decode, after="judge")
    swirl._completion_logprobs = phase("completion", swirl._completion_logprobs)
    # the reference pass: of the whole batch (the loop before), or one state at a time
    swirl.action_logprobs = phase("reference", swirl.action_logprobs)
    if hasattr(swirl, "_reference_logprobs"):
        swirl._reference_logprobs = phase("reference", swirl._reference_logprobs)
    swirl.swirl_loss = phase("loss", swirl.swirl_loss, after="backward")
    torch.nn.utils.clip_grad_norm_ = phase("optimizer", torch.nn.utils.clip_grad_norm_)


def synthetic_trajectories(tokenizer, n: int, lengths: tuple[int, int], seed: int = 0):
    """GSM8K-like math runs whose longest state's prompt has about ``lengths`` tokens."""
    rng = random.Random(seed)
    system = system_prompt(["math_exp"], 10, "math")
    base = len(tokenizer(system)["input_ids"])
    out = []
    for i in range(n):
        target = rng.randint(*lengths)
        steps, words = [], max(8, (target - base) // 3)
        question = " ".join(f"{rng.randint(2, 99)} {rng.choice(_WORDS)}" for _ in range(words // 2))
        for s in range(3):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            expr = f"{a}*{b}"
            steps.append(Step(index=s, text=f"Multiply them. <math_exp>{expr}</math_exp>",
                              kind="math", argument=expr,
                              observation=render_tool_result(expr, str(a * b))))  # fmt: skip
        steps.append(Step(index=3, text="Done. <answer>7</answer>", kind="answer", argument="7"))
        out.append(
            Trajectory(
                question=question + "?",
                steps=steps,
                answer="7",
                outcome="answered",
                gold_answer="7",
                source="annotation",
                system_prompt=system,
                dataset="gsm8k",
                id=f"synthetic-{i}",
            )  # fmt: skip
        )
    return out


class Parity:
    """A judge whose verdicts vary on a random model, so the advantages are not all zero."""

    name = "parity"

    def judge_steps(self, contexts):
        return ["good" if len(c.action) % 2 else "bad" for c in contexts]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=2, help="optimizer steps")
    p.add_argument("--states", type=int, default=4, help="states per step")
    p.add_argument("--generations", type=int, default=8, help="samples per state")
    p.add_argument("--tokens", type=int, default=64, help="tokens per sample")
    p.add_argument("--prompt-tokens", default="300,700", help="synthetic prompt lengths: LO,HI")
    p.add_argument("--data", help="trajectories (JSONL or store) instead of synthetic ones")
    p.add_argument("--layers", type=int, default=30, help="decoder layers (30: SmolLM2-135M)")
    p.add_argument("--tokenizer", default="smollm2-base", help="a checkpoint dir or smollm2-base")
    p.add_argument("--max-rss-gib", type=float, default=8.0, help="abort above this RSS")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from trainer.checkpoints import resolve_base
    from trainer.swirl import SwirlConfig, train_swirl

    tokenizer = AutoTokenizer.from_pretrained(resolve_base(args.tokenizer))
    torch.manual_seed(args.seed)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=args.layers,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        pad_token_id=2, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    )  # fmt: skip
    model = LlamaForCausalLM(config).float()
    if args.data:
        from swirl_agents.traces import load_trajectories

        trajectories = load_trajectories(args.data, limit=200)
    else:
        lo, hi = (int(x) for x in args.prompt_tokens.split(","))
        trajectories = synthetic_trajectories(tokenizer, 4 * args.states * args.steps, (lo, hi))
    swirl_config = SwirlConfig(
        max_steps=args.steps, prompts_per_step=args.states, num_generations=args.generations,
        max_completion_length=args.tokens, max_prompt_length=4096, seed=args.seed,
    )  # fmt: skip
    with PhaseMeter(int(args.max_rss_gib * 2**30)) as meter:
        instrument(meter)
        meter.enter("start")
        started = time.time()
        _, figures = train_swirl(model, tokenizer, trajectories, Parity(), swirl_config)
        seconds = time.time() - started
        meter.enter("end")
    peaks = {k: round(v / 2**30, 2) for k, v in meter.peaks.items()}
    top = max(meter.peaks, key=meter.peaks.get)
    report = {
        "config": vars(args),
        "ru_maxrss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_phase": top,
        "peak_gib_by_phase": peaks,
        "states_per_s": figures["states_per_s"],
        "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
