"""SWiRL (GRPO with a judge reward): states as prompts, cut-and-judge rewards, a few real steps."""

from __future__ import annotations

import json

import pytest
from trainer_fixtures import GOOD_MATH, GOOD_QA, tiny_model_dir

from trainer.checkpoints import load_base
from trainer.judges import RuleProcessJudge
from trainer.swirl import SwirlConfig, judge_reward, state_rows, train_swirl

torch = pytest.importorskip("torch")


def test_state_rows_are_conversational_prompts():
    rows = state_rows([GOOD_MATH])
    assert len(rows) == 3
    assert [m["role"] for m in rows[2]["prompt"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert rows[2]["prompt"][-1]["content"] == "48+24 -> 72"
    assert len(json.loads(rows[2]["history"])) == 2 and rows[2]["task"] == "math"


def test_reward_cuts_after_the_first_closed_tag_and_never_trusts_invented_results():
    rows = state_rows([GOOD_MATH])
    reward = judge_reward(RuleProcessJudge())
    final = rows[2]  # context: 48/2 -> 24, 48+24 -> 72
    completions = [
        [
            {
                "role": "assistant",
                "content": "So <answer>72</answer> trailing junk <math_exp>1/0</math_exp>",
            }
        ],
        # An invented result after the tag is cut away, so the answer is still unsupported.
        [{"role": "assistant", "content": "<answer>99</answer>\n99 -> 99"}],
        [{"role": "assistant", "content": "<math_exp>48+24"}],  # cut by the token cap: invalid
    ]
    batch = {k: [final[k]] * 3 for k in ("question", "history", "task")}
    assert reward(prompts=[final["prompt"]] * 3, completions=completions, **batch) == [
        1.0,
        0.0,
        0.0,
    ]


class _HasE:
    """A judge whose verdicts vary on a random model, so the group advantage is not zero."""

    name = "has-e"

    def judge_steps(self, contexts):
        return ["good" if "e" in c.action else "bad" for c in contexts]


def test_swirl_trains_a_few_steps(tmp_path):
    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    config = SwirlConfig(
        max_steps=2,
        num_generations=4,
        prompts_per_step=2,
        max_completion_length=8,
        learning_rate=1e-2,
    )
    trained, figures = train_swirl(model, tokenizer, [GOOD_MATH, GOOD_QA], _HasE(), config)
    assert figures["optimizer_steps"] == 2 and figures["states"] == 5
    assert len(figures["rewards"]) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, trained.parameters(), strict=True))
