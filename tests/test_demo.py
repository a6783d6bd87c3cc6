"""The quickstart demo: the one-question agent and the pipeline's wiring (fakes, no model)."""

from __future__ import annotations

from pathlib import Path

from fakes import scripted

from swirl_agents import demo


def test_ask_one_runs_the_agent_with_the_calculator(monkeypatch, capsys) -> None:
    model = scripted(
        ["48 * 3/4 sold. <math_exp>48 - 48*3/4 + 24</math_exp>", "<answer>36</answer>"]
    )
    monkeypatch.setattr("swirl_agents.models.load_chat_model", lambda spec=None, **kw: model)
    demo.main(["--ask"])
    out, err = capsys.readouterr()
    assert "answer: 36 (answered)" in out
    assert "-> 36" in err  # the calculator's result went back to the model


def test_pipeline_runs_the_stages_in_order_and_compares(monkeypatch, tmp_path, capsys) -> None:
    calls: list[list[str]] = []

    def fake_run(name: str, done: Path, args: list[str]) -> None:
        calls.append(args)

    def fake_eval(dataset, split, *, model, limit, concurrency, store):
        from swirl_agents.evaluate import EvalReport, summarize

        summary = summarize([], task="math", dataset=dataset, split=split, model=model)
        return EvalReport({**summary, "n": limit, "accuracy": 0.5 if "sft" in model else 0.0})

    monkeypatch.setattr(demo, "_run", fake_run)
    monkeypatch.setattr("swirl_agents.evaluate.evaluate_dataset", fake_eval)
    demo.pipeline(tmp_path, n_train=5, n_eval=3, swirl_steps=2, concurrency=2)
    assert [c[0] for c in calls] == ["filter", "train", "train"]
    assert calls[1][calls[1].index("--method") + 1] == "sft"
    assert calls[2][calls[2].index("--model") + 1] == str(tmp_path / "sft")
    assert (tmp_path / "bootstrap.jsonl").stat().st_size > 0
    assert (tmp_path / "accuracy.png").exists()
    table = capsys.readouterr().out
    assert "| base |" in table and "| swirl |" in table


def test_a_rerun_reuses_every_finished_stage_the_evaluations_too(monkeypatch, tmp_path) -> None:
    evals: list[str] = []

    def fake_eval(dataset, split, *, model, limit, concurrency, store):
        from swirl_agents.evaluate import EvalReport, summarize

        evals.append(model)
        return EvalReport({**summarize([], task="math", model=model), "n": limit})

    monkeypatch.setattr(demo, "_run", lambda name, done, args: None)
    monkeypatch.setattr("swirl_agents.evaluate.evaluate_dataset", fake_eval)
    demo.pipeline(tmp_path, n_train=5, n_eval=3, swirl_steps=0, concurrency=2)
    assert evals == ["smollm2-base", str(tmp_path / "sft")]
    demo.pipeline(tmp_path, n_train=5, n_eval=3, swirl_steps=0, concurrency=2)
    assert len(evals) == 2  # the second run evaluated nothing again
