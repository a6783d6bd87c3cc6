"""The real embedded SmolLM2 in the agent graph (slow: fetches and converts it on first use)."""

from __future__ import annotations

import pytest

from swirl_agents.agent import create_swirl_agent
from swirl_agents.models import LocalChatModel, load_chat_model
from swirl_agents.tools.calculator import calculator

pytestmark = pytest.mark.slow


def test_embedded_model_runs_two_steps_in_the_graph():
    model = load_chat_model("smollm2", max_tokens=48)
    assert isinstance(model, LocalChatModel)
    graph = create_swirl_agent(model, [calculator], max_steps=2, task="math")
    state = graph.invoke({"question": "A box holds 12 eggs. How many eggs are in 4 boxes?"})
    assert 1 <= len(state["steps"]) <= 2
    assert state["outcome"] in ("answered", "no_answer")
    for step in state["steps"]:
        assert step.model.startswith("smollm2-135m-instruct")  # "+swirl" with the shipped adapter
        assert step.token_ids, "local generations log their token ids"
        assert step.kind in ("search", "math", "answer", "invalid")


def test_embedded_checkpoint_is_plain_and_batches_like_one_at_a_time():
    from transformers import AutoConfig

    from swirl_agents.models import local_model_path

    config = AutoConfig.from_pretrained(local_model_path("smollm2"))
    assert getattr(config, "quantization_config", None) is None
    model = load_chat_model("smollm2", max_tokens=16)
    prompts = [[("human", f"What is {i} plus {i}?")] for i in range(4)]
    one_by_one = [model.invoke(p).text for p in prompts]
    assert [r.text for r in model.batch(prompts)] == one_by_one
