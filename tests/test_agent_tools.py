"""create_swirl_agent(..., protocol="tools"): native tool calls through bind_tools and ToolNode,
with the same state, step budget, tracing, drop-in contract and config passthrough as the tags."""

from __future__ import annotations

import pytest
from fakes import call, scripted, tool_turn
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import StructuredTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from swirl_agents import create_swirl_agent
from swirl_agents.traces import SQLiteTraceStore, Trajectory


@tool
def convert(amount: float, unit: str) -> str:
    """Convert an amount of kilometres or miles to metres."""
    factor = {"km": 1000, "mile": 1609}[unit]
    return f"{amount * factor:g} m"


@tool
def population(city: str, year: int) -> int:
    """The population of a city in a year."""
    return {"Paris": 2_100_000}.get(city, 0) + year - year


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


TOOLS = [convert, population, add]


def three_turns():
    return scripted(
        [
            tool_turn(
                "I need the distance and the population.",
                call("convert", {"amount": 3, "unit": "km"}, "c1"),
                call("population", {"city": "Paris", "year": 2020}, "c2"),
            ),
            tool_turn("Now add them.", call("add", {"a": 3000, "b": 2100000}, "c3")),
            "The answer is 2103000.",
        ]
    )


def test_several_tools_with_structured_arguments() -> None:
    model = three_turns()
    agent = create_swirl_agent(model, TOOLS, protocol="tools", max_steps=5)
    out = agent.invoke({"question": "Distance plus population?"})

    assert (out["outcome"], out["answer"]) == ("answered", "The answer is 2103000.")
    assert [s.kind for s in out["steps"]] == ["tool", "tool", "answer"]
    first = out["steps"][0]
    assert [(c["name"], c["args"], c["output"], c["status"]) for c in first.tool_calls] == [
        ("convert", {"amount": 3, "unit": "km"}, "3000 m", "success"),
        ("population", {"city": "Paris", "year": 2020}, "2100000", "success"),
    ]
    assert first.tool == "convert, population" and first.error == ""
    assert (
        first.argument
        == 'convert({"amount": 3, "unit": "km"}); population({"city": "Paris", "year": 2020})'
    )
    assert first.observation.splitlines()[0] == 'convert({"amount": 3, "unit": "km"}) -> 3000 m'
    assert out["steps"][2].tool_calls is None
    # one final AI message, as with the tags
    assert [(type(m), m.content) for m in out["messages"]] == [
        (AIMessage, "The answer is 2103000.")
    ]

    # the tools are bound natively; no stop sequences; the model sees tool messages
    assert all(c["stop"] is None for c in model.calls)
    bound = model.calls[0]["kwargs"]["tools"]
    assert [t["function"]["name"] for t in bound] == ["convert", "population", "add"]
    assert set(bound[0]["function"]["parameters"]["properties"]) == {"amount", "unit"}
    sent = model.calls[1]["messages"]
    assert [type(m) for m in sent] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
    ]
    assert sent[1].content == "Distance plus population?"
    assert [tc["id"] for tc in sent[2].tool_calls] == ["c1", "c2"]
    assert [(m.tool_call_id, m.content) for m in sent[3:]] == [("c1", "3000 m"), ("c2", "2100000")]
    assert "at most 5 steps" in sent[0].content


@pytest.mark.parametrize("max_steps", [1, 3])
def test_every_model_call_is_a_step(max_steps: int) -> None:
    model = scripted([tool_turn("again", call("add", {"a": 1, "b": 1}))])
    out = create_swirl_agent(model, TOOLS, protocol="tools", max_steps=max_steps).invoke(
        {"question": "Q"}
    )
    assert len(model.calls) == max_steps == len(out["steps"])
    assert (out["outcome"], out["answer"]) == ("no_answer", None)
    assert out["messages"][-1].content == f"No answer within {max_steps} steps."
    # the last turn's calls are not run: no model call would read their results
    assert out["steps"][-1].tool_calls[0]["output"] is None
    assert all(s.tool_calls[0]["output"] == "2.0" for s in out["steps"][:-1])


