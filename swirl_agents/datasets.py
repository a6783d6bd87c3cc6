"""Question sets: GSM8K and HotPotQA from the offline data root, or any JSONL of question/answer.

Splits are the fixed ones of the data README: GSM8K ``train`` / ``test``; HotPotQA (dev questions
only) ``train`` = ``dev_index % 4 != 0`` (1497), ``eval`` = ``dev_index % 4 == 0`` (482).
Question ids are stable across runs: ``gsm8k-train-00012`` (line order), HotPotQA's ``_id``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swirl_agents.errors import SwirlError, UsageError
from swirl_agents.grading import gsm8k_gold
from swirl_agents.paths import data_root

SPLITS: dict[str, tuple[str, ...]] = {"gsm8k": ("train", "test"), "hotpotqa": ("train", "eval")}


class NoSuchDatasetFile(UsageError, FileNotFoundError):
    """``--dataset PATH`` names a file that does not exist (bad usage: exit 2)."""


class MissingData(SwirlError, FileNotFoundError):
    """A built-in dataset's file is not under the data root (a setup problem: exit 1)."""


@dataclass
class Question:
    """One question with its reference answer."""

    id: str  # stable id within the dataset
    question: str  # the text the agent sees
    answer: str  # the gold answer (GSM8K: the number after ####)
    dataset: str  # gsm8k, hotpotqa, or the JSONL file's stem
    split: str  # train, test, eval, or "all" for a JSONL file
    metadata: dict[str, Any] = field(default_factory=dict)  # solution, supporting titles, ...


def canonical_names(dataset: str, split: str | None) -> tuple[str, str | None]:
    """``GSM8K`` / ``Test`` (a CLI's input) as the names the loaders take (``gsm8k``, ``test``);
    a path and its split unchanged. The loaders themselves take only the exact names, so a check
    such as "never train on test" cannot be passed by ``TEST``."""
    name = dataset.strip().lower()
    if name not in SPLITS:
        return dataset, split
    return name, split.strip().lower() if isinstance(split, str) else split


def task_for(dataset: str) -> str:
    """``"math"`` for GSM8K, ``"qa"`` for HotPotQA; a JSONL file is math when its name says so."""
    name = Path(dataset).stem.lower() if dataset.endswith(".jsonl") else dataset.lower()
    return "math" if "gsm" in name or "math" in name else "qa"


def default_tools(task: str) -> list[str]:
    """Tool names (for ``swirl_agents.tools.load_tools``) the agent gets for a task."""
    return ["calculator"] if task == "math" else ["corpus"]


def default_max_steps(task: str) -> int:
    """The paper's step budgets: 10 for math, 5 for QA."""
    return 10 if task == "math" else 5


def load_questions(
    dataset: str, split: str | None = None, *, limit: int | None = None, offset: int = 0
) -> list[Question]:
    """Load a split's questions in file order.

    Args:
        dataset: ``gsm8k``, ``hotpotqa``, or a path to a JSONL file with ``question`` and ``answer``.
        split: the split (``train``/``test`` for gsm8k, ``train``/``eval`` for hotpotqa); ignored for a file.
        limit: the first N questions of the split (after ``offset``).
        offset: skip the first N questions of the split (e.g. to hold a slice out).
    """
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    if offset < 0:
        raise UsageError(f"--offset must be at least 0, got {offset}")
    if dataset in SPLITS:
        if split not in SPLITS[dataset]:
            raise UsageError(f"{dataset} has splits {' and '.join(SPLITS[dataset])}, not {split!r}")
        rows = _gsm8k(split) if dataset == "gsm8k" else _hotpotqa(split)
    elif _is_path(dataset):
        rows = _from_file(Path(dataset))
    else:
        raise UsageError(
            f"unknown dataset {dataset!r}: use gsm8k, hotpotqa, or a path to a .jsonl file"
        )
    out: list[Question] = []
    for q in itertools.islice(rows, offset, None):
        if limit is not None and len(out) >= limit:
            break
        out.append(q)
    return out


def _is_path(dataset: str) -> bool:
    """Whether ``--dataset`` names a file: it ends in .jsonl, has a directory part, or exists."""
    return (
        dataset.endswith(".jsonl")
        or os.sep in dataset
        or "/" in dataset
        or Path(dataset).expanduser().exists()
    )


def _records(path: Path, *, builtin: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        if builtin:  # only the built-in datasets live under the data root
            raise MissingData(
                f"no such file: {path} (the data root is {data_root()}: set $SWIRL_DATA to the "
                "folder that holds gsm8k/ and hotpotqa/)"
            )
        if path.is_dir():
            raise NoSuchDatasetFile(f"{path} is a directory, not a JSONL file of questions")
        raise NoSuchDatasetFile(f"no such file: {path}")
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object")
            yield number, record


def _gsm8k(split: str) -> Iterator[Question]:
    path = data_root() / "gsm8k" / f"{split}.jsonl"
    for i, (_, r) in enumerate(_records(path, builtin=True)):
        yield Question(
            id=f"gsm8k-{split}-{i:05d}",
            question=r["question"],
            answer=gsm8k_gold(r["answer"]),
            dataset="gsm8k",
            split=split,
            metadata={"solution": r["answer"]},
        )


def _hotpotqa(split: str) -> Iterator[Question]:
    path = data_root() / "hotpotqa" / "hotpotqa_dev_distractor_union.jsonl"
    for _, r in _records(path, builtin=True):
        if (r["dev_index"] % 4 == 0) != (split == "eval"):
            continue
        yield Question(
            id=r["_id"],
            question=r["question"],
            answer=r["answer"],
            dataset="hotpotqa",
            split=split,
            metadata={
                "supporting_titles": r.get("supporting_titles") or [],
                "type": r.get("type"),
                "level": r.get("level"),
                "dev_index": r["dev_index"],
            },
        )


def _from_file(path: Path) -> Iterator[Question]:
    """Any JSONL with ``question`` and ``answer`` (optional ``id``; other fields go to metadata)."""
    for number, r in _records(path):
        missing = [k for k in ("question", "answer") if not isinstance(r.get(k), (str, int, float))]
        if missing:
            raise UsageError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        answer = str(r["answer"])
        meta = {k: v for k, v in r.items() if k not in ("id", "_id", "question", "answer")}
        if "####" in answer:  # a GSM8K-style worked solution
            meta["solution"], answer = answer, gsm8k_gold(answer)
        yield Question(
            id=str(r.get("id", r.get("_id", f"{path.stem}-{number:05d}"))),
            question=str(r["question"]),
            answer=answer,
            dataset=path.stem,
            split="all",
            metadata=meta,
        )
