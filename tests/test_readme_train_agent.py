"""The README's "Train on your own agent" section runs as written: capture an app's runs, the
``swirl filter`` and ``swirl train`` commands, and serving the trained model in ``create_agent``
(a scripted model stands in for the app's model, a tiny local model for ``smollm2``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from agent_fixtures import tool_model_dir
from fakes import call, scripted, tool_turn
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.models import LocalChatModel
from swirl_agents.traces import load_trajectories

pytest.importorskip("torch")
pytest.importorskip("langchain.agents")

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Train on your own agent"


def section() -> tuple[list[str], list[str]]:
    """The section's python blocks and the lines of its bash blocks."""
    text = README.read_text(encoding="utf-8")
    body = text[text.index(SECTION) :].split("\n## ", 1)[0]
    python = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    bash = re.findall(r"```bash\n(.*?)```", body, flags=re.S)
    return python, [line for block in bash for line in block.splitlines() if line.strip()]


def script(messages):
    """The app's model: both distances in metres, then their sum, then the answer."""
    question = next(m for m in messages if isinstance(m, HumanMessage)).content
    km, miles = re.findall(r"(\d+) (?:km|mile)", question)
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return tool_turn(
            "Both distances in metres first.",
            call("convert", {"amount": int(km), "unit": "km"}, f"a{km}"),
            call("convert", {"amount": int(miles), "unit": "mile"}, f"b{miles}"),
        )
    if len(results) == 2:
        a, b = (float(r.content.removesuffix(" m")) for r in results)
        return tool_turn("", call("add", {"a": a, "b": b}, f"c{km}"))
    return results[-1].content.removesuffix(".0")


def test_readme_train_on_your_own_agent(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (capture, serve), commands = section()
    namespace = {"model": scripted(script)}
    exec(compile(capture, "README capture", "exec"), namespace)
    runs = load_trajectories(tmp_path / "prod.db")
    assert sorted(t.answer for t in runs) == ["6218", "6609"]
    assert all([s.kind for s in t.steps] == ["tool", "tool", "answer"] for t in runs)

    base = tool_model_dir(tmp_path / "tiny")
    filter_cmd, train_cmd = commands
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "swirl"
        args = args[1:]
        if line is train_cmd:  # the tiny model for smollm2, and a smoke run's length
            args[args.index("--model") + 1] = str(base)
            args += ["--max-steps", "2"]
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, f"{line}\n{res.output}"
    assert len(load_trajectories(tmp_path / "prod_ok.jsonl")) == 2  # both runs are good
    assert (tmp_path / "runs" / "my-agent" / "config.json").is_file()
    assert "--method sft" in train_cmd and "--mode process" in filter_cmd

    exec(compile(serve, "README serve", "exec"), namespace)
    assert isinstance(namespace["trained"], LocalChatModel)
    assert isinstance(namespace["out"]["messages"][-1], AIMessage)  # a run of the tiny model