def test_a_long_budget_ends_with_no_answer() -> None:
    model = scripted([tool_turn("", call("add", {"a": 1, "b": 1}))])
    agent = create_swirl_agent(model, TOOLS, protocol="tools", max_steps=30)
    out = agent.invoke({"question": "Q"}, {"recursion_limit": 25})
    assert (out["outcome"], len(out["steps"])) == ("no_answer", 30)


def test_failing_and_unknown_tools_are_results() -> None:
    def boom(query: str) -> str:
        raise RuntimeError("index offline")

    broken = StructuredTool.from_function(boom, name="search", description="fails")
    model = scripted(
        [
            tool_turn("", call("search", {"query": "x"}, "a"), call("nope", {}, "b")),
            "done",
        ]
    )
    out = create_swirl_agent(model, [broken], protocol="tools").invoke({"question": "Q"})
    calls = out["steps"][0].tool_calls
    assert [c["status"] for c in calls] == ["error", "error"]
    assert "index offline" in calls[0]["output"] and "nope" in calls[1]["output"]
    assert out["steps"][0].error.startswith("search: ")
    assert out["answer"] == "done"


def test_empty_and_malformed_turns_get_a_corrective_turn() -> None:
    malformed = AIMessage(
        "", invalid_tool_calls=[{"name": "add", "args": "{a: 1", "id": "x", "error": "bad JSON"}]
    )
    model = scripted(["", malformed, "4"])
    out = create_swirl_agent(model, TOOLS, protocol="tools", max_steps=5).invoke({"question": "Q"})
    assert [s.kind for s in out["steps"]] == ["invalid", "invalid", "answer"]
    assert out["steps"][0].error == "an empty turn: no text and no tool call"
    assert out["steps"][1].error == "malformed tool call (add: bad JSON)"
    corrective = model.calls[1]["messages"][-1]
    assert isinstance(corrective, HumanMessage) and "no valid action" in corrective.content
    assert out["answer"] == "4"


def test_no_tools_binds_nothing() -> None:
    model = scripted(["hello"])
    out = create_swirl_agent(model, [], protocol="tools").invoke({"question": "Q"})
    assert out["answer"] == "hello" and "tools" not in model.calls[0]["kwargs"]


def test_bad_protocol_and_duplicate_tool_names() -> None:
    with pytest.raises(ValueError, match="protocol must be one of"):
        create_swirl_agent(scripted(["x"]), [], protocol="json")
    with pytest.raises(ValueError, match="share the name"):
        create_swirl_agent(scripted(["x"]), [add, add], protocol="tools")


# --- drop-in ---------------------------------------------------------------------------------


def echo(messages) -> AIMessage | str:
    """Calls add once per question, then answers with the question in upper case."""
    question = messages[1].content
    if isinstance(messages[-1], ToolMessage):
        return question.upper()
    return tool_turn("", call("add", {"a": 1, "b": 2}, f"id-{question}"))


def test_subgraph_of_a_messages_state_app_with_a_checkpointer() -> None:
    agent = create_swirl_agent(scripted(echo), TOOLS, protocol="tools")

    def greet(state: MessagesState) -> dict:
        return {"messages": [AIMessage("Let me check.")]}

    builder = StateGraph(MessagesState)
    builder.add_node("greet", greet)
    builder.add_node("swirl", agent)
    builder.add_edge(START, "greet")
    builder.add_edge("greet", "swirl")
    builder.add_edge("swirl", END)
    app = builder.compile(checkpointer=InMemorySaver())

    config = {"configurable": {"thread_id": "t"}}
    out = app.invoke({"messages": [HumanMessage("paris")]}, config)
    assert [m.content for m in out["messages"]] == ["paris", "Let me check.", "PARIS"]
    out = app.invoke({"messages": [HumanMessage("rome")]}, config)
    assert [m.content for m in out["messages"][3:]] == ["rome", "Let me check.", "ROME"]
    # the parent's messages hold no tool traffic: the scratchpad stays in the agent's steps
    assert not any(
        isinstance(m, ToolMessage) or getattr(m, "tool_calls", None) for m in out["messages"]
    )
    events = list(
        app.stream(
            {"messages": [HumanMessage("oslo")]}, config, subgraphs=True, stream_mode="updates"
        )
    )
    assert [next(iter(u)) for ns, u in events if ns] == [
        "start",
        "agent",
        "tools",
        "agent",
        "finish",
    ]


