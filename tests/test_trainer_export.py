"""The output directory loads into the agent and answers; the CLI runs filter and train end to end."""

from __future__ import annotations

import json

import pytest
from trainer_fixtures import FIXTURES, GOOD_MATH, math_traj, tiny_model_dir
from typer.testing import CliRunner

from swirl_agents.agent import create_swirl_agent
from swirl_agents.cli import app
from swirl_agents.models import load_chat_model
from swirl_agents.tools.calculator import calculator
from swirl_agents.traces import write_jsonl
from trainer.checkpoints import CARD_FILE, export_model, load_base
from trainer.sft import SFTConfig, train_sft

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


def test_trained_output_answers_in_the_agent(tiny, tmp_path):
    model, tokenizer = load_base(str(tiny), device="cpu")
    # Overfit a one-step trajectory, so the tiny model replays it through the real agent loop.
    answer_only = math_traj([], "72")
    config = SFTConfig(learning_rate=2e-2, max_steps=20, batch_size=1, warmup_ratio=0.0)
    figures = train_sft(model, tokenizer, [answer_only], config)
    out = export_model(model, tokenizer, tmp_path / "out", {"method": "sft", "figures": figures})
    card = json.loads((out / CARD_FILE).read_text())
    assert card["method"] == "sft" and "loss_last" in (out / "README.md").read_text()

    agent = create_swirl_agent(
        load_chat_model(str(out), max_tokens=24), [calculator], max_steps=10, task="math"
    )
    result = agent.invoke({"question": answer_only.question})
    assert [s.text for s in result["steps"]] == ["Done. <answer>72</answer>"]
    assert result["answer"] == "72" and result["messages"][-1].content == "72"


def test_cli_filter_and_train(tiny, tmp_path):
    data = tmp_path / "trajs.jsonl"
    write_jsonl(data, FIXTURES)
    runner = CliRunner()
    kept = tmp_path / "kept.jsonl"
    res = runner.invoke(
        app, ["filter", "--data", str(data), "--mode", "both", "--out", str(kept), "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["stages"] == {"input": 7, "with_steps": 7, "outcome": 4, "process": 2, "kept": 2}
    assert len(kept.read_text().splitlines()) == 2

    out = tmp_path / "out"
    args = [
        "train",
        "--method",
        "sft",
        "--data",
        str(kept),
        "--model",
        str(tiny),
        "--out",
        str(out),
    ]
    res = runner.invoke(app, [*args, "--max-steps", "2", "--json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)
    assert figures["optimizer_steps"] == 2 and (out / "config.json").is_file()


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["filter", "--data", str(tmp_path / "none.db"), "--out", "x.jsonl"])
    assert res.exit_code == 2 and "no such file" in res.output
    data = tmp_path / "prod.jsonl"
    write_jsonl(data, [GOOD_MATH.__class__.from_dict({**GOOD_MATH.to_dict(), "gold_answer": None})])
    res = runner.invoke(
        app,
        ["filter", "--data", str(data), "--mode", "outcome", "--out", str(tmp_path / "o.jsonl")],
    )
    assert res.exit_code == 2 and "--mode process" in res.output
    res = runner.invoke(
        app, ["train", "--method", "ppo", "--data", str(data), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "swirl or sft" in res.output


def test_cli_swirl_keeps_stdout_one_json_document(tiny, tmp_path):
    data = tmp_path / "trajs.jsonl"
    write_jsonl(data, [GOOD_MATH])
    args = ["train", "--method", "swirl", "--data", str(data), "--model", str(tiny)]
    args += ["--out", str(tmp_path / "out"), "--max-steps", "1", "--num-generations", "2"]
    res = CliRunner().invoke(
        app, [*args, "--batch-size", "1", "--max-completion-length", "4", "--json"]
    )
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)  # TRL's log lines went to stderr
    assert figures["method"] == "swirl" and figures["optimizer_steps"] == 1
    # A random tiny model never writes a valid action: the cold start is reported.
    assert figures["frac_reward_zero_std_mean"] == 1.0 and "warm-start" in res.stderr


def test_cli_filter_reads_the_default_store_without_data(tmp_path, monkeypatch):
    from swirl_agents.traces.store import open_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWIRL_STORE", raising=False)
    runner = CliRunner()
    res = runner.invoke(app, ["filter", "--mode", "process", "--out", "kept.jsonl"])
    assert res.exit_code == 2 and "swirl_traces.db" in res.output  # none yet: one line
    store = open_store(str(tmp_path / "swirl_traces.db"))
    store.add_many(FIXTURES)
    store.close()
    res = runner.invoke(app, ["filter", "--mode", "process", "--out", "kept.jsonl", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stages"]["input"] == len(FIXTURES)
    monkeypatch.setenv("SWIRL_STORE", str(tmp_path / "elsewhere.db"))
    res = runner.invoke(app, ["filter", "--mode", "process", "--out", "kept.jsonl"])
    assert res.exit_code == 2 and "elsewhere.db" in res.output


def test_the_trainer_cli_imports_on_its_own():
    import subprocess
    import sys

    code = (
        "import trainer.cli\n"
        "from swirl_agents.cli import app\n"
        "names = {c.name or c.callback.__name__ for c in app.registered_commands}\n"
        "assert {'filter', 'train', 'eval'} <= names, names\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
