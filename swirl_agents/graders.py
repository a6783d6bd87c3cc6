"""The outcome grader: is a final answer right? One for ``swirl eval``, ``generate`` and ``filter``.

An :class:`Answer` is what a grader sees: the question, the prediction, the gold answer, its
accepted ``aliases`` and the task. Graders return one verdict per answer: ``True`` (correct),
``False`` (wrong) or ``None`` (unknown: the grader could not tell). Two graders:

- :class:`RuleGrader`: :func:`swirl_agents.grading.grade` (numeric equality for math, normalised
  exact match for QA) against the gold answer or any alias. Never unknown.
- :class:`LLMGrader`: any LangChain chat model answers YES/NO. Replies are cached on disk
  (:class:`VerdictCache`, keyed by judge model, prompt and vote), so the same answer gets the same
  verdict in ``swirl eval`` and ``swirl filter``; optional majority voting over ``votes`` samples;
  a reply that cannot be read is unknown, never YES.

``trainer.judges``' outcome judges are adapters over these (the trainer imports this package,
never the reverse); :func:`answer_of` reads the :class:`Answer` of a stored trajectory (its
aliases are ``metadata["gold_aliases"]``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from tqdm.auto import tqdm

from swirl_agents.agent import model_name
from swirl_agents.errors import UsageError
from swirl_agents.grading import accepted_answers, grade

if TYPE_CHECKING:
    from swirl_agents.traces.schema import Trajectory

ALIASES_KEY = "gold_aliases"  # where a trajectory's metadata keeps its accepted aliases


@dataclass(frozen=True)
class Answer:
    """One final answer to grade."""

    question: str
    prediction: str | None  # None: the run gave no answer (always wrong, no grader call)
    gold: str | None  # the reference answer
    aliases: tuple[str, ...] = ()  # other accepted answers
    task: str = "qa"  # math | qa: picks the rule

    @property
    def accepted(self) -> list[str]:
        return accepted_answers(self.gold, self.aliases)


def answer_of(trajectory: Trajectory, task: str) -> Answer:
    """The :class:`Answer` of a trajectory: its final answer against its gold answer and aliases."""
    aliases = (trajectory.metadata or {}).get(ALIASES_KEY) or ()
    return Answer(
        trajectory.question,
        trajectory.answer,
        trajectory.gold_answer,
        tuple(str(a) for a in aliases),
        task,
    )


class OutcomeGrader(Protocol):
    """Grades final answers: True (correct), False (wrong) or None (unknown)."""

    name: str

    def grade_answers(self, answers: Sequence[Answer]) -> list[bool | None]: ...


# A grader as a plain function of (question, prediction, gold): what ``evaluate`` also takes.
GraderFn = Callable[[str, "str | None", str], "bool | None"]


def grade_one(grader: OutcomeGrader | GraderFn, answer: Answer) -> bool | None:
    """One answer's verdict from a grader or a grader function; no answer is wrong (no call)."""
    if answer.prediction is None:
        return False
    if hasattr(grader, "grade_answers"):
        return grader.grade_answers([answer])[0]  # type: ignore[union-attr]
    return grader(answer.question, answer.prediction, answer.gold)  # type: ignore[operator,arg-type]


class RuleGrader:
    """Numeric equivalence for ``math``, normalised exact match for ``qa``, against the gold
    answer or any alias (never unknown)."""

    name = "rule"

    def grade_answers(self, answers: Sequence[Answer]) -> list[bool | None]:
        return [grade(a.prediction, a.gold, a.task, a.aliases) for a in answers]


# --- LLM verdicts ----------------------------------------------------------------------------


