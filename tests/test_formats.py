"""Import and export in other formats: OpenAI-format chat logs (in and out) and LangSmith run
exports (in), with bad lines reported by line number and every other line imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.errors import UsageError
from swirl_agents.protocol import build_messages
from swirl_agents.traces import LineError, SchemaError, SQLiteTraceStore, Step, Trajectory
from swirl_agents.traces.formats import (
    detect_format,
    iter_file,
    iter_langsmith,
    iter_openai,
    langsmith_trajectories,
    openai_record,
    to_openai,
    write_openai,
)

runner = CliRunner()

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert",
            "description": "Convert kilometres or miles to metres.",
            "parameters": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "unit": {"type": "string"}},
                "required": ["amount", "unit"],
            },
        },
    },
]


def fn_call(id: str, name: str, args: dict | str) -> dict:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOL_CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris, and 2 km in metres?"},
        {
            "role": "assistant",
            "content": "Looking both up.",
            "tool_calls": [
                fn_call("w1", "weather", {"city": "Paris"}),
                fn_call("c1", "convert", {"amount": 2, "unit": "km"}),
            ],
        },
        {"role": "tool", "tool_call_id": "w1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c1", "content": "2000 m"},
        {"role": "assistant", "content": "Sunny, and 2000 m."},
    ],
    "tools": TOOLS,
}

TAG_CHAT = {
    "messages": [
        {"role": "system", "content": "You solve problems step by step, using tools."},
        {"role": "user", "content": "Question: What is 17 * 23?"},
        {"role": "assistant", "content": "I multiply. <math_exp>17 * 23</math_exp>"},
        {"role": "user", "content": "17 * 23 -> 391"},
        {"role": "assistant", "content": "That is it. <answer>391</answer>"},
    ]
}

NO_ANSWER_CHAT = {  # tool calls, no id on the results, content null, the run stopped early
    "messages": [
        {"role": "user", "content": "How far is 3 miles?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [fn_call("x", "convert", {"amount": 3, "unit": "mile"})],
        },
        {"role": "tool", "name": "convert", "content": [{"type": "text", "text": "4827 m"}]},
    ],
    "tools": TOOLS[1:],
}


def write_lines(path, lines) -> None:
    path.write_bytes(
        b"\n".join(x if isinstance(x, bytes) else json.dumps(x).encode() for x in lines) + b"\n"
    )


def invoke(*args: str):
    return runner.invoke(app, list(args))


# --- OpenAI chats in ---------------------------------------------------------------------------


def test_a_tool_call_chat_is_one_trajectory_with_its_calls_and_results():
    traj = openai_record(TOOL_CHAT)
    assert (traj.question, traj.system_prompt) == (
        "Weather in Paris, and 2 km in metres?",
        "Be brief.",
    )
    assert (traj.outcome, traj.answer, traj.source) == (
        "answered",
        "Sunny, and 2000 m.",
        "production",
    )
    assert traj.protocol == "swirl-tools/1+openai" and traj.tools == TOOLS
    assert "tools" not in traj.metadata  # a record field, not metadata
    first, last = traj.steps
    assert (first.kind, first.text, first.tool) == ("tool", "Looking both up.", "weather, convert")
    assert first.tool_calls == [
        {"id": "w1", "name": "weather", "args": {"city": "Paris"}, "output": "sunny",
         "status": "success"},
        {"id": "c1", "name": "convert", "args": {"amount": 2, "unit": "km"}, "output": "2000 m",
         "status": "success"},
    ]  # fmt: skip
    assert first.observation == (
        'weather({"city": "Paris"}) -> sunny\nconvert({"amount": 2, "unit": "km"}) -> 2000 m'
    )
    assert (last.kind, last.argument, last.tool_calls, last.observation) == (
        "answer", "Sunny, and 2000 m.", None, None,
    )  # fmt: skip
    assert [s.index for s in traj.steps] == [0, 1]
    # the id is a hash of the line: the same chat is the same record, another chat another
    assert openai_record(json.loads(json.dumps(TOOL_CHAT))).id == traj.id
    assert openai_record(TAG_CHAT).id != traj.id
    assert openai_record({**TOOL_CHAT, "id": "chat-7"}).id == "chat-7"


def test_a_tag_protocol_chat_imports_as_tag_steps():
    traj = openai_record(TAG_CHAT, source="annotation")
    assert traj.protocol.startswith("swirl-tags/1") and traj.source == "annotation"
    assert traj.question == "What is 17 * 23?"  # build_messages adds the prefix back
    assert [(s.kind, s.argument, s.observation, s.tool_calls) for s in traj.steps] == [
        ("math", "17 * 23", "17 * 23 -> 391", None),
        ("answer", "391", None, None),
    ]
    assert (traj.outcome, traj.answer) == ("answered", "391")


def test_results_without_ids_text_parts_and_a_run_with_no_answer():
    traj = openai_record(NO_ANSWER_CHAT)
    (step,) = traj.steps
    assert step.kind == "tool" and step.text == ""
    assert step.tool_calls[0]["output"] == "4827 m" and step.tool_calls[0]["id"] == "x"
    assert (traj.outcome, traj.answer, traj.system_prompt) == ("no_answer", None, "")


def test_malformed_arguments_are_an_invalid_step_and_object_arguments_read():
    chat = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [fn_call("a", "weather", "{bad")]},
            {"role": "tool", "tool_call_id": "a", "content": "Error: bad arguments"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "b", "function": {"name": "weather", "arguments": {"city": "Oslo"}}}
                ],
            },
            {"role": "tool", "tool_call_id": "b", "content": "snow"},
            {"role": "assistant", "content": "Snow."},
        ]
    }
    traj = openai_record(chat)
    bad, good, answer = traj.steps
    assert bad.kind == "invalid" and "malformed tool call (weather: arguments are not JSON" in (
        bad.error
    )
    assert bad.observation == "Error: bad arguments"  # what the model was told next
    assert good.tool_calls[0]["args"] == {"city": "Oslo"} and good.tool_calls[0]["output"] == "snow"
    assert answer.kind == "answer" and traj.valid_action_rate == pytest.approx(2 / 3)


BAD_CHATS = [  # (line, a phrase its reason must contain)
    (b"{not json", "not JSON (Expecting property name"),
    (b'["a list"]', "a chat must be a JSON object"),
    (json.dumps({"tools": []}).encode(), "no 'messages'"),
    (Trajectory("q", [Step(0, "<answer>1</answer>", "answer", "1")], "1", "answered").to_json()
     .encode(), "a trajectory record, not an OpenAI-format chat"),  # fmt: skip
    (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}).encode(),
     "messages[0]: an assistant message before the first user message"),  # fmt: skip
    (json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode(), "no assistant message"),
    (json.dumps({"messages": [{"role": "user", "content": "q"},
                              {"role": "tool", "tool_call_id": "z", "content": "r"}]}).encode(),
     "messages[1]: a tool result with no assistant turn before it"),  # fmt: skip
    (json.dumps({"messages": [{"role": "user", "content": "q"},
                              {"role": "assistant", "tool_calls": [fn_call("a", "f", {})]},
                              {"role": "tool", "tool_call_id": "zz", "content": "r"}]}).encode(),
     "messages[2]: a tool result for call 'zz', which the assistant turn before it did not make"),
    (json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).encode(),
     "messages[0].content[0] is a 'image_url' part: only text is supported"),  # fmt: skip
    (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode(),
     "'messages[0].role' must be system, developer, user, assistant or tool"),  # fmt: skip
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                              {"role": "system", "content": "late"}]}).encode(),
     "messages[2]: a system message after the question"),  # fmt: skip
    (json.dumps({**TOOL_CHAT, "tools": "weather"}).encode(), "'tools' must be a list"),
]  # fmt: skip


def test_every_valid_chat_imports_and_each_bad_line_says_why(tmp_path):
    path = tmp_path / "chats.jsonl"
    lines = [TOOL_CHAT]
    for raw, _ in BAD_CHATS:
        lines += [raw, b""]  # blank lines are skipped, and still counted
    lines += [TAG_CHAT, NO_ANSWER_CHAT]
    write_lines(path, lines)
    errors: list[LineError] = []
    records = list(iter_openai(path, errors=errors))
    assert [t.question for t in records] == [
        "Weather in Paris, and 2 km in metres?", "What is 17 * 23?", "How far is 3 miles?",
    ]  # fmt: skip
    assert [e.line for e in errors] == [2 + 2 * i for i in range(len(BAD_CHATS))]
    for error, (_, phrase) in zip(errors, BAD_CHATS, strict=True):
        assert phrase in error.reason, (error, phrase)
        assert str(error).startswith(f"{path}:{error.line}: ")


def test_cli_import_openai_reports_lines_imports_the_rest_and_is_idempotent(tmp_path):
    path, db = tmp_path / "chats.jsonl", str(tmp_path / "t.db")
    write_lines(path, [TOOL_CHAT, b"{broken", TAG_CHAT])
    result = invoke("traces", "import", str(path), "--store", db, "--format", "openai", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["malformed"], summary["format"]) == (2, 1, "openai")
    assert summary["errors"] == [f"{path}:2: not JSON (Expecting property name enclosed in "
                                 "double quotes at column 2)"]  # fmt: skip
    assert f"skipped {path}:2: not JSON" in result.stderr
    again = invoke("traces", "import", str(path), "--store", db, "--json")  # detected: openai
    summary = json.loads(again.stdout)
    assert (summary["added"], summary["duplicates"], summary["format"]) == (0, 2, "openai")
    with SQLiteTraceStore(db) as store:
        records = list(store.iter())
    assert {t.source for t in records} == {"production"}
    assert all(t.metadata["imported_from"] == str(path) for t in records)


def test_format_detection_and_source_override(tmp_path):
    chats, runs, records = (tmp_path / n for n in ("c.jsonl", "r.jsonl", "t.jsonl"))
    write_lines(chats, [b"", b"{broken", TOOL_CHAT])
    write_lines(runs, LANGSMITH_RUNS)
    traj = Trajectory("q", [Step(0, "<answer>1</answer>", "answer", "1")], "1", "answered")
    write_lines(records, [traj.to_json().encode()])
    assert [detect_format(p) for p in (chats, runs, records)] == ["openai", "langsmith", "swirl"]
    array = tmp_path / "runs.json"
    array.write_text(json.dumps(LANGSMITH_RUNS, indent=2))
    assert detect_format(array) == "langsmith"
    assert [t.source for t in iter_file(records, source="eval")] == ["eval"]
    assert [t.source for t in iter_file(runs)] == ["production"]
    with pytest.raises(UsageError, match="source must be one of"):
        iter_file(records, source="bogus")
    with pytest.raises(FileNotFoundError):
        iter_file(tmp_path / "missing.jsonl", "openai")


# --- OpenAI chats out: a round trip, datasets, the tag protocol ------------------------------


def normalized(chat: dict) -> dict:
    """A chat as the exporter writes it: content null is "", tool messages carry no name."""
    messages = []
    for m in chat["messages"]:
        m = {k: v for k, v in m.items() if not (m["role"] == "tool" and k == "name")}
        if m.get("content") is None:
            m["content"] = ""
        messages.append(m)
    return {**chat, "messages": messages}


def test_round_trip_chats_import_and_export_back_to_the_same_messages(tmp_path):
    source, out, db = tmp_path / "in.jsonl", tmp_path / "out.jsonl", str(tmp_path / "t.db")
    chats = [TOOL_CHAT, TAG_CHAT, {**NO_ANSWER_CHAT, "messages": NO_ANSWER_CHAT["messages"][:2]}]
    write_lines(source, chats)
    assert invoke("traces", "import", str(source), "--store", db).exit_code == 0
    result = invoke("traces", "export", str(out), "--store", db, "--format", "openai", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["exported"] == 3
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(map(json.dumps, exported)) == sorted(json.dumps(normalized(c)) for c in chats)
    # and the export reads back as the same trajectories
    again = {t.id: t for t in iter_openai(out)}
    with SQLiteTraceStore(db) as store:
        for traj in store.iter():
            twin = next(t for t in again.values() if t.question == traj.question)
            assert [s.__dict__ for s in twin.steps] == [s.__dict__ for s in traj.steps]
            assert (twin.answer, twin.outcome, twin.protocol) == (
                traj.answer, traj.outcome, traj.protocol,
            )  # fmt: skip


def test_export_of_a_tag_run_is_what_the_model_saw_and_object_arguments(tmp_path):
    steps = [
        Step(0, "Look it up. <math_exp>2 + 3</math_exp>", "math", "2 + 3", "2 + 3 -> 5",
             tool="calculator"),
        Step(1, "Oops", "invalid", error="no action tag", observation="Your last step ..."),
        Step(2, "<answer>5</answer>", "answer", "5"),
    ]  # fmt: skip
    traj = Trajectory("What is 2 + 3?", steps, "5", "answered", system_prompt="SYS")
    chat = to_openai(traj)
    seen = build_messages("SYS", traj.question, steps)
    role = {"system": "system", "human": "user", "ai": "assistant"}
    assert chat == {"messages": [{"role": role[m.type], "content": m.content} for m in seen]}
    assert "tools" not in chat
    tool = openai_record(TOOL_CHAT)
    call = to_openai(tool, arguments="object")["messages"][2]["tool_calls"][1]
    assert call["function"]["arguments"] == {"amount": 2, "unit": "km"}
    assert openai_record(to_openai(tool, arguments="object")).steps[0].tool_calls == (
        tool.steps[0].tool_calls
    )
    out = tmp_path / "o.jsonl"
    assert write_openai(out, [traj, tool]) == 2


def test_the_export_loads_with_datasets_as_a_conversational_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "chats.jsonl"
    write_openai(out, [openai_record(c) for c in (TOOL_CHAT, TAG_CHAT, NO_ANSWER_CHAT)])
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(ds) == 3 and set(ds.column_names) == {"messages", "tools"}
    roles = [[m["role"] for m in row] for row in ds["messages"]]
    assert roles[0] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    first_call = ds[0]["messages"][2]["tool_calls"][0]
    assert json.loads(first_call["function"]["arguments"]) == {"city": "Paris"}
    assert ds[1]["tools"] is None and ds[0]["tools"][0]["function"]["name"] == "weather"


# --- LangSmith runs in -----------------------------------------------------------------------

TRACE = "1f0a2b3c-0000-4000-8000-000000000001"


def lc(kind: str, **kwargs) -> dict:
    """A message as LangChain's tracer serializes it into a LangSmith run."""
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", kind],
            "kwargs": kwargs}  # fmt: skip


