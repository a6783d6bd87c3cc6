"""The training loss of SFT runs, one curve per run, from the cards ``swirl train`` writes.

    python bench/loss_curves.py runs/exp5/sft runs/exp7/sft_lr1e-5 runs/exp7/sft_lr2e-4 \
        --out results/exp7/sft_loss.png

Reads ``MODEL/swirl_card.json`` (its ``figures.losses``: one value per optimizer step), plots
them with matplotlib, and prints one JSON line per run: first, last and mean of the last quarter.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", type=Path, nargs="+", help="trained model directories")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for model in args.models:
        card = json.loads((model / "swirl_card.json").read_text())
        losses = card["figures"]["losses"]
        lr = card["config"]["learning_rate"]
        tail = losses[-max(1, len(losses) // 4) :]
        print(json.dumps({"model": str(model), "learning_rate": lr, "loss_first": losses[0],
                          "loss_last": losses[-1], "loss_last_quarter": sum(tail) / len(tail)}))  # fmt: skip
        ax.plot(range(1, len(losses) + 1), losses, label=f"{model.name} (lr {lr:g})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (token mean)")
    ax.legend()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