class VerdictCache:
    """Raw judge replies on disk (SQLite), keyed by a hash of judge model, prompt and sample."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, reply TEXT)")
        self._db.commit()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: Any) -> str:
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM verdicts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_many(self, items: Mapping[str, str]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", items.items())


def default_verdict_cache() -> VerdictCache:
    """The verdict cache every judge and grader shares: ``cache_dir()/judge_verdicts.db``."""
    from swirl_agents.paths import cache_dir

    return VerdictCache(cache_dir() / "judge_verdicts.db")


def parse_verdict(reply: str, positive: str, negative: str) -> str:
    """The one verdict word in ``reply`` (lower case), or "unknown" when there is none, both, or
    a negated one ("not GOOD")."""
    words = re.findall(rf"\b(not\s+)?({positive}|{negative})\b", reply, flags=re.IGNORECASE)
    kinds = {w.lower() for neg, w in words if not neg}
    if any(neg for neg, _ in words) or len(kinds) != 1:
        return "unknown"
    return kinds.pop()


@dataclass
class LLMJudge:
    """A chat model asked for one-word verdicts: through the cache, with majority voting."""

    model: BaseChatModel  # any LangChain chat model
    cache: VerdictCache | None = None  # replies on disk; None keeps nothing
    votes: int = 1  # samples per item; the majority verdict wins, a tie is "unknown"
    max_concurrency: int = 8  # parallel model calls
    chunk_size: int = 64  # calls between cache writes
    counts: Counter = field(default_factory=Counter)  # verdicts given so far, "unknown" included
    calls: int = 0  # model calls made (cache hits excluded)

    @property
    def name(self) -> str:
        return model_name(self.model)

    def _ask(
        self, kind: str, prompts: Sequence[tuple[str, str]], words: tuple[str, str]
    ) -> list[str]:
        """One verdict per (system, user) prompt, through the cache, with majority voting."""
        keys = [
            [VerdictCache.key(kind, self.name, system, user, v) for v in range(self.votes)]
            for system, user in prompts
        ]
        replies = {k: self.cache.get(k) for ks in keys for k in ks} if self.cache else {}
        todo = [(k, prompts[i]) for i, ks in enumerate(keys) for k in ks if replies.get(k) is None]
        # Chunks: a progress bar, and an interrupted run keeps the verdicts it already paid for.
        chunks = [todo[i : i + self.chunk_size] for i in range(0, len(todo), self.chunk_size)]
        for chunk in tqdm(chunks, desc=f"{kind} judge", unit="chunk", disable=len(chunks) < 2):
            messages = [[SystemMessage(s), HumanMessage(u)] for _, (s, u) in chunk]
            outs = self.model.batch(messages, config={"max_concurrency": self.max_concurrency})
            self.calls += len(chunk)
            fresh = {k: out.text for (k, _), out in zip(chunk, outs, strict=True)}
            replies.update(fresh)
            if self.cache:
                self.cache.put_many(fresh)
        verdicts = []
        for ks in keys:
            tally = Counter(parse_verdict(replies[k], *words) for k in ks)
            top = tally.most_common(2)
            tie = len(top) > 1 and top[0][1] == top[1][1]
            verdict = "unknown" if tie else top[0][0]
            self.counts[verdict] += 1
            verdicts.append(verdict)
        return verdicts


OUTCOME_SYSTEM = """You grade the final answer of a question-answering system against the \
reference answer. Say YES if the system's answer means the same as the reference (ignore \
formatting, units, currency signs, capitalisation and small wording differences), NO otherwise.
Reply with one word: YES or NO."""


def outcome_prompt(answer: Answer) -> str:
    """The user turn of the LLM grader for one answer (aliases listed as also accepted)."""
    reference, *others = answer.accepted
    also = f"Also accepted: {'; '.join(others)}\n" if others else ""
    return (
        f"Question: {answer.question}\nReference answer: {reference}\n{also}"
        f"System's answer: {answer.prediction}\n\nIs the system's answer correct, YES or NO?"
    )


_VERDICT = {"yes": True, "no": False}


class LLMGrader(LLMJudge):
    """The paper's outcome judge: YES/NO, the final answer against the gold answer and aliases.

    Unreadable replies and ties are unknown (None); no answer, or nothing to compare it with,
    is wrong without a call.
    """

    def grade_answers(self, answers: Sequence[Answer]) -> list[bool | None]:
        asked = [a for a in answers if a.prediction is not None and a.accepted]
        prompts = [(OUTCOME_SYSTEM, outcome_prompt(a)) for a in asked]
        verdicts = iter(self._ask("outcome", prompts, ("yes", "no")))
        return [
            _VERDICT.get(next(verdicts)) if a.prediction is not None and a.accepted else False
            for a in answers
        ]

    def __call__(
        self, question: str, prediction: str | None, gold: str | None, aliases: Sequence[str] = ()
    ) -> bool | None:
        return self.grade_answers([Answer(question, prediction, gold, tuple(aliases))])[0]


def load_grader_model(spec: str, **model_kw: Any) -> BaseChatModel:
    """A judge model for ``spec`` (``load_chat_model``): short replies (16 tokens) by default."""
    from swirl_agents.models import load_chat_model

    return load_chat_model(spec, **{"max_tokens": 16, **model_kw})


def load_grader(
    spec: str | BaseChatModel = "rule",
    *,
    votes: int = 1,
    cache: VerdictCache | None = None,
    **model_kw: Any,
) -> OutcomeGrader:
    """The outcome grader for ``--grader``/``--judge``: ``rule``, a chat model or a model spec.

    Args:
        spec: ``rule``, a chat model, or anything ``swirl_agents.models.load_chat_model`` takes.
        votes: samples per verdict (majority vote); the temperature is 0 for one vote, else 0.7.
        cache: the verdict cache (default: the shared ``cache_dir()/judge_verdicts.db``).
        model_kw: passed to ``load_chat_model`` (``base_url``, ``temperature``, ``max_tokens``).
    """
    if isinstance(spec, str) and spec == "rule":
        return RuleGrader()
    if votes < 1:
        raise UsageError(f"votes must be at least 1, got {votes}")
    if isinstance(spec, BaseChatModel):
        model = spec
    else:
        model = load_grader_model(spec, **{"temperature": 0.7 if votes > 1 else 0.0, **model_kw})
    return LLMGrader(model, cache=cache or default_verdict_cache(), votes=votes)