def run(id: str, run_type: str, name: str, start: str, end: str, parent: str | None, **kw) -> dict:
    order = f"20250301T1200{start[-9:].replace(':', '').replace('.', '')}Z{id}"
    return {"id": id, "trace_id": TRACE, "parent_run_id": parent, "run_type": run_type,
            "name": name, "start_time": f"2025-03-01T12:00:{start}", "end_time":
            f"2025-03-01T12:00:{end}", "dotted_order": order, "status": "success", "error": None,
            "inputs": kw.pop("inputs", {}), "outputs": kw.pop("outputs", {}),
            "extra": kw.pop("extra", {}), "tags": [], "session_id": "proj-1", **kw}  # fmt: skip


SYSTEM = lc("SystemMessage", content="Be brief.", type="system")
HUMAN = lc("HumanMessage", content="Weather in Paris, and 2 km in metres?", type="human")
CALLS = [
    {"name": "weather", "args": {"city": "Paris"}, "id": "w1", "type": "tool_call"},
    {"name": "convert", "args": {"amount": 2, "unit": "km"}, "id": "c1", "type": "tool_call"},
]
AI_1 = lc("AIMessage", content="Looking both up.", type="ai", tool_calls=CALLS,
          response_metadata={"model_name": "gpt-4o-mini-2024-07-18"})  # fmt: skip
