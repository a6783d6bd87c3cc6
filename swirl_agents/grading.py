"""Rule-based answer graders: numeric equivalence for math, normalised EM and F1 for QA."""

from __future__ import annotations

import re
import string
from collections import Counter
from decimal import Decimal, InvalidOperation

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


def grade(prediction: str | None, gold: str | None, task: str) -> bool:
    """Rule-based correctness: numeric equality for ``math``, normalised exact match otherwise."""
    if prediction is None or gold is None:
        return False
    return numeric_equal(prediction, gold) if task == "math" else exact_match(prediction, gold)
