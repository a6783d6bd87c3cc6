"""Capture any LangChain/LangGraph app's runs as trajectories, through a callback handler.

    tracer = SwirlTracer(SQLiteTraceStore("prod.db"), redact=scrub)
    app.invoke(inputs, config={"callbacks": [tracer]})   # create_agent, a StateGraph, ...

Every chat-model call of one graph run becomes one step of one trajectory (the same step record
as ``create_swirl_agent(..., protocol="tools")``: the turn's text, its tool calls with their
results, timing, model name and token ids where the model gives them). A run is keyed by its
root run id (the trajectory's ``id``) and its thread id (``metadata["thread_id"]``), so
concurrent runs through one handler (``batch``, threads, asyncio) never mix their steps. The
trajectory is written when the root run ends: ``answered`` when its last model turn called no
tool, ``no_answer`` otherwise, ``failed`` when the run raised. The redaction hook sees every
record first and may change it or drop it (return None), as in ``create_swirl_agent``.
Runs with no model call are not logged. A run that stops at an interrupt is logged as it stands;
its resumption is another run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage

from swirl_agents.protocols.tools import PROTOCOL_VERSION, bound_tools, summarize, turn_step
from swirl_agents.traces.schema import Step, Trajectory, run_ending

log = logging.getLogger(__name__)

CAPTURE_PROTOCOL = f"{PROTOCOL_VERSION}+capture"


@dataclass
class _Run:
    """A root run being recorded."""

    id: UUID
    thread_id: str | None
    started: float
    inputs: Any = None
    name: str | None = None
    steps: list[Step] = field(default_factory=list)
    question: str | None = None
    system_prompt: str = ""
    model: str = ""
    tools: list[dict[str, Any]] | None = None  # the schemas bound at the first model call
    children: list[UUID] = field(default_factory=list)


class SwirlTracer(BaseCallbackHandler):
    """Records every chat-model call of a graph run as a step of one Trajectory.

    Args:
        store: where finished runs go (anything with ``add(trajectory)``: a TraceStore).
        redact: sees each Trajectory first; returns it (changed) or None to drop it.
        on_trace: also called with every finished (redacted) Trajectory.
        source: the ``source`` of the records (default ``production``).
        metadata: merged into every record's ``metadata``.
    """

    run_inline = True  # keep the order of events, also for async runs
    raise_error = False  # a failing store is logged, never the app's failure

    def __init__(
        self,
        store: Any = None,
        *,
        redact: Callable[[Trajectory], Trajectory | None] | None = None,
        on_trace: Callable[[Trajectory], None] | None = None,
        source: str = "production",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.redact = redact
        self.on_trace = on_trace
        self.source = source
        self.metadata = dict(metadata or {})
        self._lock = threading.Lock()
        self._runs: dict[UUID, _Run] = {}  # root run id -> run
        self._root: dict[UUID, UUID] = {}  # any run id seen -> its root run id
        self._calls: dict[UUID, tuple[UUID, float, str]] = {}  # model run -> root, start, model
        self._tools: dict[UUID, tuple[UUID, str, Any, str | None, float]] = {}

    # --- bookkeeping -----------------------------------------------------------------------
    def _enter(self, run_id: UUID, parent_run_id: UUID | None, metadata: dict | None, **kw) -> UUID:
        """The root of ``run_id`` (opening a new root run when it has no parent)."""
        with self._lock:
            if parent_run_id is None or parent_run_id not in self._root:
                if run_id not in self._runs:
                    thread = (metadata or {}).get("thread_id")
                    self._runs[run_id] = _Run(
                        run_id,
                        str(thread) if thread is not None else None,
                        time.time(),
                        inputs=kw.get("inputs"),
                        name=kw.get("name"),
                    )
                self._root[run_id] = run_id
                return run_id
            root = self._root[parent_run_id]
            self._root[run_id] = root
            self._runs[root].children.append(run_id)
            return root

    def on_chain_start(
        self, serialized, inputs, *, run_id, parent_run_id=None, metadata=None, **kw
    ):
        self._enter(run_id, parent_run_id, metadata, inputs=inputs, name=kw.get("name"))

    def on_chain_end(self, outputs, *, run_id, **kw):
        self._finish(run_id, None)

    def on_chain_error(self, error, *, run_id, **kw):
        self._finish(run_id, error)

    # --- model calls -----------------------------------------------------------------------
    def on_chat_model_start(
        self, serialized, messages, *, run_id, parent_run_id=None, metadata=None, **kw
    ):
        root = self._enter(run_id, parent_run_id, metadata)
        name = (metadata or {}).get("ls_model_name") or _class_name(serialized)
        prompt = messages[0] if messages else []
        # bind_tools binds them as a call kwarg: LangChain passes them in the invocation params
        tools = bound_tools((kw.get("invocation_params") or {}).get("tools"))
        with self._lock:
            run = self._runs[root]
            if run.question is None:  # the first model call shows the run's question
                humans = [m for m in prompt if isinstance(m, HumanMessage)]
                run.question = str(humans[-1].text) if humans else ""
                systems = [m for m in prompt if isinstance(m, SystemMessage)]
                run.system_prompt = str(systems[0].text) if systems else ""
            run.tools = run.tools or tools
            self._calls[run_id] = (root, time.time(), name)

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kw):
        with self._lock:
            entry = self._calls.pop(run_id, None)
        if entry is None:
            return
        root, started, name = entry
        generations = response.generations[0] if response.generations else []
        message = getattr(generations[0], "message", None) if generations else None
        if not isinstance(message, BaseMessage):
            return  # a completion model's text: not a chat turn
        meta = message.response_metadata or {}
        step = replace(
            turn_step(message),
            model=meta.get("model_name") or meta.get("model") or name,
            started_at=started,
            duration_s=time.time() - started,
            token_ids=meta.get("token_ids"),
        )
        with self._lock:
            run = self._runs.get(root)
            if run is None:
                return
            run.steps.append(step)
            run.model = run.model or step.model
        self._finish(run_id, None)  # when the model call is its own root (no graph around it)

    def on_llm_error(self, error, *, run_id, **kw):
        with self._lock:
            self._calls.pop(run_id, None)
        self._finish(run_id, error)

    # --- tool calls ------------------------------------------------------------------------
    def on_tool_start(
        self, serialized, input_str, *, run_id, parent_run_id=None, metadata=None, **kw
    ):
        root = self._enter(run_id, parent_run_id, metadata)
        name = kw.get("name") or (serialized or {}).get("name") or "tool"
        args = kw.get("inputs")
        with self._lock:
            self._tools[run_id] = (root, name, input_str if args is None else args,
                                   kw.get("tool_call_id"), time.time())  # fmt: skip

    def on_tool_end(self, output, *, run_id, **kw):
        status = (
            getattr(output, "status", "success") if isinstance(output, ToolMessage) else "success"
        )
        text = str(output.text) if isinstance(output, BaseMessage) else _text(output)
        self._tool_result(run_id, text, status, getattr(output, "tool_call_id", None))
        self._finish(run_id, None)

    def on_tool_error(self, error, *, run_id, **kw):
        self._tool_result(run_id, f"Error: {error!r}", "error", None)
        self._finish(run_id, error)

    def _tool_result(self, run_id: UUID, output: str, status: str, call_id: str | None) -> None:
        with self._lock:
            entry = self._tools.pop(run_id, None)
            if entry is None:
                return
            root, name, args, start_id, started = entry
            run = self._runs.get(root)
            if run is None:
                return
            call_id = call_id or start_id
            took = time.time() - started
            for k in range(len(run.steps) - 1, -1, -1):
                step = run.steps[k]
                calls = step.tool_calls or []
                if call_id is not None and any(c["id"] == call_id for c in calls):
                    calls = [
                        {**c, "output": output, "status": status} if c["id"] == call_id else c
                        for c in calls
                    ]
                    run.steps[k] = replace(
                        step, tool_calls=calls, duration_s=step.duration_s + took
                    )
                    return
            if not run.steps:
                return  # a tool before any model call: no step to attach it to
            # a tool the model did not call by id (a hand-built graph): the latest step ran it
            step = run.steps[-1]
            call = {"id": call_id, "name": name,
                    "args": args if isinstance(args, dict) else {"input": args},
                    "output": output, "status": status}  # fmt: skip
            run.steps[-1] = replace(step, tool_calls=[*(step.tool_calls or []), call])

    # --- the end of a run ------------------------------------------------------------------
    def _finish(self, root: UUID, error: BaseException | None) -> None:
        """Log the run ``root`` if it is a root run (any run that ends may be one)."""
        with self._lock:
            run = self._runs.pop(root, None)
            if run is None:
                return  # not a root: a node, a model or tool call inside a run
            for child in run.children:
                self._root.pop(child, None)
                self._calls.pop(child, None)
                self._tools.pop(child, None)
            self._root.pop(root, None)
        if not run.steps:
            return
        try:
            trajectory = self._trajectory(run, error)
            if self.redact is not None:
                trajectory = self.redact(trajectory)
                if trajectory is None:
                    return
            if self.store is not None:
                self.store.add(trajectory)
            if self.on_trace is not None:
                self.on_trace(trajectory)
        except Exception:  # never the app's failure
            log.exception("swirl tracer: could not log run %s", root)

    def _trajectory(self, run: _Run, error: BaseException | None) -> Trajectory:
        steps = sorted(run.steps, key=lambda s: s.started_at)
        records = [
            summarize(replace(s, index=i)) if s.tool_calls else replace(s, index=i)
            for i, s in enumerate(steps)
        ]
        answer, outcome = run_ending(records, error)
        metadata = {**self.metadata, "run_id": str(run.id), "capture": "callback"}
        if run.thread_id is not None:
            metadata["thread_id"] = run.thread_id
        if run.name:
            metadata["graph"] = run.name
        return Trajectory(
            question=run.question or "",
            steps=records,
            answer=answer,
            outcome=outcome,
            source=self.source,
            system_prompt=run.system_prompt,
            model=run.model,
            error=None if error is None else f"{type(error).__name__}: {error}",
            metadata=metadata,
            protocol=CAPTURE_PROTOCOL,
            tools=run.tools,
            id=run.id.hex,
            created_at=run.started,
        )


def _class_name(serialized: dict | None) -> str:
    ids = (serialized or {}).get("id") or []
    return (serialized or {}).get("name") or (ids[-1] if ids else "") or "chat_model"


def _text(output: Any) -> str:
    return output if isinstance(output, str) else str(output)