AI_2 = lc("AIMessage", content="Sunny, and 2000 m.", type="ai", tool_calls=[],
          response_metadata={"model_name": "gpt-4o-mini-2024-07-18"})  # fmt: skip
TOOL_W = {"content": "sunny", "type": "tool", "name": "weather", "tool_call_id": "w1",
          "status": "success"}  # fmt: skip
TOOL_C = {"content": "2000 m", "type": "tool", "name": "convert", "tool_call_id": "c1",
          "status": "success"}  # fmt: skip
LLM_EXTRA = {"invocation_params": {"model": "gpt-4o-mini", "tools": TOOLS},
             "metadata": {"ls_model_name": "gpt-4o-mini", "thread_id": "th-9",
                          "langgraph_node": "model"}}  # fmt: skip


def gen(message: dict) -> dict:
    return {"generations": [[{"text": message["kwargs"]["content"], "type": "ChatGeneration",
                              "message": message}]], "llm_output": None, "type": "LLMResult"}  # fmt: skip


# A create_agent run with two tool calls, as `Client.list_runs(trace_id=...)` returns it
LANGSMITH_RUNS = [
    run(TRACE, "chain", "LangGraph", "00.000000", "03.000000", None,
        inputs={"messages": [{"role": "user", "content": "Weather in Paris, and 2 km in metres?"}]},
        outputs={"messages": []}, extra={"metadata": {"thread_id": "th-9"}}),
    run("a0000000-0000-4000-8000-000000000002", "chain", "model", "00.100000", "01.000000", TRACE),
    run("a0000000-0000-4000-8000-000000000003", "llm", "ChatOpenAI", "00.200000", "00.900000",
        "a0000000-0000-4000-8000-000000000002", inputs={"messages": [[SYSTEM, HUMAN]]},
        outputs=gen(AI_1), extra=LLM_EXTRA),
    run("a0000000-0000-4000-8000-000000000004", "chain", "tools", "01.100000", "01.600000", TRACE),
    run("a0000000-0000-4000-8000-000000000005", "tool", "weather", "01.200000", "01.500000",
        "a0000000-0000-4000-8000-000000000004", inputs={"city": "Paris"},
        outputs={"output": TOOL_W}, extra={"tool_call_id": "w1"}),
    run("a0000000-0000-4000-8000-000000000006", "chain", "tools", "01.100000", "01.700000", TRACE),
    run("a0000000-0000-4000-8000-000000000007", "tool", "convert", "01.300000", "01.400000",
        "a0000000-0000-4000-8000-000000000006", inputs={"amount": 2, "unit": "km"},
        outputs={"output": TOOL_C}, extra={"tool_call_id": "c1"}),
    run("a0000000-0000-4000-8000-000000000008", "chain", "model", "02.000000", "02.900000", TRACE),
    run("a0000000-0000-4000-8000-000000000009", "llm", "ChatOpenAI", "02.100000", "02.800000",
        "a0000000-0000-4000-8000-000000000008",
        inputs={"messages": [[SYSTEM, HUMAN, AI_1, lc("ToolMessage", **TOOL_W),
                              lc("ToolMessage", **TOOL_C)]]},
        outputs=gen(AI_2), extra=LLM_EXTRA),
]  # fmt: skip


