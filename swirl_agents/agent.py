"""The SWiRL agent graph: think -> one action -> tool -> ... -> answer, as a LangGraph state machine.

``create_swirl_agent(model, tools)`` returns a compiled graph. It runs standalone
(``invoke({"question": ...})``) and as a node or subgraph of an app that uses ``MessagesState``:
with no ``question`` in the input the question is the last human message, and a run appends
exactly one AI message (the answer) to ``messages``. The scratchpad lives in ``steps``.

    start ──> agent ──(search/math)──> tools ──> agent ...
                 │ ──(invalid: corrective turn)──> agent
                 └──(answer or budget spent)──> finish ──> END
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, RetryPolicy

from swirl_agents import protocol
from swirl_agents.protocol import MATH_TAG, SEARCH_TAG, Action

# Model calls retry on rate limits and 5xx (LangGraph's default retry_on), with backoff.
DEFAULT_RETRY = RetryPolicy(max_attempts=4)

# Finish reasons that mean "cut by the token cap", not "stopped at a closing tag".
_LENGTH_REASONS = {"length", "max_tokens", "MAX_TOKENS"}


class SwirlState(TypedDict, total=False):
    """Graph state. ``messages`` is compatible with LangGraph's ``MessagesState``."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    steps: list[dict[str, Any]]  # Step records (see swirl_agents.traces.schema.Step)
    answer: str | None
    outcome: str | None  # answered | no_answer


class TraceSink(Protocol):
    """Anything with ``add(trajectory)`` (a TraceStore) receives every finished run."""

    def add(self, trajectory: Any) -> None: ...  # pragma: no cover


def tool_tag(tool: BaseTool) -> str:
    """The protocol tag a tool answers to: ``metadata["swirl_tag"]``, else guessed from its name."""
    tag = (tool.metadata or {}).get("swirl_tag")
    if tag:
        if tag not in (SEARCH_TAG, MATH_TAG):
            raise ValueError(
                f"tool {tool.name!r}: swirl_tag must be {SEARCH_TAG!r} or {MATH_TAG!r}"
            )
        return tag
    name = tool.name.lower()
    return MATH_TAG if any(k in name for k in ("calc", "math")) else SEARCH_TAG


