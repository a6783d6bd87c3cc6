"""Trajectories from and to other formats: OpenAI-format chat logs and LangSmith run exports.

Formats (``swirl traces import FILE --format F``, ``swirl traces export OUT --format F``):

- ``swirl``: our own records, one ``Trajectory.to_dict()`` per line (``swirl_agents.traces.jsonl``).
- ``openai``: one chat per line, ``{"messages": [...], "tools": [...]}``, the format of OpenAI's
  fine-tuning files and of TRL's conversational datasets. On import each line is one trajectory:
  the system message is the system prompt, the first user message the question, every assistant
  message one step, with its ``tool_calls`` (``function.arguments`` a JSON string or an object)
  and the ``tool`` messages that answer them (by ``tool_call_id``; a result with no id answers the
  first open call of its ``name``); a user message after a step is that step's ``observation``. A
  last assistant turn with no tool call is the answer. A chat with no tool call whose assistant
  turns carry the SWiRL tags (``<math_exp>``, ``<search_query>``, ``<answer>``) imports as a
  tag-protocol run: user turns are the ``QUERY -> RESULT`` observations, and the question loses
  its ``Question:`` prefix (``protocol.build_messages`` adds it back). Malformed tool-call
  arguments make an ``invalid`` step, as in the agent. On export, tag-protocol runs become plain
  chat turns (exactly what ``build_messages`` sends the model), tool-call runs assistant
  ``tool_calls`` plus ``tool`` messages, and ``tools`` is written from the record's ``tools``
  (the bound tools' schemas; an import fills it from the line's ``tools``).
- ``langsmith``: runs as LangSmith's ``Client.list_runs`` / run export gives them, one run per line
  (``run.model_dump_json()``) or one JSON array, nested ``child_runs`` allowed. Runs are grouped by
  ``trace_id`` into one trajectory per trace; its ``llm`` runs are the steps in ``start_time``
  order (the same step record as ``SwirlTracer``, whose records of the same runs these equal, id
  included, so a run both captured and imported is stored once); ``tool`` runs fill in the results
  of the calls they answer (``extra.tool_call_id``), and calls with no tool run take the result
  that the next model call saw. A trace with no ``llm`` run but a root run whose outputs hold the
  ``messages`` (an export of root runs only) is read as a chat, as above.

Every bad line is reported with its line number and a reason; every other line imports (a
LangSmith trace that cannot be read is reported at the line of its first run).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from swirl_agents.errors import UsageError
from swirl_agents.protocol import PROTOCOL_VERSION as TAGS_PROTOCOL
from swirl_agents.traces.jsonl import LineError, _report, iter_json_lines, iter_jsonl, write_jsonl
from swirl_agents.traces.schema import (
    SOURCES,
    SchemaError,
    Step,
    Trajectory,
    _json_type,
    run_ending,
)

FORMATS: tuple[str, ...] = ("auto", "swirl", "openai", "langsmith")  # import
EXPORT_FORMATS: tuple[str, ...] = ("swirl", "openai")
TOOLS_PROTOCOL = "swirl-tools/1"  # swirl_agents.protocols.tools.PROTOCOL_VERSION (loads LangChain)
QUESTION_PREFIX = "Question: "  # the tag protocol's first user turn (protocol.build_messages)

_ROLES = {
    "system": "system", "developer": "system", "user": "user", "human": "user",
    "assistant": "assistant", "ai": "assistant", "tool": "tool",
}  # fmt: skip
_LC_CLASSES = {
    "SystemMessage": "system", "HumanMessage": "user", "AIMessage": "assistant",
    "AIMessageChunk": "assistant", "ToolMessage": "tool", "ChatMessage": None,
}  # fmt: skip


# --- reading any supported file ---------------------------------------------------------------


def detect_format(path: str | os.PathLike[str]) -> str:
    """``swirl``, ``openai`` or ``langsmith``, from the first JSON lines of ``path``.

    A JSON array is a LangSmith export; a line with ``messages`` (and no ``steps``) an OpenAI chat;
    one with ``run_type`` (or ``trace_id`` and ``inputs``) a LangSmith run. Anything else reads as
    our own records, whose reader then says what is wrong with each line.
    """
    path = Path(path)
    with path.open("rb") as fh:
        seen = 0
        for raw in fh:
            text = raw.lstrip(b"\xef\xbb\xbf").strip()
            if not text:
                continue
            if seen == 0 and text.startswith(b"["):
                return "langsmith"
            seen += 1
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):
                data = None
            if isinstance(data, dict):
                if "steps" in data or "outcome" in data:
                    return "swirl"
                if "messages" in data:
                    return "openai"
                if "run_type" in data or ("trace_id" in data and "inputs" in data):
                    return "langsmith"
                return "swirl"
            if seen >= 20:
                break
    return "swirl"


def iter_file(
    path: str | os.PathLike[str],
    format: str = "auto",
    *,
    errors: list[LineError] | None = None,
    source: str | None = None,
) -> Iterator[Trajectory]:
    """The trajectories of a file in any import format (``FORMATS``; ``auto`` detects it).

    Args:
        path: the file.
        format: auto, swirl, openai or langsmith.
        errors: collects the lines that did not import (logged as warnings when None).
        source: the ``source`` of every record; None keeps a swirl record's own and gives chats and
            LangSmith runs ``production``.

    Raises:
        FileNotFoundError, UsageError: no such file, an unknown format or source (on the call).
    """
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if source is not None and source not in SOURCES:
        raise UsageError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if format == "auto":
        format = detect_format(path)
    if format == "openai":
        return iter_openai(path, errors=errors, source=source or "production")
    if format == "langsmith":
        return iter_langsmith(path, errors=errors, source=source or "production")
    records = iter_jsonl(path, errors=errors)
    if source is None:
        return records
    return (_with_source(t, source) for t in records)


def _with_source(traj: Trajectory, source: str) -> Trajectory:
    traj.source = source
    return traj


# --- OpenAI chat format: import ---------------------------------------------------------------


def iter_openai(
    path: str | os.PathLike[str],
    *,
    errors: list[LineError] | None = None,
    source: str = "production",
) -> Iterator[Trajectory]:
    """The trajectories of an OpenAI-format chat log, one per valid line (see the module doc)."""
    lines = iter_json_lines(path, errors=errors)

    def records() -> Iterator[Trajectory]:
        for number, data in lines:
            try:
                yield openai_record(data, source=source)
            except SchemaError as exc:
                _report(LineError(str(path), number, str(exc)), errors)

    return records()


def openai_record(data: Any, *, source: str = "production") -> Trajectory:
    """One OpenAI-format chat (``{"messages": [...], "tools": [...]}``) as a trajectory.

    Keys other than ``messages``, ``tools``, ``id``, ``model`` and ``metadata`` go to the record's
    metadata. Without an ``id`` the record's id is a hash of the line, so importing a file twice
    adds nothing the second time. Raises SchemaError saying what is wrong.
    """
    if not isinstance(data, dict):
        raise SchemaError(
            f'a chat must be a JSON object {{"messages": [...]}}, got {_json_type(data)}'
        )
    if "messages" not in data:
        if "steps" in data or "outcome" in data:
            raise SchemaError(
                "a trajectory record, not an OpenAI-format chat (import it with --format swirl)"
            )
        raise SchemaError('no \'messages\': a chat is {"messages": [...], "tools": [...]}')
    raw = data["messages"]
    if not isinstance(raw, list):
        raise SchemaError(f"'messages' must be a list, got {_json_type(raw)}")
    tools = data.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        raise SchemaError("'tools' must be a list of tool schemas (JSON objects)")
    model = data.get("model") or ""
    if not isinstance(model, str):
        raise SchemaError(f"'model' must be a string, got {_json_type(model)}")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SchemaError(f"'metadata' must be an object, got {_json_type(metadata)}")
    record_id = data.get("id")
    if record_id is not None and not (isinstance(record_id, str) and record_id):
        raise SchemaError(f"'id' must be a non-empty string, got {_json_type(record_id)}")
    messages = [_message(m, f"messages[{i}]", strict=True) for i, m in enumerate(raw)]
    fields = _conversation(messages)
    for step in fields["steps"]:
        step["model"] = model
    extra = {
        k: v for k, v in data.items() if k not in ("messages", "tools", "id", "model", "metadata")
    }
    meta = {**extra, **metadata, "imported_format": "openai"}
    return _trajectory(
        fields,
        source=source,
        model=model,
        metadata=meta,
        id=record_id or _content_id(data),
        suffix="openai",
        tools=tools or None,
    )


# --- OpenAI chat format: export ---------------------------------------------------------------


def to_openai(traj: Trajectory, *, arguments: str = "string") -> dict[str, Any]:
    """A trajectory as one OpenAI-format chat ``{"messages": [...], "tools": [...]}``.

    Args:
        traj: the record.
        arguments: ``string`` writes tool-call arguments as a JSON string (OpenAI's format, one
            column type for ``datasets``); ``object`` as a JSON object (what Hugging Face chat
            templates read).
    """
    if arguments not in ("string", "object"):
        raise ValueError(f"arguments must be 'string' or 'object', got {arguments!r}")
    tags = is_tag_protocol(traj)
    messages: list[dict[str, Any]] = []
    if traj.system_prompt:
        messages.append({"role": "system", "content": traj.system_prompt})
    question = f"{QUESTION_PREFIX}{traj.question}" if tags else traj.question
    messages.append({"role": "user", "content": question})
    for step in traj.steps:
        calls = step.tool_calls or []
        turn: dict[str, Any] = {"role": "assistant", "content": step.text}
        if calls:
            turn["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": json.dumps(c.get("args") or {}, ensure_ascii=False)
                        if arguments == "string"
                        else (c.get("args") or {}),
                    },
                }
                for c in calls
            ]
        messages.append(turn)
        ran = [c for c in calls if c.get("output") is not None]
        for c in ran:
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": c["output"]})
        if not ran and step.observation is not None:
            messages.append({"role": "user", "content": step.observation})
    out: dict[str, Any] = {"messages": messages}
    if traj.tools:
        out["tools"] = traj.tools
    return out


def write_openai(
    path: str | os.PathLike[str], trajectories: Iterable[Trajectory], *, arguments: str = "string"
) -> int:
    """Write one OpenAI-format chat per trajectory (``to_openai``); returns how many."""

    def encode(traj: Trajectory) -> str:
        return json.dumps(to_openai(traj, arguments=arguments), ensure_ascii=False)

    return write_jsonl(path, trajectories, encode=encode)


def is_tag_protocol(traj: Trajectory) -> bool:
    """Whether a record is a tag-protocol run (no native tool call, a ``swirl-tags`` protocol)."""
    return traj.protocol.startswith("swirl-tags") and not any(s.tool_calls for s in traj.steps)


# --- LangSmith runs ---------------------------------------------------------------------------


def iter_langsmith(
    path: str | os.PathLike[str],
    *,
    errors: list[LineError] | None = None,
    source: str = "production",
) -> Iterator[Trajectory]:
    """The trajectories of a LangSmith run export (JSONL of runs or a JSON array), one per trace.

    The whole file is read first (a trace's runs may lie anywhere in it).
    """
    path = Path(path)
    items = _array_items(path, errors) if _is_array(path) else iter_json_lines(path, errors=errors)

    def records() -> Iterator[Trajectory]:
        runs: list[tuple[int, dict[str, Any]]] = []
        for number, data in items:
            try:
                runs.extend((number, r) for r in _flat_runs(data))
            except SchemaError as exc:
                _report(LineError(str(path), number, str(exc)), errors)
        for number, result in _traces(runs, source):
            if isinstance(result, SchemaError):
                _report(LineError(str(path), number, str(result)), errors)
            else:
                yield result

    return records()


def langsmith_trajectories(runs: Iterable[Any], *, source: str = "production") -> list[Trajectory]:
    """Trajectories from LangSmith runs (dicts, or ``langsmith.schemas.Run`` objects straight
    from ``Client.list_runs``), one per trace; raises SchemaError on the first bad run or trace."""
    flat: list[tuple[int, dict[str, Any]]] = []
    for i, run in enumerate(runs, start=1):
        if hasattr(run, "model_dump"):
            run = run.model_dump(mode="json")
        flat.extend((i, r) for r in _flat_runs(run))
    out = []
    for _, result in _traces(flat, source):
        if isinstance(result, SchemaError):
            raise result
        out.append(result)
    return out


def _flat_runs(data: Any) -> list[dict[str, Any]]:
    """A run and its nested ``child_runs``, each checked to be a run."""
    if isinstance(data, dict) and "runs" in data and "run_type" not in data:
        data = data["runs"]  # a page of runs
    if isinstance(data, list):
        return [r for item in data for r in _flat_runs(item)]
    if not isinstance(data, dict):
        raise SchemaError(f"a LangSmith run must be a JSON object, got {_json_type(data)}")
    if "messages" in data and "run_type" not in data:
        raise SchemaError("an OpenAI-format chat, not a LangSmith run (use --format openai)")
    if "steps" in data and "run_type" not in data:
        raise SchemaError("a trajectory record, not a LangSmith run (use --format swirl)")
    missing = [k for k in ("id", "run_type") if not data.get(k)]
    if missing:
        raise SchemaError(
            f"not a LangSmith run: no {' or '.join(repr(m) for m in missing)} "
            "(a run has id, trace_id, parent_run_id, run_type, inputs, outputs, start_time, ...)"
        )
    for key in ("id", "run_type"):
        if not isinstance(data[key], str):
            raise SchemaError(f"'{key}' must be a string, got {_json_type(data[key])}")
    children = data.get("child_runs") or []
    run = {k: v for k, v in data.items() if k != "child_runs"}
    return [run, *(r for c in children for r in _flat_runs(c))]


def _traces(
    runs: list[tuple[int, dict[str, Any]]], source: str
) -> Iterator[tuple[int, Trajectory | SchemaError]]:
    by_id = {r["id"]: r for _, r in runs}
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, run in runs:
        groups.setdefault(_trace_id(run, by_id), []).append((number, run))
    for trace_id, members in groups.items():
        first = min(n for n, _ in members)
        try:
            yield first, _trace(trace_id, [r for _, r in members], source)
        except SchemaError as exc:
            yield first, SchemaError(f"trace {trace_id}: {exc}")


def _trace_id(run: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    if run.get("trace_id"):
        return str(run["trace_id"])
    dotted = run.get("dotted_order")
    if isinstance(dotted, str) and "Z" in dotted:
        return dotted.split(".", 1)[0].split("Z", 1)[1]
    seen = set()
    while run.get("parent_run_id") and run["parent_run_id"] in by_id and run["id"] not in seen:
        seen.add(run["id"])
        run = by_id[run["parent_run_id"]]
    return str(run.get("parent_run_id") or run["id"])


def _trace(trace_id: str, runs: list[dict[str, Any]], source: str) -> Trajectory:
    for run in runs:
        run["_start"] = _time(run.get("start_time"), "start_time")
        run["_end"] = _time(run.get("end_time"), "end_time")
    runs.sort(key=lambda r: (r["_start"] or 0.0, str(r.get("dotted_order") or "")))
    root = next((r for r in runs if r["id"] == trace_id), None)
    if root is None:
        root = next((r for r in runs if not r.get("parent_run_id")), None)
    llm_runs, prompts, steps = [], [], []
    for run in runs:
        if run["run_type"] != "llm":
            continue
        reply = _llm_reply(run)
        if reply is None:
            continue  # a completion model's text, not a chat turn
        llm_runs.append(run)
        prompts.append(_llm_prompt(run))
        steps.append(_run_step(run, reply))
    error = root.get("error") if root else None
    error = str(error) if error else None
    meta: dict[str, Any] = {"run_id": _uuid_text(trace_id), "capture": "langsmith"}
    if root is not None:
        extra_meta = (root.get("extra") or {}).get("metadata") or {}
        thread = extra_meta.get("thread_id") or extra_meta.get("conversation_id")
        if thread is not None:
            meta["thread_id"] = str(thread)
        if root.get("name"):
            meta["graph"] = root["name"]
        if root.get("session_id"):
            meta["langsmith_session_id"] = str(root["session_id"])
    created = (root or runs[0])["_start"]
    tools = None
    if not steps:
        messages = _root_messages(root)
        if messages is None:
            raise SchemaError(
                "no chat-model (llm) run with messages, and no root run with output messages: "
                "nothing to import"
            )
        fields = _conversation([_message(m, "message", strict=False) for m in messages])
    else:
        from swirl_agents.protocols.tools import bound_tools

        bound = ((llm_runs[0].get("extra") or {}).get("invocation_params") or {}).get("tools")
        tools = bound_tools(bound)
        fields = _run_fields(steps, prompts, [r for r in runs if r["run_type"] == "tool"], root)
    model = next((s.get("model") for s in fields["steps"] if s.get("model")), "")
    return _trajectory(
        fields,
        source=source,
        model=model,
        metadata=meta,
        id=_uuid_hex(trace_id),
        suffix="langsmith",
        error=error,
        created_at=created,
        tools=tools,
    )


def _run_fields(
    steps: list[dict[str, Any]],
    prompts: list[list[dict[str, Any]]],
    tool_runs: list[dict[str, Any]],
    root: dict[str, Any] | None,
) -> dict[str, Any]:
    """Question, system prompt and steps of a trace from its llm runs (and tool runs)."""
    first = prompts[0]
    users = [m for m in first if m["role"] == "user"]
    question = users[-1]["text"] if users else _root_question(root)
    systems = [m for m in first if m["role"] == "system"]
    for run in tool_runs:
        _attach_tool_run(steps, run)
    for k, step in enumerate(steps):  # what the next model call saw
        after = _after_last_turn(prompts[k + 1]) if k + 1 < len(prompts) else []
        results = {m["tool_call_id"]: m for m in after if m["role"] == "tool"}
        for call in step.get("tool_calls") or []:
            seen = results.get(call["id"])
            if call.get("output") is None and seen is not None:
                call.update(output=seen["text"], status=seen["status"] or "success")
        users = [m["text"] for m in after if m["role"] == "user"]
        step["_user"] = "\n\n".join(users) if users else None
    tags = _looks_tagged([s["text"] for s in steps], any(s.get("_calls") for s in steps))
    out = []
    for step in steps:
        user = step.pop("_user")
        step.pop("_calls")
        if tags:
            step = {**step, **_tag_step(step["text"]), "observation": user}
        else:
            _observe(step, user)
        out.append(step)
    return {
        "question": _strip_prefix(question) if tags else question,
        "system_prompt": systems[0]["text"] if systems else "",
        "steps": out,
        "tags": tags,
    }


def _attach_tool_run(steps: list[dict[str, Any]], run: dict[str, Any]) -> None:
    """A tool run's result onto the call it answers (by id), else onto the latest step."""
    extra, outputs = run.get("extra") or {}, run.get("outputs") or {}
    output = outputs.get("output", outputs) if isinstance(outputs, dict) else outputs
    message = _maybe_message(output)
    call_id = extra.get("tool_call_id") or (message or {}).get("tool_call_id")
    if message is not None:
        text, status = message["text"], message["status"] or "success"
    elif run.get("error"):
        text, status = f"Error: {run['error']}", "error"
    elif output is None or output == {}:
        return  # a tool run that has not ended
    else:
        text, status = (output if isinstance(output, str) else _json(output)), "success"
    if run.get("error") and message is None:
        status = "error"
    took = (run["_end"] - run["_start"]) if run["_end"] and run["_start"] else 0.0
    for step in reversed(steps):
        for call in step.get("tool_calls") or []:
            if call_id is not None and call["id"] == call_id:
                call.update(output=text, status=status)
                step["duration_s"] += took
                return
    earlier = [s for s in steps if run["_start"] is None or s["started_at"] <= run["_start"]]
    if not earlier:
        return  # a tool before any model call: no step to attach it to
    inputs = run.get("inputs")
    step = earlier[-1]
    step["tool_calls"] = [
        *(step.get("tool_calls") or []),
        {"id": call_id, "name": run.get("name") or "tool",
         "args": inputs if isinstance(inputs, dict) else {"input": inputs},
         "output": text, "status": status},
    ]  # fmt: skip
    step["duration_s"] += took


def _llm_reply(run: dict[str, Any]) -> dict[str, Any] | None:
    """The model's reply of an llm run, as a normalized message (None: not a chat reply)."""
    outputs = run.get("outputs")
    if not isinstance(outputs, dict):
        return None
    candidates: list[Any] = []
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0]
        first = first[0] if isinstance(first, list) and first else first
        if isinstance(first, dict):
            candidates.append(first.get("message"))
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        candidates.append(choices[0].get("message"))
    messages = outputs.get("messages")
    if isinstance(messages, list) and messages:
        candidates.append(messages[-1])
    candidates += [outputs.get("message"), outputs.get("output")]
    if outputs.get("role") == "assistant" or outputs.get("type") == "ai":
        candidates.append(outputs)
    for c in candidates:
        message = _maybe_message(c)
        if message is not None and message["role"] == "assistant":
            return message
    return None


