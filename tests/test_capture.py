"""SwirlTracer: capturing the runs of an existing app (create_agent, a hand-built StateGraph) as
trajectories through a callback handler, one per graph run, never mixing concurrent runs."""

from __future__ import annotations

import pytest
from agent_fixtures import TOOLS, script, weather
from fakes import scripted
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from swirl_agents import create_swirl_agent
from swirl_agents.traces import SQLiteTraceStore, Trajectory
from swirl_agents.traces.capture import CAPTURE_PROTOCOL, SwirlTracer

create_agent = pytest.importorskip("langchain.agents").create_agent


class ListStore:
    def __init__(self) -> None:
        self.added: list[Trajectory] = []

    def add(self, trajectory: Trajectory) -> None:
        self.added.append(trajectory)


def check_run(traj: Trajectory, question: str) -> None:
    assert (traj.question, traj.outcome) == (question, "answered")
    assert traj.answer == f"{question.upper()}: sunny in {question}"
    assert [s.kind for s in traj.steps] == ["tool", "tool", "answer"]
    assert [s.index for s in traj.steps] == [0, 1, 2]
    first = traj.steps[0]
    assert [
        (c["id"], c["name"], c["args"], c["output"], c["status"]) for c in first.tool_calls
    ] == [
        (f"w-{question}", "weather", {"city": question}, f"sunny in {question}", "success"),
        (f"c-{question}", "convert", {"amount": 2, "unit": "km"}, "2000 m", "success"),
    ]
    assert first.tool == "weather, convert" and first.text == f"Looking up {question}."
    assert traj.steps[1].tool_calls[0]["output"] == question.upper()
    assert all(s.model == "ScriptedChatModel" and s.duration_s >= 0 for s in traj.steps)
    assert traj.steps[0].started_at <= traj.steps[1].started_at <= traj.steps[2].started_at
    assert traj.steps[0].duration_s >= 0.01  # the model call and its tools
    assert traj.protocol == CAPTURE_PROTOCOL and traj.source == "production"
    # the schemas bound with bind_tools, read from the model call's invocation params
    assert traj.tools == [convert_to_openai_tool(t) for t in TOOLS]


def test_create_agent_runs_into_sqlite(tmp_path) -> None:
    store = SQLiteTraceStore(tmp_path / "prod.db")
    tracer = SwirlTracer(store)
    app = create_agent(scripted(script), TOOLS, checkpointer=InMemorySaver())
    questions = ["oslo", "rome", "lima", "kyiv", "baku"]
    for q in questions:
        out = app.invoke(
            {"messages": [{"role": "user", "content": q}]},
            {"callbacks": [tracer], "configurable": {"thread_id": f"t-{q}"}},
        )
        assert out["messages"][-1].content.startswith(q.upper())
    stored = list(store.iter())
    store.close()
    assert [t.question for t in stored] == questions
    for traj, q in zip(stored, questions, strict=True):
        check_run(traj, q)
        assert traj.metadata["thread_id"] == f"t-{q}"
        assert traj.id == traj.metadata["run_id"].replace("-", "")
    assert len({t.id for t in stored}) == 5
    assert not tracer._runs and not tracer._root  # nothing kept after the runs


def test_concurrent_runs_never_mix_their_steps() -> None:
    sink = ListStore()
    tracer = SwirlTracer(sink)
    app = create_agent(scripted(script), TOOLS)
    questions = [f"city{i}" for i in range(5)]
    app.batch(
        [{"messages": [HumanMessage(q)]} for q in questions],
        {"callbacks": [tracer], "max_concurrency": 5},
    )
    assert sorted(t.question for t in sink.added) == questions
    for traj in sink.added:
        check_run(traj, traj.question)


async def test_concurrent_async_runs_never_mix_their_steps() -> None:
    sink = ListStore()
    tracer = SwirlTracer(sink)
    app = create_agent(scripted(script), TOOLS)
    questions = [f"town{i}" for i in range(5)]
    await app.abatch([{"messages": [HumanMessage(q)]} for q in questions], {"callbacks": [tracer]})
    assert sorted(t.question for t in sink.added) == questions
    for traj in sink.added:
        check_run(traj, traj.question)