def model_name(model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def create_swirl_agent(
    model: BaseChatModel,
    tools: Sequence[BaseTool] = (),
    *,
    max_steps: int = 5,
    task: str | None = None,
    system_prompt: str | None = None,
    trace_store: TraceSink | None = None,
    on_trace: Callable[[Any], None] | None = None,
    redact: Callable[[Any], Any] | None = None,
    trace_source: str = "production",
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    checkpointer: Any = None,
    name: str = "swirl_agent",
):
    """Build the SWiRL agent graph.

    Args:
        model: any LangChain chat model; it is called once per step with stop sequences.
        tools: LangChain tools; each maps to ``<search_query>`` or ``<math_exp>`` (see ``tool_tag``).
        max_steps: the step budget: the number of model calls (corrective turns count).
        task: ``"math"`` or ``"qa"`` prompt hints; guessed from the tools when None.
        system_prompt: replace the generated system prompt entirely.
        trace_store: a TraceStore (``add(trajectory)``) that logs every finished run.
        on_trace: a callback that receives every finished run's Trajectory.
        redact: sees each Trajectory before it is logged; returns it (changed) or None to drop it.
        trace_source: the ``source`` of logged runs (production, generated, eval, ...).
        retry_policy: LangGraph retry policy for model calls (rate limits, 5xx); None disables.
        checkpointer: a LangGraph checkpointer, for threads and memory.
        name: the graph's name (and the ``name`` of its final AI message).
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    tools_by_tag: dict[str, BaseTool] = {}
    for tool in tools:
        tag = tool_tag(tool)
        if tag in tools_by_tag:
            raise ValueError(
                f"tools {tools_by_tag[tag].name!r} and {tool.name!r} both map to <{tag}>"
            )
        tools_by_tag[tag] = tool
    system = system_prompt or protocol.system_prompt(tools_by_tag, max_steps, task)
    name_of_model = model_name(model)

    # --- nodes -----------------------------------------------------------------------------
    def start(state: SwirlState) -> dict[str, Any]:
        """Pick the question and reset the scratchpad (a new question on a thread starts clean).

        A new chat turn (``messages`` ending with a human message) is the question; otherwise
        the input's ``question``, else the last human message.
        """
        messages = state.get("messages") or []
        question = state.get("question")
        if messages and isinstance(messages[-1], HumanMessage):
            question = messages[-1].text  # a new chat turn
        elif not question:
            humans = [m for m in messages if isinstance(m, HumanMessage)]
            question = humans[-1].text if humans else ""
        if not question or not question.strip():
            raise ValueError(
                "no question: pass {'question': ...} or end `messages` with a human message"
            )
        return {"question": question, "steps": [], "answer": None, "outcome": None}

    def _prompt(state: SwirlState) -> list[BaseMessage]:
        return protocol.build_messages(system, state["question"], state.get("steps") or [])

    def _step(state: SwirlState, reply: BaseMessage, started: float) -> Command:
        """Record the model's turn and route on it (a Command: no separate routing function)."""
        meta = getattr(reply, "response_metadata", {}) or {}
        stopped = meta.get("finish_reason", meta.get("stop_reason")) not in _LENGTH_REASONS
        text = protocol.complete_turn(reply.text, stopped=stopped)
        action = protocol.parse_action(text)
        if action.kind in ("search", "math") and action.tag not in tools_by_tag:
            action = Action(
                "invalid", reasoning=action.reasoning, error=f"no tool for <{action.tag}>"
            )
        step = {
            "index": len(state.get("steps") or []),
            "text": text,
            "kind": action.kind,
            "argument": action.argument,
            "observation": protocol.corrective_turn(action) if action.kind == "invalid" else None,
            "tool": None,
            "error": action.error,
            "model": name_of_model,
            "started_at": started,
            "duration_s": time.time() - started,
            "token_ids": meta.get("token_ids"),
        }
        steps = [*(state.get("steps") or []), step]
        if action.kind == "answer" or len(steps) >= max_steps:
            goto = "finish"  # a tool call on the last step is not run: no model call would read it
        else:
            goto = "tools" if action.kind in ("search", "math") else "agent"
        return Command(update={"steps": steps}, goto=goto)

    def agent(state: SwirlState, config: RunnableConfig) -> Command:
        started = time.time()
        reply = model.invoke(_prompt(state), config, stop=protocol.STOP_SEQUENCES)
        return _step(state, reply, started)

    async def aagent(state: SwirlState, config: RunnableConfig) -> Command:
        started = time.time()
        reply = await model.ainvoke(_prompt(state), config, stop=protocol.STOP_SEQUENCES)
        return _step(state, reply, started)

    def _observe(state: SwirlState, output: Any, error: str, started: float) -> dict[str, Any]:
        step = dict(state["steps"][-1])
        step["tool"] = tools_by_tag[protocol.KIND_TO_TAG[step["kind"]]].name
        step["observation"] = protocol.render_tool_result(step["argument"], _as_text(output))
        step["error"] = error
        step["duration_s"] += time.time() - started
        return {"steps": [*state["steps"][:-1], step]}

    def _tool(state: SwirlState) -> BaseTool:
        return tools_by_tag[protocol.KIND_TO_TAG[state["steps"][-1]["kind"]]]

    def run_tool(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        started = time.time()
        try:  # a failing tool is a result the model can read, never the end of the run
            return _observe(
                state, _tool(state).invoke(state["steps"][-1]["argument"], config), "", started
            )
        except Exception as exc:  # noqa: BLE001
            return _observe(state, f"Error: {exc}", f"{type(exc).__name__}: {exc}", started)

    async def arun_tool(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        started = time.time()
        try:
            out = await _tool(state).ainvoke(state["steps"][-1]["argument"], config)
            return _observe(state, out, "", started)
        except Exception as exc:  # noqa: BLE001
            return _observe(state, f"Error: {exc}", f"{type(exc).__name__}: {exc}", started)

    def finish(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        last = state["steps"][-1]
        if last["kind"] == "answer":
            answer, outcome, content = last["argument"], "answered", last["argument"]
        else:
            answer, outcome = None, "no_answer"
            content = f"No answer within {max_steps} steps."
        final = {"answer": answer, "outcome": outcome}
        if trace_store is not None or on_trace is not None:
            _log({**state, **final}, config)
        return {**final, "messages": [AIMessage(content, name=name)]}

    def _log(state: dict[str, Any], config: RunnableConfig) -> None:
        from swirl_agents.traces.record import trajectory_from_state  # keeps import light

        context = (config.get("configurable") or {}).get("swirl_trace") or {}
        trajectory = trajectory_from_state(
            state, system_prompt=system, model=name_of_model, source=trace_source, **context
        )
        if redact is not None:
            trajectory = redact(trajectory)
            if trajectory is None:
                return
        if trace_store is not None:
            trace_store.add(trajectory)
        if on_trace is not None:
            on_trace(trajectory)

    builder = StateGraph(SwirlState)
    builder.add_node("start", start)
    builder.add_node(
        "agent",
        _node(agent, aagent, "agent"),
        retry_policy=retry_policy,
        destinations=("tools", "agent", "finish"),
    )
    builder.add_node("tools", _node(run_tool, arun_tool, "tools"))
    builder.add_node("finish", finish)
    builder.add_edge(START, "start")
    builder.add_edge("start", "agent")
    builder.add_edge("tools", "agent")
    builder.add_edge("finish", END)
    return _owning_recursion_limit(
        builder.compile(checkpointer=checkpointer, name=name), recursion_limit(max_steps)
    )


def recursion_limit(max_steps: int) -> int:
    """The LangGraph supersteps a run of ``max_steps`` model calls can take: start, one agent
    step per call, one tool step between calls, finish; plus a margin."""
    return 2 * max_steps + 5


class SwirlGraph(CompiledStateGraph):
    """A compiled SWiRL graph that owns its recursion limit.

    The step budget already bounds every run, so LangGraph's recursion limit must never end one
    first: ``stream``/``astream`` (and so ``invoke``, ``batch``, use as a subgraph, ...) run with
    the larger of the caller's limit and the graph's own, which lives in the graph's config and
    so survives ``with_config`` and the other copies LangGraph makes.
    """

    def _own_limit(self, config: RunnableConfig | None) -> RunnableConfig | None:
        own = (self.config or {}).get("recursion_limit")
        theirs = (config or {}).get("recursion_limit")
        if own is None or theirs is None or theirs >= own:
            return config  # none given: ensure_config takes the graph's own from self.config
        return {**config, "recursion_limit": own}

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any):
        return super().stream(input, self._own_limit(config), **kwargs)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any):
        return super().astream(input, self._own_limit(config), **kwargs)


def _owning_recursion_limit(graph: CompiledStateGraph, limit: int) -> SwirlGraph:
    """The same compiled graph as a SwirlGraph (built the way ``Pregel.copy`` builds copies)."""
    attrs = {k: v for k, v in graph.__dict__.items() if k != "__orig_class__"}
    attrs["config"] = {**(graph.config or {}), "recursion_limit": limit}
    return SwirlGraph(**attrs)


def _node(func: Callable[..., Any], afunc: Callable[..., Any], name: str) -> Runnable:
    """A node with a sync and an async body, wrapped the way ``add_node`` wraps a plain function
    (LangGraph's prebuilt agents do the same): a RunnableLambda would open an extra traced run
    and inspect signatures on every call, which costs more than the rest of a step."""
    try:
        from langgraph._internal._runnable import RunnableCallable
    except ImportError:  # the module is internal to LangGraph; fall back to the public wrapper
        from langchain_core.runnables import RunnableLambda

        return RunnableLambda(func, afunc=afunc, name=name)
    return RunnableCallable(func, afunc, name=name, trace=False)


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return output.text
    return str(output)
