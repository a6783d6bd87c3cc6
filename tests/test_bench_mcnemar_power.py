"""bench/mcnemar_power.py: the exact McNemar test's power, checked against simulation."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from swirl_agents.compare import mcnemar_exact

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mcnemar_power", ROOT / "bench/mcnemar_power.py")
power_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(power_module)


def test_with_no_difference_b_wins_at_most_half_of_alpha():
    assert power_module.power(300, 10, 10) < 0.025


def test_power_grows_with_the_effect_and_the_needed_count_reaches_the_target():
    low, high = power_module.power(300, 5, 10), power_module.power(300, 5, 30)
    assert low < 0.5 < 0.99 < high
    only_b = power_module.needed(300, 5, 0.8)
    assert power_module.power(300, 5, only_b) >= 0.8 > power_module.power(300, 5, only_b - 0.5)


def test_the_exact_sum_matches_a_simulation():
    rng, n, only_a, only_b, trials = random.Random(0), 200, 6, 14, 4000
    wins = 0
    for _ in range(trials):
        a = b = 0
        for _ in range(n):
            u = rng.random() * n
            a, b = a + (u < only_a), b + (only_a <= u < only_a + only_b)
        wins += b > a and mcnemar_exact(a, b) < 0.05
    assert abs(wins / trials - power_module.power(n, only_a, only_b)) < 0.03
