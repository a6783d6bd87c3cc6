"""Learn from any LangGraph agent, end to end: capture an existing ``create_agent`` app's runs with
SwirlTracer into SQLite (also concurrent ones), ``swirl filter`` them, ``swirl train`` SFT on a
tiny model, and serve the result inside ``create_agent`` through ``LocalChatModel.bind_tools``."""

from __future__ import annotations

import json
import re

import pytest
from agent_fixtures import REPEATER, SCHEMAS, TOOLS, calls_for, script, tool_model_dir
from fakes import scripted
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.models import LocalChatModel, load_chat_model
from swirl_agents.models.toolcalls import parse_tool_calls
from swirl_agents.traces import SQLiteTraceStore, load_trajectories
from swirl_agents.traces.capture import SwirlTracer
from trainer.examples import end_of_turn, step_examples

pytest.importorskip("torch")
create_agent = pytest.importorskip("langchain.agents").create_agent


def _calls(turn_calls: list[dict]) -> list[tuple[str, dict]]:
    return [(c["name"], c["args"]) for c in turn_calls]


def test_capture_filter_train_and_serve_inside_create_agent(tmp_path) -> None:
    # 1. capture an existing app: 5 runs one after another, 5 at once, one handler, one store
    db = tmp_path / "prod.db"
    store = SQLiteTraceStore(db)
    tracer = SwirlTracer(store)
    agent = create_agent(scripted(script), TOOLS, checkpointer=InMemorySaver())
    one_by_one = ["oslo", "rome", "lima", REPEATER, "baku"]
    for q in one_by_one:
        agent.invoke(
            {"messages": [HumanMessage(q)]},
            {"callbacks": [tracer], "configurable": {"thread_id": f"t-{q}"}},
        )
    at_once = [f"city{i}" for i in range(5)]
    create_agent(scripted(script), TOOLS).batch(
        [{"messages": [HumanMessage(q)]} for q in at_once],
        {"callbacks": [tracer], "max_concurrency": 5},
    )
    store.close()
    captured = load_trajectories(db)
    assert sorted(t.question for t in captured) == sorted(one_by_one + at_once)
    for traj in captured:  # no run holds another run's steps
        q = traj.question
        assert [s.kind for s in traj.steps] == ["tool", "tool", "answer"]
        assert [_calls(s.tool_calls) for s in traj.steps[:2]] == [_calls(c) for c in calls_for(q)]
        assert traj.steps[0].tool_calls[0]["output"] == f"sunny in {q}"
        assert traj.tools == SCHEMAS and traj.outcome == "answered"

    # 2. swirl filter: process mode with the rule judge drops the run that repeats a call
    runner = CliRunner()
    kept = tmp_path / "kept.jsonl"
    res = runner.invoke(
        app,
        ["filter", "--data", str(db), "--mode", "process", "--judge", "rule"]
        + ["--out", str(kept), "--json"],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["stages"]["input"] == 10 and report["kept"] == 9
    assert report["step_verdicts"] == {"good": 29, "bad": 1}
    filtered = load_trajectories(kept)
    assert REPEATER not in {t.question for t in filtered}

    # the training text of a captured step: its calls as <tool_call> blocks that the serving
    # parser reads back to the captured calls, and the template's end of turn
    base = tool_model_dir(tmp_path / "tiny")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    for traj in filtered:
        for example in step_examples(traj)[:2]:
            prompt, text = example.render(tokenizer)
            action = text[len(prompt) :]
            assert text.startswith(prompt) and action.endswith(end_of_turn(tokenizer))
            assert action.count("<tool_call>") == len(example.step.tool_calls)
            content, calls, invalid = parse_tool_calls(
                action, [s["function"]["name"] for s in SCHEMAS]
            )
            assert not invalid and content == example.step.text.strip()
            assert _calls(calls) == _calls(example.step.tool_calls)
            assert "<tools>" in prompt and json.dumps(SCHEMAS[1]) in prompt

    # 3. swirl train: 2 SFT steps on the tiny model
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["train", "--method", "sft", "--data", str(kept), "--model", str(base)]
        + ["--out", str(out), "--max-steps", "2", "--batch-size", "2", "--json"],
    )
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)
    assert figures["optimizer_steps"] == 2 and figures["steps"] == 27  # 9 runs x 3 steps
    # one pass per run: each state holds the earlier actions exactly as they were trained
    assert figures["dropped_steps"] == 0 and figures["fallback_trajectories"] == 0

    # 4. serve the trained model inside create_agent, through bind_tools
    chat = load_chat_model(str(out), max_tokens=12)
    assert isinstance(chat, LocalChatModel)
    prompts: list[str] = []
    submit = chat.engine.submit

    def recording(request):
        prompts.append(chat.tokenizer.decode(request.prompt_ids))
        return submit(request)

    chat.engine.submit = recording
    result = create_agent(chat, TOOLS).invoke({"messages": [HumanMessage("oslo")]})
    assert isinstance(result["messages"][-1], AIMessage)  # the run completes
    schemas = re.search(r"<tools>\n(.*)\n</tools>", prompts[0], re.DOTALL).group(1)
    assert schemas.splitlines() == [json.dumps(s, ensure_ascii=False) for s in SCHEMAS]
    # the first state it is served is the first state it was trained on, byte for byte
    oslo = next(t for t in filtered if t.question == "oslo")
    assert prompts[0] == step_examples(oslo)[0].prompt_text(chat.tokenizer)


def test_a_model_trained_on_one_captured_run_replays_it_inside_create_agent(tmp_path) -> None:
    # Overfit one captured run: the tiny model then writes its tool calls in the format the
    # server parses, create_agent runs the tools, and the model answers from their results.
    # This holds only if training text and serving text agree byte for byte.
    from trainer.checkpoints import load_base
    from trainer.sft import SFTConfig, train_sft

    logged = []
    tracer = SwirlTracer(on_trace=logged.append)
    create_agent(scripted(script), TOOLS).invoke(
        {"messages": [HumanMessage("oslo")]}, {"callbacks": [tracer]}
    )
    model, tokenizer = load_base(str(tool_model_dir(tmp_path / "tiny")), device="cpu")
    config = SFTConfig(learning_rate=1e-2, max_steps=200, batch_size=1, warmup_ratio=0.0)
    assert train_sft(model, tokenizer, logged, config)["loss_last"] < 0.05

    served = []
    chat = LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=80)
    out = create_agent(chat, TOOLS).invoke(
        {"messages": [HumanMessage("oslo")]},
        {"callbacks": [SwirlTracer(on_trace=served.append)], "recursion_limit": 12},
    )
    assert out["messages"][-1].content == "OSLO: sunny in oslo"
    (original,), (replay,) = logged, served

    def record(traj):
        return [
            (s.kind, s.text, [(c["name"], c["args"], c["output"]) for c in s.tool_calls or []])
            for s in traj.steps
        ]

    assert record(replay) == record(original)
    assert replay.tools == original.tools == SCHEMAS