def check_agent_run(traj: Trajectory) -> None:
    assert (traj.question, traj.system_prompt) == (
        "Weather in Paris, and 2 km in metres?",
        "Be brief.",
    )
    assert (traj.outcome, traj.answer) == ("answered", "Sunny, and 2000 m.")
    assert traj.id == TRACE.replace("-", "") and traj.protocol == "swirl-tools/1+langsmith"
    first, last = traj.steps
    assert [
        (c["id"], c["name"], c["args"], c["output"], c["status"]) for c in first.tool_calls
    ] == [
        ("w1", "weather", {"city": "Paris"}, "sunny", "success"),
        ("c1", "convert", {"amount": 2, "unit": "km"}, "2000 m", "success"),
    ]
    assert (first.kind, first.text, first.tool, first.model) == (
        "tool", "Looking both up.", "weather, convert", "gpt-4o-mini-2024-07-18",
    )  # fmt: skip
    assert first.started_at == pytest.approx(1740830400.2)
    assert first.duration_s == pytest.approx(0.7 + 0.3 + 0.1)  # the model call and its tools
    assert (last.kind, last.argument) == ("answer", "Sunny, and 2000 m.")
    assert traj.created_at == pytest.approx(1740830400.0)
    assert traj.metadata["thread_id"] == "th-9" and traj.metadata["graph"] == "LangGraph"
    assert traj.tools == TOOLS and traj.metadata["capture"] == "langsmith"
    assert traj.model == "gpt-4o-mini-2024-07-18"


