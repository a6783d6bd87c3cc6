"""bench/filtering.py's arms (the same number of runs per filter) and their results table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    sys.path.insert(0, str(ROOT / "bench"))  # filtering.py imports learning.py beside it
    try:
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", ROOT / "bench" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def kept_files(tmp_path: Path) -> dict[str, Path]:
    runs = [json.dumps({"run_id": f"r{i}", "steps": []}) for i in range(10)]
    sets = {"none": runs, "outcome": runs[:3], "process": runs[2:8], "both": runs[:3]}
    files = {}
    for name, lines in sets.items():
        files[name] = tmp_path / f"kept_{name}.jsonl"
        files[name].write_text("\n".join(lines) + "\n")
    return files


def test_every_arm_gets_the_smallest_sets_size_and_a_repeated_set_trains_once(tmp_path):
    filtering = bench_module("filtering")
    arms = filtering.subsample(kept_files(tmp_path), None, seed=0, out=tmp_path)
    # both keeps exactly outcome's runs: one arm, named for the first filter
    assert list(arms) == ["none", "outcome", "process"]
    picked = {a: p.read_text().splitlines() for a, p in arms.items()}
    assert all(len(lines) == 3 for lines in picked.values())
    process = kept_files(tmp_path)["process"].read_text().splitlines()
    assert set(picked["process"]) <= set(process)  # a subsample of its own filter's runs
    again = filtering.subsample(kept_files(tmp_path), None, seed=0, out=tmp_path / "..")
    assert again["process"].read_text().splitlines() == picked["process"]  # seeded


def test_a_larger_count_keeps_a_smaller_set_whole(tmp_path):
    arms = bench_module("filtering").subsample(kept_files(tmp_path), 5, seed=1, out=tmp_path)
    sizes = {a: len(p.read_text().splitlines()) for a, p in arms.items()}
    assert sizes == {"none": 5, "outcome": 3, "process": 5}


def test_a_dir_without_the_filter_stage_is_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match="missing"):
        bench_module("filtering").main(["--out", str(tmp_path / "nothing")])
    assert not (tmp_path / "nothing").exists()


def test_the_results_table_shows_a_filtering_runs_own_pairs(tmp_path):
    for arm, right in (("swirl_outcome", [1, 0, 0, 0]), ("swirl_process", [1, 1, 1, 0])):
        rows = [
            {"question_id": str(i), "correct": bool(c), "steps": 3} for i, c in enumerate(right)
        ]
        (tmp_path / f"hotpotqa_{arm}.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    record = {"pairs": [["swirl_outcome", "swirl_process"]], "stages": {
        "swirl_process": {"wall_s": 600, "threads": 2, "alongside": []}}}  # fmt: skip
    (tmp_path / "filtering_run.json").write_text(json.dumps(record))
    text = bench_module("results_table").table(tmp_path)
    assert "warm + SWiRL on process-filtered trajectories | 3/4" in text
    assert "| swirl_process vs swirl_outcome | 4 | +50.0%" in text
    assert "| swirl_process | 10.0 min | 2 | - |" in text


def test_both_scripts_build_train_commands_from_one_helper():
    learning, filtering = bench_module("learning"), bench_module("filtering")
    args = filtering.parse_args(["--out", "runs/x"])
    swirl = learning.train_command("swirl", "kept.jsonl", "warm", "out/swirl", args)
    flags = dict(zip(swirl[2::2], swirl[3::2], strict=False))
    # filtering's own defaults (HotPotQA-sized) reach the command, not learning.py's
    assert flags["--judge"] == "reference-grounded" and flags["--max-length"] == "1536"
    assert flags["--max-steps"] == "16" and flags["--lr"] == "3e-05"
    assert swirl[-3:] == ["--out", "out/swirl", "--json"] and "--dynamic-sampling" not in swirl
    args = learning.parse_args(["--dynamic-sampling", "--swirl-temperature", "0.7"])
    swirl = learning.train_command("swirl", "k", "w", "o", args)
    assert "--dynamic-sampling" in swirl and swirl[swirl.index("--temperature") + 1] == "0.7"
    assert swirl[swirl.index("--max-steps") + 1] == "60"  # learning.py's default
    sft = learning.train_command("sft", "k", "w", "o", args)
    assert "--judge" not in sft and sft[sft.index("--batch-size") + 1] == "4"
    with pytest.raises(SystemExit, match="unknown training method"):
        learning.train_command("dpo", "k", "w", "o", args)


FILTER_ARMS = ("none", "outcome", "process")  # kept_files: both = outcome, trained once


def test_a_given_warm_model_trains_every_arm_and_its_outcomes_stand_in(tmp_path, monkeypatch):
    filtering = bench_module("filtering")
    src, results = tmp_path / "exp", tmp_path / "results"
    src.mkdir()
    for path in kept_files(tmp_path).values():  # no src/warm: the warm start is given
        (src / path.name).write_text(path.read_text())
    trained, evaluated = [], []
    monkeypatch.setattr(filtering.Pipeline, "run", lambda self, jobs: trained.extend(jobs))
    monkeypatch.setattr(
        filtering.Pipeline, "evaluate", lambda self, d, models, *a: evaluated.extend(models)
    )
    rows = [{"question_id": str(i), "correct": i < 2, "steps": 3} for i in range(4)]
    warm_outcomes = tmp_path / "warm.jsonl"
    for path in [warm_outcomes, *(results / f"gsm8k_swirl_{a}.jsonl" for a in FILTER_ARMS)]:
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(map(json.dumps, rows)) + "\n")
    filtering.main(["--out", str(src), "--results", str(results), "--dataset", "gsm8k",
                    "--warm", "smollm2", "--warm-outcomes", str(warm_outcomes)])  # fmt: skip
    assert [cmd[cmd.index("--model") + 1] for *_, cmd in trained] == ["smollm2"] * 3
    assert "warm" not in evaluated  # its committed outcomes are used instead
    assert (results / "gsm8k_warm.jsonl").read_text() == warm_outcomes.read_text()  # in the table
    compare = json.loads((results / "filtering.json").read_text())
    assert compare["swirl_process_vs_warm"]["n"] == 4


def test_the_results_table_reads_a_borrowed_model_from_its_own_run(tmp_path):
    def write(run: str, model: str, right: list[int]) -> None:
        rows = [
            {"question_id": str(i), "correct": bool(c), "steps": 3} for i, c in enumerate(right)
        ]
        (tmp_path / run).mkdir(exist_ok=True)
        (tmp_path / run / f"gsm8k_{model}.jsonl").write_text("\n".join(map(json.dumps, rows)))

    write("exp15", "sft", [0, 0, 1, 0])
    write("exp17", "swirl_states8", [1, 1, 1, 0])
    record = {"borrowed": {"sft": "exp15"}, "pairs": [["sft", "swirl_states8"]]}
    (tmp_path / "exp17" / "run.json").write_text(json.dumps(record))
    text = bench_module("results_table").table(tmp_path / "exp17")
    assert "| warm + SFT on the kept trajectories (baseline) (exp15) | 1/4 |" in text
    assert "| swirl_states8 vs sft | 4 | +50.0%" in text