def _llm_prompt(run: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = run.get("inputs") or {}
    messages = inputs.get("messages") if isinstance(inputs, dict) else None
    if not isinstance(messages, list):
        return []
    if messages and isinstance(messages[0], list):
        messages = messages[0]  # LangChain's tracer logs a batch of prompts
    return [m for m in (_maybe_message(x) for x in messages) if m is not None]


def _run_step(run: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    meta = reply["response_metadata"]
    extra_meta = (run.get("extra") or {}).get("metadata") or {}
    name = extra_meta.get("ls_model_name") or run.get("name") or "chat_model"
    step = _tool_step(reply)
    start, end = run["_start"], run["_end"]
    return {
        **step,
        "model": meta.get("model_name") or meta.get("model") or name,
        "started_at": start or 0.0,
        "duration_s": (end - start) if start and end else 0.0,
        "token_ids": meta.get("token_ids") if isinstance(meta.get("token_ids"), list) else None,
        "_calls": bool(reply["tool_calls"] or reply["invalid"]),
    }


def _root_messages(root: dict[str, Any] | None) -> list[Any] | None:
    if root is None:
        return None
    for part in ("outputs", "inputs"):
        value = root.get(part)
        messages = value.get("messages") if isinstance(value, dict) else None
        if isinstance(messages, list) and any(
            (_maybe_message(m) or {}).get("role") == "assistant" for m in messages
        ):
            return messages
    return None


def _root_question(root: dict[str, Any] | None) -> str:
    inputs = (root or {}).get("inputs")
    if not isinstance(inputs, dict):
        return ""
    for key in ("question", "input", "query"):
        if isinstance(inputs.get(key), str):
            return inputs[key]
    return ""


def _after_last_turn(prompt: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = max((i for i, m in enumerate(prompt) if m["role"] == "assistant"), default=None)
    return [] if last is None else prompt[last + 1 :]


def _is_array(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[")


def _array_items(path: Path, errors: list[LineError] | None) -> Iterator[tuple[int, Any]]:
    """``(line, item)`` of a file holding one JSON array."""
    try:
        text = path.read_bytes().decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        _report(LineError(str(path), line, "not UTF-8 text"), errors)
        return iter(())
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        _report(LineError(str(path), exc.lineno, f"not JSON ({exc.msg})"), errors)
        return iter(())
    decoder, items = json.JSONDecoder(), []
    i, line, counted = text.index("[") + 1, 1, 0
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            break
        line += text.count("\n", counted, i)
        counted = i
        item, i = decoder.raw_decode(text, i)
        items.append((line, item))
    return iter(items)


# --- messages: any dict shape to one normalized form -----------------------------------------


def _message(data: Any, where: str, *, strict: bool) -> dict[str, Any]:
    """A message dict (OpenAI ``role``, LangChain ``type``, ``{"type", "data"}`` or LangChain's
    serialized ``{"lc": 1, ...}``) as ``{"role", "text", "tool_calls", "invalid",
    "tool_call_id", "name", "status", "response_metadata", "content"}``; raises SchemaError.

    ``strict`` (OpenAI files): content parts other than text are refused; otherwise skipped.
    """
    if not isinstance(data, dict):
        raise SchemaError(f"{where} must be a JSON object, got {_json_type(data)}")
    if data.get("lc") == 1 and isinstance(data.get("kwargs"), dict):
        ids = data.get("id") or [""]
        kind = _LC_CLASSES.get(str(ids[-1]))
        data = {**data["kwargs"]}
        if kind is not None:
            data["role"] = kind
    elif isinstance(data.get("data"), dict) and "type" in data and "content" not in data:
        data = {**data["data"], "type": data["type"]}
    raw_role = data.get("role", data.get("type"))
    if raw_role == "function":
        raise SchemaError(
            f"{where}: the legacy 'function' role is not supported (use 'tool' messages)"
        )
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise SchemaError(
            f"'{where}.role' must be system, developer, user, assistant or tool, got {raw_role!r}"
        )
    text = _text(data.get("content"), where, strict=strict)
    calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    if role == "assistant":
        raw_calls = data.get("tool_calls")
        if not raw_calls:
            raw_calls = (data.get("additional_kwargs") or {}).get("tool_calls")
        calls, invalid = _calls(raw_calls, where)
        invalid += [
            {**c, "type": "invalid_tool_call"}
            for c in data.get("invalid_tool_calls") or []
            if isinstance(c, dict)
        ]
    call_id = data.get("tool_call_id")
    status = data.get("status")
    meta = data.get("response_metadata")
    return {
        "role": role,
        "text": text,
        "content": data.get("content"),
        "tool_calls": calls,
        "invalid": invalid,
        "tool_call_id": str(call_id) if call_id is not None else None,
        "name": data.get("name") if isinstance(data.get("name"), str) else None,
        "status": status if status in ("success", "error") else None,
        "response_metadata": meta if isinstance(meta, dict) else {},
    }


def _maybe_message(data: Any) -> dict[str, Any] | None:
    """``_message`` of anything message-like (lenient), None for anything else."""
    if isinstance(data, str) or not isinstance(data, dict):
        return None
    try:
        return _message(data, "message", strict=False)
    except SchemaError:
        return None


def _text(content: Any, where: str, *, strict: bool) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise SchemaError(
            f"'{where}.content' must be a string, a list of text parts or null, "
            f"got {_json_type(content)}"
        )
    parts = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            parts.append(part)
        elif (
            isinstance(part, dict)
            and isinstance(part.get("text"), str)
            and (part.get("type") in (None, "text", "input_text", "output_text"))
        ):
            parts.append(part["text"])
        elif strict:
            kind = part.get("type") if isinstance(part, dict) else _json_type(part)
            raise SchemaError(f"{where}.content[{j}] is a {kind!r} part: only text is supported")
    return "".join(parts)


def _calls(raw: Any, where: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tool calls (OpenAI's ``function.arguments`` or LangChain's ``name``/``args``) as LangChain
    tool calls, and the malformed ones as invalid tool calls."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        raise SchemaError(f"'{where}.tool_calls' must be a list, got {_json_type(raw)}")
    calls, invalid, ids = [], [], set()
    for j, call in enumerate(raw):
        here = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise SchemaError(f"{here} must be a JSON object, got {_json_type(call)}")
        function = call.get("function", call)
        if not isinstance(function, dict):
            raise SchemaError(f"'{here}.function' must be an object, got {_json_type(function)}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"{here} has no function name")
        call_id = call.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise SchemaError(f"'{here}.id' must be a string, got {_json_type(call_id)}")
        call_id = call_id or f"call_{where.rpartition('[')[2].rstrip(']')}_{j}"
        if call_id in ids:
            raise SchemaError(f"{here}: two tool calls of one turn share the id {call_id!r}")
        ids.add(call_id)
        args = function["arguments"] if "arguments" in function else function.get("args")
        if args is None or args == "":
            args = {}
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError) as exc:
                reason = getattr(exc, "msg", "nested too deeply")
                error = f"arguments are not JSON ({reason})"
                invalid.append(_invalid(name, function["arguments"], call_id, error))
                continue
        if not isinstance(args, dict):
            error = "arguments are not a JSON object"
            invalid.append(_invalid(name, json.dumps(args), call_id, error))
            continue
        calls.append({"name": name, "args": args, "id": call_id, "type": "tool_call"})
    return calls, invalid


def _invalid(name: str, args: str, call_id: str, error: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "error": error, "type": "invalid_tool_call"}


# --- one conversation to step records ---------------------------------------------------------


def _conversation(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Question, system prompt and steps of a chat (normalized messages); raises SchemaError."""
    systems: list[str] = []
    question: str | None = None
    turns: list[dict[str, Any]] = []  # {"message", "results": [(i, message)], "user"}
    for i, m in enumerate(messages):
        role, where = m["role"], f"messages[{i}]"
        if role == "system":
            if question is not None:
                raise SchemaError(
                    f"{where}: a system message after the question (a trajectory has one "
                    "system prompt, before its question)"
                )
            systems.append(m["text"])
        elif question is None:
            if role != "user":
                raise SchemaError(
                    f"{where}: an {role} message before the first user message (the question)"
                )
            question = m["text"]
        elif role == "assistant":
            turns.append({"message": m, "results": [], "user": None})
        elif role == "tool":
            if not turns or turns[-1]["user"] is not None:
                raise SchemaError(f"{where}: a tool result with no assistant turn before it")
            turns[-1]["results"].append((i, m))
        else:  # user
            if not turns:
                raise SchemaError(
                    f"{where}: a second user message before any assistant turn (a trajectory "
                    "has one question)"
                )
            if turns[-1]["user"] is not None:
                raise SchemaError(f"{where}: two user messages in a row")
            if turns[-1]["results"]:
                raise SchemaError(
                    f"{where}: a user message right after tool results (a step is followed by "
                    "its tool results or by one user turn, not both)"
                )
            turns[-1]["user"] = m["text"]
    if question is None:
        raise SchemaError("no user message (the first user message is the question)")
    if not turns:
        raise SchemaError("no assistant message: the chat has no model turn to learn from")
    any_calls = any(t["message"]["tool_calls"] or t["message"]["invalid"] for t in turns)
    any_calls = any_calls or any(t["results"] for t in turns)
    tags = _looks_tagged([t["message"]["text"] for t in turns], any_calls)
    steps = []
    for turn in turns:
        if tags:
            step = {**_tag_step(turn["message"]["text"]), "observation": turn["user"]}
        else:
            step = _tool_step(turn["message"])
            replies = _attach_results(step, turn["message"], turn["results"])
            _observe(step, turn["user"] if turn["user"] is not None else replies)
        steps.append(step)
    return {
        "question": _strip_prefix(question) if tags else question,
        "system_prompt": "\n\n".join(systems),
        "steps": steps,
        "tags": tags,
    }


def _observe(step: dict[str, Any], seen: str | None) -> None:
    """A tool-call step's observation: its tool results as text, else what the model saw next
    (``seen``: a user turn, or the replies to malformed calls; None when nothing followed)."""
    if step.get("tool_calls"):
        step.update(_summarize(step))
        if step["observation"] is None:  # no call ran: what followed, if anything
            step["observation"] = seen
    else:
        step["observation"] = seen


def _attach_results(
    step: dict[str, Any], turn: dict[str, Any], results: list[tuple[int, dict[str, Any]]]
) -> str | None:
    """Tool results onto the calls they answer; returns the replies to malformed calls."""
    calls = step.get("tool_calls") or []
    invalid_ids = {c.get("id") for c in turn["invalid"]}
    seen_invalid: list[str] = []
    for i, result in results:
        call = None
        if result["tool_call_id"] is not None:
            call = next((c for c in calls if c["id"] == result["tool_call_id"]), None)
            if call is None and result["tool_call_id"] in invalid_ids:
                seen_invalid.append(result["text"])  # the reply to a malformed call
                continue
        else:
            open_calls = [c for c in calls if c["output"] is None]
            call = next((c for c in open_calls if c["name"] == result["name"]), None)
            call = call or (open_calls[0] if open_calls and result["name"] is None else None)
        if call is None:
            which = result["tool_call_id"] or result["name"] or "?"
            raise SchemaError(
                f"messages[{i}]: a tool result for call {which!r}, which the assistant turn "
                "before it did not make"
            )
        if call["output"] is not None:
            raise SchemaError(f"messages[{i}]: a second result for tool call {call['id']!r}")
        call.update(output=result["text"], status=result["status"] or "success")
    return "\n\n".join(seen_invalid) if seen_invalid else None


def _tool_step(message: dict[str, Any]) -> dict[str, Any]:
    """Step fields of a model turn: the tool-call protocol's own builder (``turn_step``)."""
    from langchain_core.messages import AIMessage

    from swirl_agents.protocols.tools import turn_step

    content = message["content"]
    if not isinstance(content, (str, list)):
        content = message["text"]
    ai = AIMessage(
        content=content if content is not None else "",
        tool_calls=message["tool_calls"],
        invalid_tool_calls=message["invalid"],
    )
    # parsing works on plain fields (results and timing attach later); a Step is built at the end
    return {**turn_step(ai).to_dict(), "text": message["text"]}


def _summarize(step: dict[str, Any]) -> dict[str, Any]:
    from swirl_agents.protocols.tools import summary

    return summary(step.get("tool_calls"), step.get("error") or "")


def _tag_step(text: str) -> dict[str, Any]:
    from swirl_agents.protocol import parse_action

    action = parse_action(text)
    return {
        "text": text,
        "kind": action.kind,
        "argument": action.argument,
        "observation": None,
        "tool": None,
        "error": action.error,
        "tool_calls": None,
    }


def _looks_tagged(texts: list[str], any_calls: bool) -> bool:
    """A chat of the tag protocol: no native tool call, and some turn is a valid tag action."""
    if any_calls:
        return False
    from swirl_agents.protocol import parse_action

    return any(parse_action(t).kind != "invalid" for t in texts)


def _strip_prefix(question: str) -> str:
    return question[len(QUESTION_PREFIX) :] if question.startswith(QUESTION_PREFIX) else question


def _trajectory(
    fields: dict[str, Any],
    *,
    source: str,
    model: str,
    metadata: dict[str, Any],
    id: str,
    suffix: str,
    error: str | None = None,
    created_at: float | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Trajectory:
    steps = []
    for i, step in enumerate(fields["steps"]):
        step = {k: v for k, v in step.items() if not k.startswith("_")}
        steps.append(Step.from_dict({**step, "index": i}))
    answer, outcome = run_ending(steps, error)
    protocol = TAGS_PROTOCOL if fields["tags"] else TOOLS_PROTOCOL
    extra: dict[str, Any] = {} if created_at is None else {"created_at": created_at}
    return Trajectory(
        question=fields["question"],
        steps=steps,
        answer=answer,
        outcome=outcome,
        source=source,
        system_prompt=fields["system_prompt"],
        model=model,
        error=error,
        metadata=metadata,
        protocol=f"{protocol}+{suffix}",
        tools=tools,
        id=id,
        **extra,
    )


# --- small helpers ----------------------------------------------------------------------------


def _time(value: Any, name: str) -> float | None:
    """A LangSmith timestamp (ISO 8601 text, naive means UTC; or epoch seconds/milliseconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SchemaError(f"'{name}' must be a time, got true/false")
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str):
        raise SchemaError(f"'{name}' must be a time, got {_json_type(value)}")
    try:
        when = datetime.fromisoformat(_iso(value))
    except ValueError:
        raise SchemaError(f"'{name}' is not an ISO 8601 time: {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


_FRACTION = re.compile(r"(\.\d+)")


def _iso(value: str) -> str:
    """ISO 8601 text that Python 3.10's ``fromisoformat`` reads ("Z", any fraction digits)."""
    value = value.strip().replace(" ", "T", 1)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return _FRACTION.sub(lambda m: m.group(1)[:7].ljust(7, "0"), value, count=1)


def _uuid_hex(value: str) -> str:
    try:
        return uuid.UUID(str(value)).hex
    except ValueError:
        return str(value)


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _content_id(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "detect_format",
    "is_tag_protocol",
    "iter_file",
    "iter_langsmith",
    "iter_openai",
    "langsmith_trajectories",
    "openai_record",
    "to_openai",
    "write_openai",
]
