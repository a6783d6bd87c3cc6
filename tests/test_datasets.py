"""Dataset loaders over the offline data: fixed splits, stable ids, clear errors."""

import pytest

from swirl_agents.datasets import (
    default_max_steps,
    default_tools,
    load_questions,
    task_for,
)
from swirl_agents.errors import UsageError


def test_gsm8k():
    qs = load_questions("gsm8k", "train", limit=3)
    assert [q.id for q in qs] == ["gsm8k-train-00000", "gsm8k-train-00001", "gsm8k-train-00002"]
    assert qs[0].answer == "72" and qs[0].dataset == "gsm8k" and qs[0].split == "train"
    assert "<<48/2=24>>" in qs[0].metadata["solution"]
    assert len(load_questions("gsm8k", "test")) == 1319


def test_hotpotqa_splits_are_disjoint_and_complete():
    train, evals = load_questions("hotpotqa", "train"), load_questions("hotpotqa", "eval")
    assert (len(train), len(evals)) == (1497, 482)
    assert not {q.id for q in train} & {q.id for q in evals}
    assert all(q.metadata["dev_index"] % 4 == 0 for q in evals)
    assert train[0].metadata["supporting_titles"]
    assert load_questions("hotpotqa", "eval", limit=1)[0].id == "5a8b57f25542995d1e6f1371"


def test_jsonl_file(tmp_path):
    path = tmp_path / "my_math.jsonl"
    path.write_text(
        '{"question": "1+1?", "answer": 2, "level": "easy"}\n\n'
        '{"id": "x", "question": "q", "answer": "a\\n#### 1,000"}\n'
    )
    a, b = load_questions(str(path))
    assert (a.id, a.answer, a.dataset, a.metadata) == (
        "my_math-00001",
        "2",
        "my_math",
        {"level": "easy"},
    )
    assert (b.id, b.answer) == ("x", "1000")
    assert task_for(str(path)) == "math"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"question": "q"}\n', ":1: missing field(s) answer"),
        ('{"q": 1}\nnot json\n', ":1: missing"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_questions(str(path))


def test_bad_usage(tmp_path):
    with pytest.raises(UsageError, match="splits train and test"):
        load_questions("gsm8k", "eval")
    with pytest.raises(UsageError, match="unknown dataset"):
        load_questions("mnist", "train")
    with pytest.raises(FileNotFoundError):
        load_questions(str(tmp_path / "none.jsonl"))


def test_task_defaults():
    assert task_for("gsm8k") == "math" and task_for("hotpotqa") == "qa"
    assert (default_tools("math"), default_max_steps("math")) == (["calculator"], 10)
    assert (default_tools("qa"), default_max_steps("qa")) == (["corpus"], 5)


def test_offset_skips_the_first_questions():
    first = load_questions("gsm8k", "train", limit=5)
    shifted = load_questions("gsm8k", "train", limit=2, offset=3)
    assert [q.id for q in shifted] == [q.id for q in first[3:5]]
