"""How much each SWiRL reward can teach: the share of states whose K samples all get one reward.

    python bench/reward_spread.py --model runs/exp4/warm --data runs/exp4/kept_process.jsonl

Samples K actions at each of the first N states with the policy (exactly as the SWiRL loop does,
one shared prompt pass per state), then scores the *same* samples with every judge. A group whose
rewards are all equal has zero advantage, so it teaches nothing (``frac_reward_zero_std``); the
mean reward says how often the judge says GOOD. Prints one JSON line last.

``--gold-in-results`` samples only states whose search results already hold the gold answer
(training references only): can the policy read an answer that is in front of it?
``states_with_a_right_answer`` counts states where at least one of the K samples is the gold
answer.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from swirl_agents.traces import load_trajectories
from trainer.checkpoints import load_base, resolve_base
from trainer.judges import make_judges
from trainer.swirl import cut_actions, judge_reward, sample_actions, state_rewards, state_rows


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
    p.add_argument(
        "--gold-in-results", action="store_true",
        help="only states whose search results hold the gold answer (training gold)",
    )  # fmt: skip
    args = p.parse_args()
    import torch

    from swirl_agents.models.threads import claim_threads

    claim_threads()
    model, tokenizer = load_base(str(resolve_base(args.model)))
    rows = state_rows(load_trajectories(args.data), tokenizer)  # "text": the state as rendered
    if args.gold_in_results:
        rows = [r for r in rows if _gold_in_results(r)]
        print(f"{len(rows)} states hold the gold answer in their search results")
    rows = random.Random(args.seed).sample(rows, min(args.states, len(rows)))
    ids = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"]
    generator = torch.Generator().manual_seed(args.seed)
    k, cut = args.generations, []
    started = time.time()
    for i in range(0, len(rows), args.batch):
        sampled = sample_actions(
            model, tokenizer, ids[i : i + args.batch], k, max_new_tokens=args.tokens,
            temperature=args.temperature, generator=generator,
        )  # fmt: skip
        cut += cut_actions(tokenizer, sampled, rows[i : i + args.batch], k)
    sample_s = time.time() - started
    actions = [a for a, _ in cut]
    figures = {}
    for spec in args.judges.split(","):
        rewards = state_rewards(judge_reward(make_judges(spec)[0]), cut, rows, k)
        groups = [rewards[j : j + k] for j in range(0, len(rewards), k)]
        figures[spec] = {
            "reward_mean": round(sum(rewards) / len(rewards), 4),
            "frac_reward_zero_std": round(sum(len(set(g)) == 1 for g in groups) / len(groups), 4),
        }
        print(spec, figures[spec], flush=True)
    out = {"config": vars(args), "sample_s": round(sample_s, 1), "judges": figures}
    if args.gold_in_results:
        right = [_right(a, rows[j // k]["question"]) for j, a in enumerate(actions)]
        groups = [right[j : j + k] for j in range(0, len(right), k)]
        out["answer_share"] = round(sum("<answer>" in a for a in actions) / len(actions), 4)
        out["states_with_a_right_answer"] = f"{sum(any(g) for g in groups)}/{len(groups)}"
    print(json.dumps(out))


def _gold_in_results(row: dict) -> bool:
    """Whether a QA state's search results already hold the gold answer (a training question)."""
    from swirl_agents.grading import written_in
    from trainer.reference import training_references

    history = json.loads(row["history"])
    ref = training_references().get(row["question"])
    if ref is None or ref.task != "qa" or not any(h["kind"] == "search" for h in history):
        return False
    return written_in(ref.answer, " ".join(h.get("observation") or "" for h in history))


def _right(action: str, question: str) -> bool:
    from swirl_agents.grading import grade
    from swirl_agents.protocol import parse_action
    from trainer.reference import training_references

    parsed, ref = parse_action(action), training_references()[question]
    return parsed.kind == "answer" and grade(parsed.argument, ref.answer, ref.task)


if __name__ == "__main__":
    main()
