"""The README's protocol="tools" and capture examples run as written (on a scripted model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakes import call, scripted, tool_turn
from langchain_core.messages import ToolMessage

from swirl_agents.traces import load_trajectories

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Native tool calls, and capturing the app you already have"


def blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def script(messages):
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return tool_turn(
            "Both distances in metres first.",
            call("convert", {"amount": 3, "unit": "km"}, "a"),
            call("convert", {"amount": 2, "unit": "mile"}, "b"),
        )
    if len(results) == 2:
        return tool_turn("", call("add", {"a": 3000, "b": 3218}, "c"))
    return results[-1].content.removesuffix(".0")


def test_readme_examples_run(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("langchain.agents")
    monkeypatch.chdir(tmp_path)
    agent_block, capture_block = blocks()
    namespace = {"model": scripted(script)}
    exec(compile(agent_block, "README agent", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "6218 ['tool', 'tool', 'answer']"

    namespace["model"] = scripted(script)
    exec(compile(capture_block, "README capture", "exec"), namespace)
    (traj,) = load_trajectories(tmp_path / "prod.db")
    assert (traj.answer, traj.metadata["thread_id"]) == ("6218", "user-42")
    assert [s.kind for s in traj.steps] == ["tool", "tool", "answer"]
    assert traj.steps[0].tool_calls[1]["output"] == "3218 m"