def test_a_langsmith_export_of_a_create_agent_run_with_two_tool_calls(tmp_path):
    path = tmp_path / "runs.jsonl"
    write_lines(path, list(reversed(LANGSMITH_RUNS)))  # any order: grouped by trace, by time
    errors: list[LineError] = []
    (traj,) = list(iter_langsmith(path, errors=errors))
    assert errors == []
    check_agent_run(traj)
    # the same trace as nested child_runs, and as a JSON array, and from Run-like objects
    (nested,) = langsmith_trajectories([{**LANGSMITH_RUNS[0], "child_runs": LANGSMITH_RUNS[1:]}])
    check_agent_run(nested)
    # an export of llm runs only: the results come from what the next model call saw
    (llm_only,) = langsmith_trajectories([r for r in LANGSMITH_RUNS if r["run_type"] == "llm"])
    assert [c["output"] for c in llm_only.steps[0].tool_calls] == ["sunny", "2000 m"]
    # chat round trip: a LangSmith run exports as an OpenAI chat with its tool schemas
    chat = to_openai(traj)
    assert chat["tools"] == TOOLS and [m["role"] for m in chat["messages"]] == [
        "system", "user", "assistant", "tool", "tool", "assistant",
    ]  # fmt: skip


def test_cli_import_langsmith_reports_bad_lines_and_traces(tmp_path):
    other = "2f0a2b3c-0000-4000-8000-00000000000a"
    failed = [
        {**LANGSMITH_RUNS[0], "id": other, "trace_id": other, "error": "GraphRecursionError: 25",
         "status": "error", "dotted_order": None},
        {**LANGSMITH_RUNS[2], "id": "b1", "trace_id": other, "parent_run_id": other},
    ]  # fmt: skip
    lonely = "3f0a2b3c-0000-4000-8000-00000000000b"
    lines = [
        *LANGSMITH_RUNS[:4],
        b"{broken",
        {"id": "x"},  # no run_type
        *LANGSMITH_RUNS[4:],
        *failed,
        {**LANGSMITH_RUNS[1], "id": lonely, "trace_id": lonely, "parent_run_id": None},
    ]
    path, db = tmp_path / "runs.jsonl", str(tmp_path / "t.db")
    write_lines(path, lines)
    result = invoke("traces", "import", str(path), "--store", db, "--json")  # detected
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["format"], summary["added"], summary["malformed"]) == ("langsmith", 2, 3)
    assert summary["errors"][0].startswith(f"{path}:5: not JSON")
    assert summary["errors"][1].startswith(f"{path}:6: not a LangSmith run: no 'run_type'")
    assert summary["errors"][2] == (
        f"{path}:14: trace {lonely}: no chat-model (llm) run with messages, and no root run "
        "with output messages: nothing to import"
    )
    with SQLiteTraceStore(db) as store:
        check_agent_run(store.get(TRACE.replace("-", "")))
        crashed = store.get(other.replace("-", ""))
    assert (crashed.outcome, crashed.error, crashed.answer) == (
        "failed", "GraphRecursionError: 25", None,
    )  # fmt: skip