def test_checkpointed_thread_new_question_starts_clean() -> None:
    agent = create_swirl_agent(
        scripted(echo), TOOLS, protocol="tools", checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "x"}}
    agent.invoke({"messages": [HumanMessage("one")]}, config)
    second = agent.invoke({"messages": [HumanMessage("two")]}, config)
    assert (second["question"], second["answer"], len(second["steps"])) == ("two", "TWO", 2)
    assert [m.content for m in second["messages"]] == ["one", "ONE", "two", "TWO"]


async def test_async_stream_batch_and_async_tools() -> None:
    seen: list[dict] = []

    async def alookup(city: str, year: int) -> str:
        seen.append({"city": city, "year": year})
        return "found"

    atool = StructuredTool.from_function(coroutine=alookup, name="lookup", description="d")
    model = scripted([tool_turn("", call("lookup", {"city": "Oslo", "year": 1990})), "ok"])
    agent = create_swirl_agent(model, [atool], protocol="tools")
    out = await agent.ainvoke({"question": "Q"})
    assert (
        seen == [{"city": "Oslo", "year": 1990}]
        and out["steps"][0].tool_calls[0]["output"] == "found"
    )
    chunks = [next(iter(c)) async for c in agent.astream({"question": "Q"}, stream_mode="updates")]
    assert chunks == ["start", "agent", "tools", "agent", "finish"]

    batched = create_swirl_agent(scripted(echo), TOOLS, protocol="tools")
    assert [o["answer"] for o in batched.batch([{"question": q} for q in "abc"])] == ["A", "B", "C"]
    assert [o["answer"] for o in await batched.abatch([{"question": q} for q in "de"])] == [
        "D",
        "E",
    ]


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.model: list[tuple[list[str], dict]] = []
        self.tools: list[tuple[list[str], dict]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, metadata=None, **kw) -> None:
        self.model.append((tags or [], metadata or {}))

    def on_tool_start(self, serialized, input_str, *, tags=None, metadata=None, **kw) -> None:
        self.tools.append((tags or [], metadata or {}))


def test_config_reaches_model_and_tool_calls() -> None:
    recorder = Recorder()
    agent = create_swirl_agent(three_turns(), TOOLS, protocol="tools", checkpointer=InMemorySaver())
    config = {
        "callbacks": [recorder],
        "tags": ["my-app"],
        "metadata": {"user": "u1"},
        "configurable": {"thread_id": "cfg"},
    }
    agent.invoke({"question": "Q"}, config)
    assert len(recorder.model) == 3 and len(recorder.tools) == 3
    for tags, meta in recorder.model + recorder.tools:
        assert "my-app" in tags and meta["user"] == "u1" and meta["thread_id"] == "cfg"
    assert {m["langgraph_node"] for _, m in recorder.tools} == {"tools"}


# --- traces ----------------------------------------------------------------------------------


def test_runs_are_traced_to_a_store_with_their_tool_calls(tmp_path) -> None:
    store = SQLiteTraceStore(tmp_path / "t.db")
    redacted: list[str] = []

    def redact(traj: Trajectory) -> Trajectory:
        redacted.append(traj.id)
        traj.metadata["redacted"] = True
        return traj

    agent = create_swirl_agent(
        three_turns(), TOOLS, protocol="tools", trace_store=store, redact=redact
    )
    agent.invoke({"question": "Q"}, {"configurable": {"swirl_trace": {"id": "run-1"}}})
    (traj,) = list(store.iter())
    store.close()
    assert (traj.id, traj.protocol, traj.outcome, traj.answer) == (
        "run-1",
        "swirl-tools/1",
        "answered",
        "The answer is 2103000.",
    )
    assert redacted == ["run-1"] and traj.metadata == {"redacted": True}
    assert [s.kind for s in traj.steps] == ["tool", "tool", "answer"]
    assert traj.steps[0].tool_calls[0] == {
        "id": "c1",
        "name": "convert",
        "args": {"amount": 3, "unit": "km"},
        "output": "3000 m",
        "status": "success",
    }
    assert traj.steps[0].model == "ScriptedChatModel" and traj.valid_action_rate == 1.0
    assert "tool" in traj.system_prompt
