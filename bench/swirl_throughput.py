"""Throughput of the SWiRL stage: states per second, our loop against TRL's GRPOTrainer.

    python bench/swirl_throughput.py --model runs/exp4/warm --data runs/exp4/kept_process.jsonl

Both backends train the same model on the same states with the same settings (states per step,
samples per state, tokens per sample, judge), one after the other in this process, at the same
torch thread count. The native loop runs each state's prompt once for its K samples (sampling
and loss); TRL runs every sample's prompt on its own. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import time

from swirl_agents.traces import load_trajectories
from trainer.checkpoints import load_base, resolve_base
from trainer.judges import make_judges
from trainer.swirl import SwirlConfig, train_swirl


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="smollm2-base", help="start model")
    p.add_argument("--data", required=True, help="trajectories whose states are trained on")
    p.add_argument("--judge", default="rule", help="reward judge")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps per backend")
    p.add_argument("--states", type=int, default=4, help="states per step")
    p.add_argument("--generations", type=int, default=4, help="samples per state")
    p.add_argument("--tokens", type=int, default=48, help="tokens per sample")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--backends", default="native,trl", help="which backends, in order")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    trajectories = load_trajectories(args.data, limit=200)
    judge, _ = make_judges(args.judge)
    figures = {}
    for backend in args.backends.split(","):
        model, tokenizer = load_base(str(resolve_base(args.model)))
        config = SwirlConfig(
            max_steps=args.steps,
            prompts_per_step=args.states,
            num_generations=args.generations,
            max_completion_length=args.tokens,
            backend=backend,
        )
        started = time.time()
        _, f = train_swirl(model, tokenizer, trajectories, judge, config)
        seconds = time.time() - started
        figures[backend] = {
            "seconds": round(seconds, 1),
            "states_per_s": round(args.steps * args.states / seconds, 4),
            "reward_mean": f["reward_mean"],
            "frac_reward_zero_std_mean": f["frac_reward_zero_std_mean"],
        }
        print(backend, figures[backend], flush=True)
    if "native" in figures and "trl" in figures:
        figures["speedup"] = round(
            figures["native"]["states_per_s"] / figures["trl"]["states_per_s"], 2
        )
    print(json.dumps({"config": vars(args), **figures}))


if __name__ == "__main__":
    main()
