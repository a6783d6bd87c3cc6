"""How likely a paired comparison is to find B above A: the power of the exact McNemar test.

    python bench/mcnemar_power.py --n 1319 --only-a 25 --only-b 33       # rates taken as the truth
    python bench/mcnemar_power.py --compare results/exp15/gsm8k_sft.jsonl results/exp15/gsm8k_swirl.jsonl
    python bench/mcnemar_power.py --n 1319 --only-a 25 --needed 0.8       # only-B count for 80%

Takes the discordant rates (questions only A gets right, only B gets right) as the true ones and
sums, exactly, the chance that a fresh set of ``n`` questions gives ``swirl eval --compare``'s
exact McNemar p < alpha with B ahead: the number of discordant questions D is binomial over the n
questions, and the only-B count is binomial over D. ``--needed`` searches the smallest expected
only-B count at which that chance reaches the target. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math

from swirl_agents.compare import compare_outcomes, mcnemar_exact


def _binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return float(k == 0)
    if p >= 1.0:
        return float(k == n)
    log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))


def power(n: int, only_a: float, only_b: float, alpha: float = 0.05) -> float:
    """P(exact McNemar p < alpha and B ahead) when only_a/n and only_b/n are the true rates."""
    discordant, share_b = (only_a + only_b) / n, only_b / (only_a + only_b)
    total = 0.0
    for d in range(1, n + 1):
        p_d = _binom_pmf(d, n, discordant)
        if d > (only_a + only_b) * 3 + 50 and p_d < 1e-12:
            break  # the binomial's far tail: nothing left to add
        # the smallest only-B count that is significant; p only falls as the split gets more uneven
        b = next((b for b in range(d // 2 + 1, d + 1) if mcnemar_exact(d - b, b) < alpha), None)
        if b is not None:
            total += p_d * sum(_binom_pmf(k, d, share_b) for k in range(b, d + 1))
    return total


def needed(n: int, only_a: float, target: float, alpha: float = 0.05) -> float:
    """The smallest expected only-B count (in steps of 0.5) with power >= target."""
    only_b = float(only_a)
    while power(n, only_a, only_b, alpha) < target:
        only_b += 0.5
    return only_b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, help="questions in the comparison")
    p.add_argument("--only-a", type=float, help="questions only A gets right")
    p.add_argument("--only-b", type=float, help="questions only B gets right")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two outcome files: their split")
    p.add_argument("--needed", type=float, help="find the only-B count for this power")
    p.add_argument("--alpha", type=float, default=0.05)
    args = p.parse_args()
    if args.compare:
        c = compare_outcomes(*args.compare)
        args.n, args.only_a = c["n"], c["a_only_correct"]
        args.only_b = args.only_b if args.only_b is not None else c["b_only_correct"]
    if args.n is None or args.only_a is None or (args.only_b is None and args.needed is None):
        p.error("give --n and --only-a (or --compare) and --only-b or --needed")
    out = {"n": args.n, "only_a": args.only_a, "alpha": args.alpha}
    if args.only_b is not None:
        out |= {"only_b": args.only_b, "power": round(power(args.n, args.only_a, args.only_b,
                                                            args.alpha), 4)}  # fmt: skip
    if args.needed is not None:
        out |= {"target": args.needed,
                "only_b_needed": needed(args.n, args.only_a, args.needed, args.alpha)}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
