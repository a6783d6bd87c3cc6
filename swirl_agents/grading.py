"""Rule-based answer graders: numeric equivalence for math, normalised EM and F1 for QA.

A question may accept several answers: its gold answer and ``aliases`` (MuSiQue ships them as
``answer_aliases``); an answer is right when it matches any of them, and its F1 is the best over
them. :mod:`swirl_agents.graders` builds the one outcome grader (rule or LLM) on these.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def gsm8k_gold(solution: str) -> str:
    """The final answer of a GSM8K worked solution (the text after ``####``)."""
    return solution.rsplit("####", 1)[-1].strip().replace(",", "")


def parse_number(text: str | None) -> Decimal | None:
    """The last number in ``text`` ("$1,200.50" -> 1200.50, "10 apples" -> 10), or None."""
    if not text:
        return None
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", ""))
    except InvalidOperation:
        return None


def numeric_equal(prediction: str | None, gold: str | None, tol: float = 1e-6) -> bool:
    """10 == 10.00 == $10 == "10 dollars"; compares the last number of each side."""
    a, b = parse_number(prediction), parse_number(gold)
    if a is None or b is None:
        return False
    return abs(a - b) <= Decimal(str(tol)) * max(Decimal(1), abs(b))


def normalize_answer(text: str | None) -> str:
    """SQuAD/HotPotQA normalisation: lower case, no punctuation, no articles, single spaces."""
    text = (text or "").lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def written_in(answer: str | None, text: str | None) -> bool:
    """Whether ``answer`` is written in ``text`` as whole words, both normalised (an empty answer
    never is)."""
    norm = normalize_answer(answer)
    return bool(norm) and f" {norm} " in f" {normalize_answer(text)} "


def exact_match(prediction: str | None, gold: str | None) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1(prediction: str | None, gold: str | None) -> float:
    """Token F1 after normalisation (yes/no/noanswer must match exactly, as in HotPotQA)."""
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if pred in ("yes", "no", "noanswer") or ref in ("yes", "no", "noanswer"):
        return float(pred == ref)
    p, r = pred.split(), ref.split()
    common = sum((Counter(p) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


ALIAS_FIELDS = ("aliases", "answer_aliases")  # where a record lists its other accepted answers


def aliases_of(record: Mapping[str, Any] | None) -> list[str]:
    """The accepted alternative answers a record (a question's metadata, a JSONL row) lists
    under ``aliases`` or ``answer_aliases``: a list of strings (numbers are read as text), or
    one string; anything else is no alias."""
    found: list[str] = []
    for name in ALIAS_FIELDS:
        value = (record or {}).get(name)
        values = [value] if isinstance(value, (str, int, float)) else value
        if isinstance(values, (list, tuple)):
            found += [str(v) for v in values if isinstance(v, (str, int, float)) and str(v).strip()]
    return list(dict.fromkeys(found))


def accepted_answers(gold: str | None, aliases: Iterable[str] = ()) -> list[str]:
    """The gold answer, then every alias, without repeats (empty: nothing to grade against)."""
    answers = ([gold] if gold is not None else []) + [a for a in aliases if a is not None]
    return list(dict.fromkeys(answers))


def best_f1(prediction: str | None, gold: str | None, aliases: Iterable[str] = ()) -> float:
    """Token F1 against the best of the accepted answers (0 with no prediction or no gold)."""
    if prediction is None:
        return 0.0
    return max((f1(prediction, a) for a in accepted_answers(gold, aliases)), default=0.0)


def grade(prediction: str | None, gold: str | None, task: str, aliases: Iterable[str] = ()) -> bool:
    """Rule-based correctness: numeric equality for ``math``, normalised exact match otherwise,
    against the gold answer or any of ``aliases``."""
    if prediction is None:
        return False
    same = numeric_equal if task == "math" else exact_match
    return any(same(prediction, a) for a in accepted_answers(gold, aliases))
