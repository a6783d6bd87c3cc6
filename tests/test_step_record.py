"""One step record from graph to trainer: Step objects in graph state (and in checkpoints),
``task`` and ``tools`` on the trajectory, version-1 records still read."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from fakes import call, scripted, tool_turn
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver

from swirl_agents import create_swirl_agent
from swirl_agents.runs import RunItem, run_agent
from swirl_agents.tools.calculator import calculator
from swirl_agents.traces import SQLiteTraceStore, Step, Trajectory
from swirl_agents.traces.formats import openai_record, to_openai

ROOT = Path(__file__).resolve().parents[1]


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def test_graph_state_holds_the_step_records_that_are_logged() -> None:
    logged: list[Trajectory] = []
    model = scripted(["<math_exp>48/2</math_exp>", "<answer>24</answer>"])
    agent = create_swirl_agent(model, [calculator], task="math", on_trace=logged.append)
    out = agent.invoke({"question": "Half of 48?"})
    assert all(isinstance(s, Step) for s in out["steps"])
    (traj,) = logged
    assert traj.steps == out["steps"]  # the same records, not a reshaped copy
    assert (traj.task, traj.tools) == ("math", None)  # tags bind no tool to the model


def test_the_tools_protocol_records_task_and_tool_schemas() -> None:
    logged: list[Trajectory] = []
    script = [tool_turn("Adding.", call("add", {"a": 2, "b": 3})), "5"]
    agent = create_swirl_agent(scripted(script), [add], protocol="tools", on_trace=logged.append)
    agent.invoke({"question": "2 + 3?"})
    (traj,) = logged
    assert traj.task is None  # not given: unknown, not guessed
    assert traj.tools == [convert_to_openai_tool(add)]
    assert traj.tools[0]["function"]["parameters"]["required"] == ["a", "b"]
    assert traj.steps[0].tool_calls[0]["output"] == "5.0"


def test_task_and_tools_round_trip_through_a_store(tmp_path) -> None:
    traj = Trajectory(
        "2 + 3?",
        [Step(0, "5", "answer", "5")],
        task="math",
        tools=[convert_to_openai_tool(add)],
    )
    store = SQLiteTraceStore(tmp_path / "t.db")
    store.add(traj)
    (again,) = store.iter()
    store.close()
    assert again == traj and again.tools[0]["function"]["name"] == "add"


def test_a_version_1_store_still_reads(tmp_path) -> None:
    from test_schema_tool_calls import V1_RECORD

    path = tmp_path / "v1.db"
    SQLiteTraceStore(path).add(Trajectory.from_dict(V1_RECORD))
    # the row as an older version wrote it: a version-1 record, without task or tools
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE trajectories SET record = ?", (json.dumps(V1_RECORD),))
    store = SQLiteTraceStore(path)
    (traj,) = store.iter()
    store.close()
    assert (traj.schema_version, traj.task, traj.tools) == (2, None, None)
    assert [s.kind for s in traj.steps] == ["math", "answer"]


def test_openai_import_fills_tools_and_export_writes_them_back() -> None:
    schema = convert_to_openai_tool(add)
    chat = {
        "messages": [
            {"role": "user", "content": "2 + 3?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c", "type": "function",
                 "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
            {"role": "tool", "tool_call_id": "c", "content": "5.0"},
            {"role": "assistant", "content": "5"},
        ],
        "tools": [schema],
    }  # fmt: skip
    traj = openai_record(chat)
    assert traj.tools == [schema] and "tools" not in traj.metadata
    assert to_openai(traj) == chat


def test_run_agent_records_the_task_also_on_failed_runs() -> None:
    def script(messages):
        if "fail" in messages[-1].content:
            raise ValueError("a bug")
        return "<answer>1</answer>"

    items = [RunItem(q, {"id": q}) for q in ("ok", "fail")]
    done: dict[str, Trajectory] = {}
    run_agent(
        scripted(script),
        items,
        lambda i, t: done.__setitem__(t.id, t),
        tools=[calculator],
        task="math",
        max_steps=2,
        source="eval",
        retry=None,
        progress=False,
    )
    assert (done["ok"].outcome, done["fail"].outcome) == ("answered", "failed")
    assert done["ok"].task == done["fail"].task == "math"


def test_a_checkpointed_run_resumes_with_step_objects_and_no_serde_warning(caplog) -> None:
    model = scripted(["<math_exp>48/2</math_exp>", "<answer>24</answer>"])
    agent = create_swirl_agent(model, [calculator], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    with caplog.at_level(logging.WARNING):
        agent.invoke({"question": "Half of 48?"}, config, interrupt_before=["tools"])
        paused = agent.get_state(config)  # read back from the checkpoint's bytes
        assert paused.next == ("tools",)
        (step,) = paused.values["steps"]
        assert isinstance(step, Step) and (step.kind, step.observation) == ("math", None)
        out = agent.invoke(None, config)  # resume: the tool runs on the restored Step
    assert out["answer"] == "24" and [s.observation for s in out["steps"]] == ["48/2 -> 24", None]
    assert all(isinstance(s, Step) for s in agent.get_state(config).values["steps"])
    assert not [r for r in caplog.records if "unregistered type" in r.getMessage()]


def test_strict_msgpack_checkpoints_allow_step() -> None:
    """With LangGraph's strict deserialization on, the state schema registers Step."""
    code = textwrap.dedent(
        """
        import logging, sys
        sys.path.insert(0, "tests")
        logging.basicConfig(level=logging.WARNING)
        from fakes import scripted
        from langgraph.checkpoint.memory import InMemorySaver
        from swirl_agents import create_swirl_agent
        from swirl_agents.tools.calculator import calculator
        from swirl_agents.traces import Step
        model = scripted(["<math_exp>48/2</math_exp>", "<answer>24</answer>"])
        agent = create_swirl_agent(model, [calculator], checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "t"}}
        agent.invoke({"question": "Half of 48?"}, config, interrupt_before=["tools"])
        assert isinstance(agent.get_state(config).values["steps"][0], Step)
        assert agent.invoke(None, config)["answer"] == "24"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"LANGGRAPH_STRICT_MSGPACK": "true", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok" and "Blocked" not in done.stderr, done.stderr
