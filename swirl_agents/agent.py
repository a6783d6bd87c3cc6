"""The SWiRL agent graph: think -> one action -> tool -> ... -> answer, as a LangGraph state machine.

``create_swirl_agent(model, tools)`` returns a compiled graph. It runs standalone
(``invoke({"question": ...})``) and as a node or subgraph of an app that uses ``MessagesState``:
with no ``question`` in the input the question is the last human message, and a run appends
exactly one AI message (the answer) to ``messages``. The scratchpad lives in ``steps``.

    start ──> agent ──(tool call)──> tools ──> agent ...
                 │ ──(invalid: corrective turn)──> agent
                 └──(answer or budget spent)──> finish ──> END

What a turn looks like is the protocol's business (``swirl_agents.protocols``: the paper's text
tags by default, or native tool calls with ``protocol="tools"``): it renders the state for the
model, parses the reply into a step record and runs the step's tools. This module only wires nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, Protocol, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, RetryPolicy

from swirl_agents.protocols import make_protocol
from swirl_agents.protocols.tags import tool_tag
from swirl_agents.traces.schema import Step

__all__ = ["DEFAULT_RETRY", "SwirlGraph", "SwirlState", "create_swirl_agent", "tool_tag"]

# Model calls retry on rate limits and 5xx (LangGraph's default retry_on), with backoff.
DEFAULT_RETRY = RetryPolicy(max_attempts=4)


class SwirlState(TypedDict, total=False):
    """Graph state. ``messages`` is compatible with LangGraph's ``MessagesState``."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    steps: list[Step]  # the run's step records, exactly as they are logged and trained on
    answer: str | None
    outcome: str | None  # answered | no_answer


class _StepIsRegistered(logging.Filter):
    """Checkpointers keep ``Step`` objects (a dataclass) in ``steps``. With
    ``LANGGRAPH_STRICT_MSGPACK`` on, ``compile`` allows the types of the state schema, ``Step``
    among them; in LangGraph's default permissive mode every type outside its own list is
    allowed too, but logs "Deserializing unregistered type" once. That line is about a type this
    graph registers, so it is dropped, for ``Step`` only (other types still warn)."""

    _key = f"{Step.__module__}.{Step.__qualname__}"

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        about_step = len(args) >= 2 and f"{args[0]}.{args[1]}" == self._key
        return not (about_step and str(record.msg).startswith("Deserializing unregistered type"))


logging.getLogger("langgraph.checkpoint.serde.jsonplus").addFilter(_StepIsRegistered())


class TraceSink(Protocol):
    """Anything with ``add(trajectory)`` (a TraceStore) receives every finished run."""

    def add(self, trajectory: Any) -> None: ...  # pragma: no cover


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
    protocol: Literal["tags", "tools"] = "tags",
    task: str | None = None,
    system_prompt: str | None = None,
    trace_store: TraceSink | None = None,
    on_trace: Callable[[Any], None] | None = None,
    redact: Callable[[Any], Any] | None = None,
    trace_source: str = "production",
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    checkpointer: Any = None,
    name: str = "swirl_agent",
) -> SwirlGraph:
    """Build the SWiRL agent graph.

    Args:
        model: any LangChain chat model; it is called once per step (with the tag protocol's stop
            sequences, or with the tools bound through ``bind_tools``).
        tools: LangChain tools. With ``protocol="tags"`` each maps to ``<search_query>`` or
            ``<math_exp>`` (see ``tool_tag``); with ``protocol="tools"`` any number, with
            structured arguments.
        max_steps: the step budget: the number of model calls (corrective turns count).
        protocol: ``"tags"`` (the paper's text tags, the default) or ``"tools"`` (native tool
            calls: a turn is its text plus zero or more tool calls; a turn with no tool call is
            the answer). See ``swirl_agents.protocols``.
        task: ``"math"`` or ``"qa"`` prompt hints; guessed from the tools when None (tags).
        system_prompt: replace the generated system prompt entirely.
        trace_store: a TraceStore (``add(trajectory)``) that logs every finished run.
        on_trace: a callback that receives every finished run's Trajectory.
        redact: sees each Trajectory before it is logged; returns it (changed) or None to drop it.
        trace_source: the ``source`` of logged runs (production, generated, eval, ...).
        retry_policy: LangGraph retry policy for model calls (rate limits, 5xx); None disables.
        checkpointer: a LangGraph checkpointer, for threads and memory.
        name: the graph's name (and the ``name`` of its final AI message).

    The graph owns its recursion limit (see ``SwirlGraph``): runs end at the step budget with
    outcome ``no_answer``, never with ``GraphRecursionError``.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    proto = make_protocol(
        protocol, tools, max_steps=max_steps, task=task, system_prompt=system_prompt
    )
    system = proto.system_prompt
    bound = proto.bind(model)
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
        return {"question": str(question), "steps": [], "answer": None, "outcome": None}

    def _step(state: SwirlState, reply: Any, started: float) -> Command:
        """Record the model's turn and route on it (a Command: no separate routing function)."""
        turn = proto.parse(reply)
        meta = getattr(reply, "response_metadata", {}) or {}
        step = replace(
            turn.step,
            index=len(state.get("steps") or []),
            model=name_of_model,
            started_at=started,
            duration_s=time.time() - started,
            token_ids=meta.get("token_ids"),
        )
        steps = [*(state.get("steps") or []), step]
        if step.kind == "answer" or len(steps) >= max_steps:
            goto = "finish"  # a tool call on the last step is not run: no model call would read it
        else:
            goto = "tools" if turn.run_tools else "agent"
        return Command(update={"steps": steps}, goto=goto)

    def agent(state: SwirlState, config: RunnableConfig) -> Command:
        started = time.time()
        reply = bound.invoke(proto.render(state["question"], state.get("steps") or []), config)
        return _step(state, reply, started)

    async def aagent(state: SwirlState, config: RunnableConfig) -> Command:
        started = time.time()
        messages = proto.render(state["question"], state.get("steps") or [])
        return _step(state, await bound.ainvoke(messages, config), started)

    def _observed(state: SwirlState, step: Step, started: float) -> dict[str, Any]:
        step = replace(step, duration_s=step.duration_s + time.time() - started)
        return {"steps": [*state["steps"][:-1], step]}

    def run_tools(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        started = time.time()
        return _observed(state, proto.run_tools(state["steps"][-1], config), started)

    async def arun_tools(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        started = time.time()
        return _observed(state, await proto.arun_tools(state["steps"][-1], config), started)

    def finish(state: SwirlState, config: RunnableConfig) -> dict[str, Any]:
        last = state["steps"][-1]
        if last.kind == "answer":
            answer, outcome, content = last.argument, "answered", last.argument
        else:
            answer, outcome = None, "no_answer"
            content = f"No answer within {max_steps} steps."
        final = {"answer": answer, "outcome": outcome}
        if trace_store is not None or on_trace is not None:
            _log({**state, **final}, config)
        return {**final, "messages": [AIMessage(content, name=name)]}

    def _log(state: dict[str, Any], config: RunnableConfig) -> None:
        from swirl_agents.traces.record import trajectory_from_state  # keeps import light

        context = {
            "protocol": proto.name,
            "task": task,
            "tools": proto.tool_schemas,
            **((config.get("configurable") or {}).get("swirl_trace") or {}),
        }
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
    builder.add_node("tools", _node(run_tools, arun_tools, "tools"))
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