def test_a_langsmith_json_array_reports_items_by_line(tmp_path):
    path = tmp_path / "runs.json"
    items = [*LANGSMITH_RUNS, {"id": "x", "run_type": "tool", "start_time": "yesterday",
                               "trace_id": "t-2"}]  # fmt: skip
    path.write_text(json.dumps(items, indent=1))
    errors: list[LineError] = []
    (traj,) = list(iter_file(path, errors=errors))
    check_agent_run(traj)
    (error,) = errors
    lines = path.read_text().splitlines()
    assert lines[error.line - 1].strip() == "{" and '"id": "x"' in lines[error.line]
    assert "trace t-2: 'start_time' is not an ISO 8601 time: 'yesterday'" in error.reason
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"id": "a",\n "run_type": }\n]')
    errors = []
    assert list(iter_langsmith(broken, errors=errors)) == []
    assert [(e.line, e.reason[:8]) for e in errors] == [(3, "not JSON")]


def test_root_runs_only_read_as_a_chat():
    root = {**LANGSMITH_RUNS[0], "outputs": {"messages": [
        {"type": "human", "content": "Weather in Paris?"},
        {"type": "ai", "content": "", "tool_calls": CALLS[:1]},
        {"type": "tool", "content": "sunny", "tool_call_id": "w1"},
        {"type": "ai", "content": "Sunny."},
    ]}}  # fmt: skip
    (traj,) = langsmith_trajectories([root])
    assert [s.kind for s in traj.steps] == ["tool", "answer"] and traj.answer == "Sunny."
    assert traj.steps[0].tool_calls[0]["output"] == "sunny"
    with pytest.raises(SchemaError, match="nothing to import"):
        langsmith_trajectories([{**root, "outputs": {}}])


