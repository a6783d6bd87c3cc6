"""bench/learning.py's stage runner: caching, failures, and each stage's own wall time."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pipeline_module():
    spec = importlib.util.spec_from_file_location("bench_learning", ROOT / "bench" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sleeper(seconds: float, out: Path) -> list[str]:
    code = f"import time, pathlib; time.sleep({seconds}); pathlib.Path({str(out)!r}).touch()"
    return [sys.executable, "-c", code]


def test_side_by_side_stages_record_their_own_wall_time(tmp_path):
    pipe = pipeline_module().Pipeline(tmp_path / "out", tmp_path / "results", threads=2)
    # the slow stage is listed first: the loop waits for it before it looks at the fast one
    slow, fast = tmp_path / "slow.done", tmp_path / "fast.done"
    pipe.run([("slow", slow, sleeper(2.5, slow)), ("fast", fast, sleeper(0.1, fast))])
    stages = json.loads((tmp_path / "results" / "run.json").read_text())["stages"]
    assert stages["fast"]["wall_s"] < 1.8 < stages["slow"]["wall_s"]
    assert stages["fast"]["threads"] == 1 and stages["fast"]["alongside"] == ["slow"]
    pipe.run([("fast", fast, [sys.executable, "-c", "raise SystemExit(3)"])])  # cached: not rerun


def test_a_failed_stage_stops_the_pipeline_and_is_not_recorded(tmp_path):
    pipe = pipeline_module().Pipeline(tmp_path / "out", tmp_path / "results", threads=1)
    with pytest.raises(SystemExit, match=r"\[bad\] failed \(exit 3\)"):
        pipe.run([("bad", tmp_path / "never", [sys.executable, "-c", "raise SystemExit(3)"])])
    assert "bad" not in pipe.record["stages"]


def test_a_killed_side_by_side_stage_suggests_one_at_a_time(tmp_path):
    pipe = pipeline_module().Pipeline(tmp_path / "out", tmp_path / "results", threads=2)
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    ok = tmp_path / "ok.done"
    with pytest.raises(SystemExit, match="try --one-at-a-time"):
        pipe.run([("killed", tmp_path / "never", killed), ("ok", ok, sleeper(0.1, ok))])
    assert "ok" in pipe.record["stages"] and "killed" not in pipe.record["stages"]


def test_evaluate_runs_every_model_and_commits_its_outcomes(tmp_path):
    module = pipeline_module()
    fake = tmp_path / "swirl"  # stands in for `swirl eval`: writes what a report dir holds
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        "a = sys.argv\n"
        "report = pathlib.Path(a[a.index('--report') + 1])\n"
        "report.mkdir(parents=True)\n"
        "n, model = int(a[a.index('--limit') + 1]), a[a.index('--model') + 1]\n"
        "rows = [{'question_id': str(i), 'correct': model == 'good'} for i in range(n)]\n"
        "(report / 'results.jsonl').write_text(''.join(json.dumps(r) + '\\n' for r in rows))\n"
        "(report / 'summary.json').write_text(json.dumps({'n': n, 'model': model}))\n"
    )
    fake.chmod(0o755)
    module.SWIRL = str(fake)
    pipe = module.Pipeline(tmp_path / "out", tmp_path / "results", threads=2)
    summaries = pipe.evaluate("gsm8k", {"a": "good", "b": "bad", "c": "good"},
                              {"a": 3, "b": 3, "c": 2}, concurrency=4)  # fmt: skip
    assert summaries == {"a": {"n": 3, "model": "good"}, "b": {"n": 3, "model": "bad"},
                         "c": {"n": 2, "model": "good"}}  # fmt: skip
    lines = (tmp_path / "results" / "gsm8k_b.jsonl").read_text().splitlines()
    assert [json.loads(x)["correct"] for x in lines] == [False] * 3
    stages = json.loads((tmp_path / "results" / "run.json").read_text())["stages"]
    assert stages["eval_a"]["alongside"] == ["eval_b"] and stages["eval_c"]["alongside"] == []
    assert "--split test" in stages["eval_a"]["command"]  # GSM8K's evaluation split


def test_stop_after_filter_makes_the_data_and_trains_nothing(tmp_path, monkeypatch):
    module = pipeline_module()
    ran = []
    monkeypatch.setattr(module.Pipeline, "run", lambda self, jobs: ran.extend(n for n, *_ in jobs))
    out, results = tmp_path / "exp", tmp_path / "results"
    module.main(["--out", str(out), "--results", str(results), "--warm", "smollm2",
                 "--stop-after", "filter"])  # fmt: skip
    assert ran == ["generate", "filter_process", "filter_none", "filter_outcome", "filter_both"]
    record = json.loads((results / "run.json").read_text())
    assert set(record["data"]["filters"]) == {"process", "none", "outcome", "both"}
    ran.clear()
    module.main(["--out", str(out), "--results", str(results), "--warm", "smollm2",
                 "--stop-after", "generate"])  # fmt: skip
    assert ran == ["generate"]
