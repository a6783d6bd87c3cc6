"""Paired comparison of two per-question outcome files: McNemar, Newcombe interval, the CLI."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.compare import compare_outcomes, mcnemar_exact, paired_diff_interval
from swirl_agents.errors import UsageError


def write(path, outcomes: dict[str, bool]) -> str:
    path.write_text("".join(json.dumps({"question_id": q, "correct": c}) + "\n"
                            for q, c in outcomes.items()))  # fmt: skip
    return str(path)


def test_exact_mcnemar_is_the_two_sided_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)  # 2 * 0.5**5
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_exact(8, 2) == mcnemar_exact(2, 8)


def test_newcombe_interval_agrees_with_wald_on_many_pairs_and_is_symmetric():
    both, only_a, only_b, neither = 300, 60, 90, 550  # n = 1000, diff = +0.03
    n = 1000
    low, high = paired_diff_interval(both, only_a, only_b, neither)
    d = (only_b - only_a) / n
    se = math.sqrt(only_a + only_b - (only_b - only_a) ** 2 / n) / n  # paired Wald
    assert low == pytest.approx(d - 1.96 * se, abs=3e-3)
    assert high == pytest.approx(d + 1.96 * se, abs=3e-3)
    swapped = paired_diff_interval(both, only_b, only_a, neither)
    assert swapped == pytest.approx((-high, -low))


def test_pairing_narrows_the_interval_when_the_models_agree():
    paired = paired_diff_interval(40, 0, 0, 60)  # same answers: only sampling noise is left
    unpaired_width = 2 * 1.96 * math.sqrt(2 * 0.4 * 0.6 / 100)
    assert paired[0] <= 0 <= paired[1] and paired[1] - paired[0] < unpaired_width / 4


def test_compare_pairs_on_question_id(tmp_path):
    a = write(tmp_path / "a.jsonl", {"q1": True, "q2": False, "q3": False, "q4": True})
    b = write(tmp_path / "b.jsonl", {"q1": True, "q2": True, "q3": True, "q5": True})
    c = compare_outcomes(a, b)
    assert c["n"] == 3 and c["a_only_questions"] == 1 and c["b_only_questions"] == 1
    assert (c["a_accuracy"], c["b_accuracy"], c["diff"]) == pytest.approx((1 / 3, 1.0, 2 / 3))
    assert c["b_only_correct"] == 2 and c["p_value"] == pytest.approx(0.5)
    low, high = c["diff_ci95"]
    assert low < c["diff"] < high


def test_compare_reports_a_bad_line_with_its_number(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "q1", "correct": true}\n{"question_id": "q2"}\n')
    good = write(tmp_path / "good.jsonl", {"q1": True})
    with pytest.raises(UsageError, match=r"bad.jsonl:2"):
        compare_outcomes(str(bad), good)


def test_cli_compare_prints_one_json_document(tmp_path):
    a = write(tmp_path / "a.jsonl", {f"q{i}": i < 3 for i in range(20)})
    b = write(tmp_path / "b.jsonl", {f"q{i}": i < 12 for i in range(20)})
    result = CliRunner().invoke(app, ["eval", "--compare", a, b, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n"] == 20 and doc["diff"] == pytest.approx(0.45)
    assert doc["p_value"] == pytest.approx(2 / 2**9)
    missing = CliRunner().invoke(app, ["eval", "--compare", a, str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