def test_langsmith_records_equal_the_tracers_records_of_the_same_runs():
    """A create_agent run traced by LangChain's LangSmith tracer (its runs kept here, nothing sent)
    imports as the same record that SwirlTracer captured from the very same run."""
    pytest.importorskip("langchain.agents")
    from fakes import call, scripted, tool_turn
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_core.tracers.langchain import LangChainTracer

    from swirl_agents.traces.capture import SwirlTracer

    @tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @tool
    def convert(amount: float, unit: str) -> str:
        """Convert kilometres to metres."""
        return f"{amount * 1000:g} m"

    model = scripted([
        tool_turn("Looking.", call("weather", {"city": "Paris"}, "w1"),
                  call("convert", {"amount": 2, "unit": "km"}, "c1")),
        "Sunny; 2000 m.",
    ])  # fmt: skip
    runs: list[dict] = []

    class KeepRuns(LangChainTracer):  # the runs LangSmith would store, kept in memory
        def _persist_run_single(self, run):
            pass

        def _update_run_single(self, run):
            runs.append(json.loads(run.model_dump_json(exclude={"child_runs"})))

    captured: list[Trajectory] = []
    agent = create_agent(model, [weather, convert], system_prompt="Be brief.")
    agent.invoke(
        {"messages": [{"role": "user", "content": "Weather in Paris?"}]},
        config={"callbacks": [KeepRuns(client=object()), SwirlTracer(on_trace=captured.append)]},
    )
    (imported,) = langsmith_trajectories(runs)
    (live,) = captured
    assert imported.id == live.id
    keys = ("index", "text", "kind", "argument", "observation", "tool", "error", "tool_calls")
    assert [{k: getattr(s, k) for k in keys} for s in imported.steps] == [
        {k: getattr(s, k) for k in keys} for s in live.steps
    ]
    assert (imported.question, imported.answer, imported.outcome, imported.system_prompt) == (
        live.question, live.answer, live.outcome, live.system_prompt,
    )  # fmt: skip
    assert [s.model for s in imported.steps] == [s.model for s in live.steps]


def test_the_formats_module_loads_no_heavy_package():
    code = (
        "import sys, swirl_agents.traces.formats; "
        "print([m for m in ('langchain_core', 'langgraph', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
