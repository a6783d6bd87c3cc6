"""Training throughput: the one-pass prefix-shared trajectory loss vs naive per-step examples.

Both sides compute the same loss (token mean within each step, mean over steps) and its
gradient, forward + backward, for the same GSM8K annotation trajectories on the embedded SmolLM2.
The one-pass side feeds each trajectory once with per-step masks; the naive side feeds the K
step examples (s_i + a_i) as K sequences. Repeats alternate the two sides, so a change in machine
load hits both; the figures are medians. The last line printed is one JSON object.

    .venv/bin/python bench/prefix_shared_loss.py --trajectories 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from tqdm import tqdm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="smollm2", help="base model: smollm2 or a checkpoint dir"
    )
    parser.add_argument(
        "--trajectories", type=int, default=4, help="GSM8K train trajectories per run"
    )
    parser.add_argument(
        "--batch-size", type=int, default=4, help="sequences per forward pass (both sides)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    from swirl_agents.bootstrap import bootstrap
    from trainer.checkpoints import load_base
    from trainer.sft import batch_loss, tokenize_trajectory

    if args.threads:
        torch.set_num_threads(args.threads)
    trajectories = bootstrap(
        "gsm8k", "train", limit=args.trajectories * 2, progress=False
    ).trajectories
    trajectories = trajectories[: args.trajectories]
    model, tokenizer = load_base(args.model)
    pad = tokenizer.pad_token_id or 0
    sides = {
        "one_pass": [s for t in trajectories for s in tokenize_trajectory(tokenizer, t)],
        "per_step": [
            s for t in trajectories for s in tokenize_trajectory(tokenizer, t, prefix_shared=False)
        ],
    }
    steps = sum(len(s.spans) for s in sides["one_pass"])

    def run(seqs) -> tuple[float, float]:
        """Seconds for forward + backward over ``seqs`` in batches, and the mean step loss."""
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        losses = []
        for i in range(0, len(seqs), args.batch_size):
            batch = seqs[i : i + args.batch_size]
            weight = sum(len(s.spans) for s in batch) / steps  # so the gradients sum to the mean
            loss, step_losses = batch_loss(model, batch, pad_id=pad)
            (loss * weight).backward()
            losses.extend(step_losses.tolist())
        return time.perf_counter() - start, sum(losses) / len(losses)

    run(sides["one_pass"][:1])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in sides}
    losses: dict[str, float] = {}
    for _ in tqdm(range(args.repeats), desc="repeats", file=sys.stderr):
        for name, seqs in sides.items():
            seconds, losses[name] = run(seqs)
            times[name].append(seconds)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "bench": "prefix_shared_loss",
        "model": args.model,
        "trajectories": len(trajectories),
        "steps": steps,
        "tokens_one_pass": sum(len(s.input_ids) for s in sides["one_pass"]),
        "tokens_per_step": sum(len(s.input_ids) for s in sides["per_step"]),
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "median_s_one_pass": round(median["one_pass"], 3),
        "median_s_per_step": round(median["per_step"], 3),
        "trajectories_per_s_one_pass": round(len(trajectories) / median["one_pass"], 4),
        "trajectories_per_s_per_step": round(len(trajectories) / median["per_step"], 4),
        "steps_per_s_one_pass": round(steps / median["one_pass"], 4),
        "steps_per_s_per_step": round(steps / median["per_step"], 4),
        "speedup": round(median["per_step"] / median["one_pass"], 2),
        "loss_one_pass": round(losses["one_pass"], 5),
        "loss_per_step": round(losses["per_step"], 5),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
