"""The trajectory record: one finished agent run, as logged, stored and trained on.

Schema version 2. A record is plain JSON (``Trajectory.to_dict``); every field is documented on
the dataclass. Readers accept every version in ``READABLE_VERSIONS`` and reject others with a clear
error, so old stores are never silently misread.

Versions:
  1. the tag protocol's steps.
  2. adds ``Step.tool_calls`` (native tool calls of one model turn, with their results: the
     ``protocol="tools"`` agent and runs captured from other apps), ``Trajectory.task`` (what
     the run was asked to do, e.g. ``math`` or ``qa``) and ``Trajectory.tools`` (the OpenAI-style
     function schemas of the tools the model had bound). A version-1 record reads as version 2
     with these None; nothing else changed.

The same ``Step`` objects live in the agent graph's state (``SwirlState.steps``), in stores and
files (as ``to_dict``), and reach the trainer (``trainer.examples``): one record, no reshaping.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

from swirl_agents.protocol import PROTOCOL_VERSION

SCHEMA_VERSION = 2
READABLE_VERSIONS: tuple[int, ...] = (1, 2)  # older records are upgraded on read

Source = Literal["generated", "production", "annotation", "eval"]
Outcome = Literal["answered", "no_answer", "failed"]
SOURCES: tuple[str, ...] = ("generated", "production", "annotation", "eval")
OUTCOMES: tuple[str, ...] = ("answered", "no_answer", "failed")
STEP_KINDS: tuple[str, ...] = ("search", "math", "answer", "invalid", "tool")  # tool: v2

# What an imported record must carry (``parse_record``); ``to_dict`` always writes every field.
REQUIRED_FIELDS: tuple[str, ...] = ("question", "steps", "outcome")
STEP_REQUIRED: tuple[str, ...] = ("index", "text", "kind")
# The one outcome that may have no steps: the run failed before its first model call.
NO_STEP_OUTCOMES: tuple[str, ...] = ("failed",)


class SchemaError(ValueError):
    """A record that does not follow the schema; the message says which field and why."""


@dataclass
class Step:
    """One model call of a run."""

    index: int  # 0-based position in the run
    text: str  # the model's output, cut after its first closed tag (what the model "said")
    kind: str  # parsed action: search | math | answer | invalid
    argument: str = ""  # the query, expression or answer ("" when invalid)
    observation: str | None = None  # the user turn sent back: "QUERY -> RESULT" or a correction
    tool: str | None = None  # name of the tool that ran, if any
    error: str = ""  # why the action was invalid, or why the tool failed
    model: str = ""  # model name that wrote the step
    started_at: float = 0.0  # unix time the model call started
    duration_s: float = 0.0  # model call + tool call wall time
    token_ids: list[int] | None = None  # generated token ids (local models only)
    # (version 2) the turn's native tool calls, in order: {"id", "name", "args" (a JSON object),
    # "output" (the tool result as text; None when not run), "status" ("success" | "error" |
    # None)}. None for tag-protocol steps. ``kind`` is then "tool", ``tool`` the names run.
    tool_calls: list[dict[str, Any]] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return _build(cls, data, "step")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_ending(steps: list[Step], error: str | None = None) -> tuple[str | None, str]:
    """A run's (answer, outcome) from its steps: ``failed`` when it raised, ``answered`` when its
    last step is an answer, else ``no_answer`` (the step budget ran out)."""
    if error is not None:
        return None, "failed"
    if steps and steps[-1].kind == "answer":
        return steps[-1].argument, "answered"
    return None, "no_answer"


@dataclass
class Trajectory:
    """One finished run of the agent graph (or one converted annotation)."""

    question: str
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None  # the final answer, None when the run gave none
    outcome: str = "no_answer"  # answered | no_answer (step budget spent) | failed (error)
    gold_answer: str | None = None  # the reference answer, when known
    correct: bool | None = None  # graded against gold_answer, when graded
    source: str = "production"  # generated | production | annotation | eval
    system_prompt: str = ""  # the exact system turn the model saw
    model: str = ""  # model that produced the run
    dataset: str | None = None  # e.g. gsm8k, hotpotqa, or a file name
    split: str | None = None  # e.g. train, test, eval
    question_id: str | None = None  # id of the question within the dataset
    sample: int = 0  # sample index for repeated runs of one question
    error: str | None = None  # the error that failed the run
    metadata: dict[str, Any] = field(default_factory=dict)  # free-form
    protocol: str = PROTOCOL_VERSION
    # (version 2) the task the run was given (``math`` | ``qa`` | ...); None when unknown
    task: str | None = None
    # (version 2) OpenAI-style function schemas ({"type": "function", "function": {...}}) of the
    # tools bound to the model in this run; None when the run bound none (the tag protocol)
    tools: list[dict[str, Any]] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION

    @property
    def valid_action_rate(self) -> float:
        return sum(s.kind != "invalid" for s in self.steps) / len(self.steps) if self.steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())`` without the deep copy (stores write many records)."""
        return json.dumps(
            {**vars(self), "steps": [vars(s) for s in self.steps]}, ensure_ascii=False
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        if not isinstance(data, dict):
            raise SchemaError(f"a record must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version not in READABLE_VERSIONS:
            raise SchemaError(
                f"schema_version {version!r} is not supported (expected one of "
                f"{', '.join(map(str, READABLE_VERSIONS))})"
            )
        data = {**data, "schema_version": SCHEMA_VERSION}  # 1 -> 2 adds optional fields only
        raw_steps = data.pop("steps", [])
        if not isinstance(raw_steps, list):
            raise SchemaError("'steps' must be a list")
        traj = _build(cls, data, "trajectory")
        traj.steps = [Step.from_dict(s) for s in raw_steps]
        if traj.source not in SOURCES:
            raise SchemaError(f"'source' must be one of {SOURCES}, got {traj.source!r}")
        if traj.outcome not in OUTCOMES:
            raise SchemaError(f"'outcome' must be one of {OUTCOMES}, got {traj.outcome!r}")
        return traj


def parse_record(data: Any) -> Trajectory:
    """A record from outside (a JSONL line), checked strictly; raises SchemaError saying why not.

    Beyond ``Trajectory.from_dict``: the ``REQUIRED_FIELDS`` are present, every field has its JSON
    type, step kinds are known, and there is at least one step unless the outcome is ``failed``.
    """
    if not isinstance(data, dict):
        raise SchemaError(f"a record must be a JSON object, got {_json_type(data)}")
    if "steps" not in data and "question" in data and "outcome" not in data:
        raise SchemaError(
            "a dataset question (question/answer), not a trajectory record: it has no 'steps' "
            "or 'outcome' (use such a file as `--dataset FILE` of swirl generate or swirl eval)"
        )
    _require(data, REQUIRED_FIELDS, "record")
    _check_types(data, _TRAJ_TYPES, "")
    if not isinstance(data["steps"], list):
        raise SchemaError(f"'steps' must be a list, got {_json_type(data['steps'])}")
    for i, step in enumerate(data["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            raise SchemaError(f"{where} must be a JSON object, got {_json_type(step)}")
        _require(step, STEP_REQUIRED, where)
        _check_types(step, _STEP_TYPES, f"{where}.")
        if step["kind"] not in STEP_KINDS:
            raise SchemaError(f"'{where}.kind' must be one of {STEP_KINDS}, got {step['kind']!r}")
    traj = Trajectory.from_dict(data)
    if not traj.steps and traj.outcome not in NO_STEP_OUTCOMES:
        raise SchemaError(
            f"no steps: a run with outcome {traj.outcome!r} must have at least one step "
            "(only a run that failed before its first step, outcome 'failed', may have none)"
        )
    return traj


_STR, _NONE, _NUM = (str,), (type(None),), (int, float)
_TRAJ_TYPES: dict[str, tuple[type, ...]] = {
    "question": _STR,
    "steps": (list,),
    "answer": _STR + _NONE,
    "outcome": _STR,
    "gold_answer": _STR + _NONE,
    "correct": (bool, type(None)),
    "source": _STR,
    "system_prompt": _STR,
    "model": _STR,
    "dataset": _STR + _NONE,
    "split": _STR + _NONE,
    "question_id": _STR + _NONE,
    "sample": (int,),
    "error": _STR + _NONE,
    "metadata": (dict,),
    "protocol": _STR,
    "task": _STR + _NONE,
    "tools": (list, type(None)),
    "id": _STR,
    "created_at": _NUM,
    "schema_version": (int,),
}
_STEP_TYPES: dict[str, tuple[type, ...]] = {
    "index": (int,),
    "text": _STR,
    "kind": _STR,
    "argument": _STR,
    "observation": _STR + _NONE,
    "tool": _STR + _NONE,
    "error": _STR,
    "model": _STR,
    "started_at": _NUM,
    "duration_s": _NUM,
    "token_ids": (list, type(None)),
    "tool_calls": (list, type(None)),
}
_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list", dict: "an object", type(None): "null"}  # fmt: skip


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _require(data: dict[str, Any], required: tuple[str, ...], what: str) -> None:
    missing = [name for name in required if name not in data]
    if missing:
        raise SchemaError(
            f"{what} is missing required field(s): {', '.join(repr(m) for m in missing)}"
        )


def _check_types(data: dict[str, Any], types: dict[str, tuple[type, ...]], prefix: str) -> None:
    for name, value in data.items():
        allowed = types.get(name)
        if allowed is None:
            continue  # unknown fields are reported by from_dict
        # bool is an int in Python, but true/false is not a number in a record
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        else:
            ok = isinstance(value, allowed)
        if not ok:
            names = [_JSON_NAMES[t] for t in allowed if not (t is int and float in allowed)]
            expected = " or ".join(names)
            raise SchemaError(f"'{prefix}{name}' must be {expected}, got {_json_type(value)}")


def _build(cls, data: Any, what: str):
    if not isinstance(data, dict):
        raise SchemaError(f"a {what} must be a JSON object, got {_json_type(data)}")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise SchemaError(f"unknown {what} field(s): {sorted(unknown)}")
    required = [
        f.name
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING and f.init
    ]
    _require(data, tuple(required), what)
    try:
        return cls(**data)
    except TypeError as exc:  # pragma: no cover - every required field was checked above
        raise SchemaError(f"bad {what}: {exc}") from None
