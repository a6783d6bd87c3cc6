"""trainer.examples: the one place a trajectory becomes (state, action) pairs for SFT, SWiRL and
the judges; the task comes from the record, the state from the run's own protocol."""

from __future__ import annotations

import json
from dataclasses import replace

from fakes import call, scripted, tool_turn
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from trainer_fixtures import GOOD_MATH, MATH_SYSTEM

from swirl_agents import create_swirl_agent
from swirl_agents.traces.schema import Step, Trajectory
from trainer.examples import step_examples, task_of
from trainer.judges import RuleProcessJudge, step_contexts
from trainer.swirl import judge_reward, state_rows


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def tool_run() -> Trajectory:
    logged: list[Trajectory] = []
    script = [tool_turn("Adding.", call("add", {"a": 2, "b": 3}, "c1")), "5"]
    agent = create_swirl_agent(
        scripted(script), [add], protocol="tools", task="math", on_trace=logged.append
    )
    agent.invoke({"question": "2 + 3?"})
    return logged[0]


def test_the_recorded_task_wins_over_the_guess() -> None:
    assert task_of(GOOD_MATH) == "math"  # an old record: guessed from the prompt's tags
    assert task_of(replace(GOOD_MATH, task="qa")) == "qa"
    assert {e.task for e in step_examples(replace(GOOD_MATH, task="qa"))} == {"qa"}
    # a v1 record with no tags in its prompt and no actions falls back to the old guess
    bare = Trajectory("q", [Step(0, "hmm", "invalid")], system_prompt="SYS")
    assert task_of(bare) == "qa"


def test_examples_carry_the_records_themselves() -> None:
    examples = step_examples(GOOD_MATH)
    assert [e.step for e in examples] == GOOD_MATH.steps
    assert [e.history for e in examples] == [GOOD_MATH.steps[:i] for i in range(3)]
    assert [e.step_index for e in examples] == [0, 1, 2] and examples[0].tools is None
    contexts = step_contexts(GOOD_MATH)  # the judges' inputs are the same records
    assert [c.history for c in contexts] == [e.history for e in examples]
    assert [c.action for c in contexts] == [s.text for s in GOOD_MATH.steps]
    assert examples[1].messages[0] == SystemMessage(MATH_SYSTEM)


def test_a_tool_call_run_is_rendered_as_the_agent_sent_it() -> None:
    traj = tool_run()
    first, second = step_examples(traj)
    assert (first.task, first.tools) == ("math", traj.tools)
    assert traj.tools[0]["function"]["name"] == "add"
    assert [type(m) for m in second.messages] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
    ]
    assert second.messages[1].content == "2 + 3?"  # the tools protocol has no "Question:" prefix
    assert second.messages[2].tool_calls[0]["args"] == {"a": 2, "b": 3}
    assert second.messages[3].content == "5.0" and second.completion == "5"


def test_a_captured_run_without_a_system_prompt_gets_no_empty_system_turn() -> None:
    traj = replace(tool_run(), system_prompt="", protocol="swirl-tools/1+capture")
    assert [type(m) for m in step_examples(traj)[0].messages] == [HumanMessage]


def test_swirl_state_rows_round_trip_the_history_as_step_records() -> None:
    rows = state_rows([GOOD_MATH])
    history = json.loads(rows[2]["history"])
    assert [Step.from_dict(s) for s in history] == GOOD_MATH.steps[:2]
    reward = judge_reward(RuleProcessJudge())
    batch = {k: [rows[2][k]] for k in ("question", "history", "task")}
    assert reward(completions=["<answer>72</answer>"], **batch) == [1.0]
    assert reward(completions=["<answer>71</answer>"], **batch) == [0.0]
