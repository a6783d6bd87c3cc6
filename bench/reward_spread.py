"""How much each SWiRL reward can teach: the share of states whose K samples all get one reward.

    python bench/reward_spread.py --model runs/exp4/warm --data runs/exp4/kept_process.jsonl

Samples K actions at each of the first N states with the policy (exactly as the SWiRL loop does,
one shared prompt pass per state), then scores the *same* samples with every judge. A group whose
rewards are all equal has zero advantage, so it teaches nothing (``frac_reward_zero_std``); the
mean reward says how often the judge says GOOD. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from swirl_agents.traces import load_trajectories
from trainer.checkpoints import load_base, resolve_base
from trainer.judges import make_judges
from trainer.swirl import cut_actions, judge_reward, sample_actions, state_rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="the policy (e.g. the warm model)")
    p.add_argument("--data", required=True, help="trajectories whose states are sampled")
    p.add_argument("--judges", default="rule,rule-strict,reference", help="judges to compare")
    p.add_argument("--states", type=int, default=32, help="states sampled (random, seeded)")
    p.add_argument("--generations", type=int, default=4, help="samples per state")
    p.add_argument("--tokens", type=int, default=64, help="tokens per sample")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--batch", type=int, default=4, help="states per sampling batch")
    p.add_argument("--seed", type=int, default=0, help="state choice and sampling seed")
    args = p.parse_args()
    import torch

    from swirl_agents.models.threads import claim_threads

    claim_threads()
    model, tokenizer = load_base(str(resolve_base(args.model)))
    rows = state_rows(load_trajectories(args.data), tokenizer)  # "text": the state as rendered
    rows = random.Random(args.seed).sample(rows, min(args.states, len(rows)))
    ids = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"]
    generator = torch.Generator().manual_seed(args.seed)
    k, actions = args.generations, []
    started = time.time()
    for i in range(0, len(rows), args.batch):
        sampled = sample_actions(
            model, tokenizer, ids[i : i + args.batch], k, max_new_tokens=args.tokens,
            temperature=args.temperature, generator=generator,
        )  # fmt: skip
        actions += [a for a, _ in cut_actions(tokenizer, sampled, rows[i : i + args.batch], k)]
    sample_s = time.time() - started
    batch = {
        key: [r[key] for r in rows for _ in range(k)]
        for key in ("question", "history", "task", "tools", "max_steps")
    }
    figures = {}
    for spec in args.judges.split(","):
        rewards = judge_reward(make_judges(spec)[0])(completions=actions, **batch)
        groups = [rewards[j : j + k] for j in range(0, len(rewards), k)]
        figures[spec] = {
            "reward_mean": round(sum(rewards) / len(rewards), 4),
            "frac_reward_zero_std": round(sum(len(set(g)) == 1 for g in groups) / len(groups), 4),
        }
        print(spec, figures[spec], flush=True)
    print(json.dumps({"config": vars(args), "sample_s": round(sample_s, 1), "judges": figures}))


if __name__ == "__main__":
    main()