def test_a_hand_built_state_graph() -> None:
    model = scripted(script).bind_tools(TOOLS)

    def chatbot(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("chatbot", chatbot)
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "chatbot")
    builder.add_conditional_edges("chatbot", tools_condition)
    builder.add_edge("tools", "chatbot")
    app = builder.compile()
    seen: list[Trajectory] = []
    app.invoke(
        {"messages": [HumanMessage("doha")]}, {"callbacks": [SwirlTracer(on_trace=seen.append)]}
    )
    (traj,) = seen
    check_run(traj, "doha")
    assert traj.metadata["graph"] == "LangGraph"


def test_redaction_hook_sees_every_record_first() -> None:
    sink = ListStore()

    def redact(traj: Trajectory) -> Trajectory | None:
        if "secret" in traj.question:
            return None
        traj.question = traj.question.replace("alice@example.com", "<email>")
        for step in traj.steps:
            for c in step.tool_calls or []:
                c["args"] = {k: "<redacted>" for k in c["args"]}
        return traj

    app = create_agent(scripted(script), TOOLS)
    config = {"callbacks": [SwirlTracer(sink, redact=redact)]}
    app.invoke({"messages": [HumanMessage("alice@example.com")]}, config)
    app.invoke({"messages": [HumanMessage("a secret")]}, config)
    (traj,) = sink.added
    assert traj.question == "<email>"
    assert traj.steps[0].tool_calls[0]["args"] == {"city": "<redacted>"}


def test_a_failed_run_is_logged_as_failed_and_a_broken_store_never_breaks_the_app() -> None:
    def flaky(messages):
        if any(isinstance(m, ToolMessage) for m in messages):
            raise ConnectionError("503")
        return script(messages)

    sink = ListStore()
    app = create_agent(scripted(flaky), TOOLS)
    with pytest.raises(ConnectionError):
        app.invoke({"messages": [HumanMessage("x")]}, {"callbacks": [SwirlTracer(sink)]})
    (traj,) = sink.added
    assert (traj.outcome, traj.error, len(traj.steps)) == ("failed", "ConnectionError: 503", 1)

    class Broken:
        def add(self, trajectory):
            raise OSError("disk full")

    out = create_agent(scripted(script), TOOLS).invoke(
        {"messages": [HumanMessage("y")]}, {"callbacks": [SwirlTracer(Broken())]}
    )
    assert out["messages"][-1].content == "Y: sunny in y"


def test_the_swirl_agent_captured_gives_its_own_step_records() -> None:
    own: list[Trajectory] = []
    captured: list[Trajectory] = []

    def swirl_script(messages):  # the tools protocol's question is the first human turn
        return script([m for m in messages if not m.type == "system"])

    agent = create_swirl_agent(scripted(swirl_script), TOOLS, protocol="tools", on_trace=own.append)
    agent.invoke({"question": "lima"}, {"callbacks": [SwirlTracer(on_trace=captured.append)]})
    (mine,), (theirs,) = own, captured
    fields = ("index", "text", "kind", "argument", "observation", "tool", "error", "tool_calls")
    assert [[getattr(s, f) for f in fields] for s in theirs.steps] == [
        [getattr(s, f) for f in fields] for s in mine.steps
    ]
    assert (theirs.question, theirs.answer, theirs.system_prompt, theirs.tools) == (
        mine.question,
        mine.answer,
        mine.system_prompt,
        mine.tools,
    )
    assert [t["function"]["name"] for t in mine.tools] == ["weather", "convert", "shout"]


def test_a_handler_on_the_model_alone_logs_each_call() -> None:
    seen: list[Trajectory] = []
    tracer = SwirlTracer(on_trace=seen.append)
    model = scripted(script).bind_tools(TOOLS)
    model.invoke([HumanMessage("bern")], {"callbacks": [tracer]})
    (traj,) = seen
    assert (traj.question, traj.outcome, traj.steps[0].kind) == ("bern", "no_answer", "tool")
    weather.invoke({"city": "x"}, {"callbacks": [tracer]})  # a tool alone: nothing to log
    assert len(seen) == 1 and not tracer._runs and not tracer._root and not tracer._tools


def test_langgraph_prebuilt_react_agent() -> None:
    import warnings

    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of langchain's create_agent
        app = create_react_agent(scripted(script), TOOLS)
    seen: list[Trajectory] = []
    app.invoke(
        {"messages": [HumanMessage("nuuk")]}, {"callbacks": [SwirlTracer(on_trace=seen.append)]}
    )
    (traj,) = seen
    check_run(traj, "nuuk")
