"""The sandboxed calculator: GSM8K forms evaluate, every rejection rule says why, nothing raises."""

from __future__ import annotations

import threading
import time

import pytest

from swirl_agents.tools.calculator import (
    MAX_LENGTH,
    MAX_NODES,
    calculate,
    calculator,
    format_number,
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("48/2", "24"),
        ("18*.5", "9"),
        ("+30+46+38", "114"),
        ("12/60", "0.2"),
        ("(1/2)*30", "15"),
        ("63000-9400-9100-8300-9200-8900", "18100"),
        ("2*100+1*50+5*20+3*10+7*5+27*1", "442"),
        ("7//2", "3"),
        ("-7//2", "-4"),
        ("7%3", "1"),
        ("2**10", "1024"),
        ("8**(1/3)", "2"),
        ("-(3+4)", "-7"),
        ("  1 + 1  ", "2"),
        ("1/3", "0.333333"),
        ("2/3", "0.666667"),
        ("0.1+0.2", "0.3"),
        ("-0.0", "0"),
        ("1.5e3", "1500"),
        # unambiguous forms models and GSM8K write
        ("5,000*2", "10000"),
        ("12,345.5+0.5", "12346"),
        ("1,000,000/4", "250000"),
        ("$5 * 3", "15"),
        ("2 x 3", "6"),
        ("2 X 3 x 4", "24"),
        ("(2) x (3)", "6"),
        ("6 × 7", "42"),
        ("84 ÷ 2", "42"),
        ("48/2=", "24"),
        ("48/2 =", "24"),
    ],
)
def test_accepts_arithmetic(expr: str, expected: str) -> None:
    assert calculate(expr) == expected


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        # syntax outside arithmetic
        ("x", "names are not allowed"),
        ("pi*2", "names are not allowed"),
        ("2x3", "not a valid arithmetic expression"),  # glued x is ambiguous (0x10 is hex)
        ("a.b", "attributes are not allowed"),
        ("(1).real", "attributes are not allowed"),
        ("abs(-1)", "function calls are not allowed"),
        ("__import__('os').system('ls')", "function calls are not allowed"),
        ("'1'+'2'", "strings are not allowed"),
        ("b'1'", "strings are not allowed"),
        ("f'{1}'", "strings are not allowed"),
        ("[1][0]", "subscripts are not allowed"),
        ("[1, 2]", "lists are not allowed"),
        ("{1: 2}", "dicts are not allowed"),
        ("{1}", "sets are not allowed"),
        ("1 < 2", "comparisons are not allowed"),
        ("1 and 2", "boolean operators are not allowed"),
        ("not 1", "operator is not allowed"),
        ("~1", "operator is not allowed"),
        ("1 | 2", "operator is not allowed"),
        ("1 << 2", "operator is not allowed"),
        ("1 if 1 else 2", "conditionals are not allowed"),
        ("lambda: 1", "lambdas are not allowed"),
        ("True + 1", "is not a number"),
        ("None", "is not a number"),
        ("...", "is not a number"),
        ("2j", "is not a number"),
        ("2^3", "write powers with **"),
        ("1, 2", "thousands separators"),
        ("5,00", "thousands separators"),
        ("1,000,5", "thousands separators"),
        ("3 * (2 +", "not a valid arithmetic expression"),
        ("48/2=24", "not a valid arithmetic expression"),
        ("", "empty"),
        ("   =", "empty"),
        # static bounds
        ("1" * 16, "numbers are limited"),
        ("1e999", "numbers are limited"),
        ("1+" * MAX_LENGTH + "1", f"longer than {MAX_LENGTH}"),
        ("-" * (MAX_NODES // 2) + "1", f"more than {MAX_NODES} parts"),
        ("9**9**9", "nested powers"),
        ("2**(3**2)", "nested powers"),
        ("2**1000", "exponents are limited"),
        ("2**-1000", "exponents are limited"),
        # evaluation faults
        ("1/0", "division by zero"),
        ("7//0", "division by zero"),
        ("7%0", "division by zero"),
        ("0**-1", "division by zero"),
        ("1e15**50", "too large"),
        ("(-8)**(1/3)", "not a real number"),
    ],
)
def test_rejects_with_reason(expr: str, why: str) -> None:
    result = calculate(expr)
    assert result.startswith("Error: ")
    assert why in result


@pytest.mark.parametrize("bad", [None, 42, b"1+1", ["1+1"]])
def test_non_text_is_an_error_not_an_exception(bad: object) -> None:
    assert calculate(bad) == "Error: the expression must be text"  # type: ignore[arg-type]


def test_big_ints_never_computed_exactly() -> None:
    """Powers are floats: a huge integer power overflows to an error instead of hanging."""
    assert calculate("(10**15)**25") == "Error: the result is too large"
    assert calculate("99**99") == "3.6973e+197"


@pytest.mark.parametrize(
    "expr",
    [
        "+".join(["1"] * 100),  # longest chain within the length bound
        "(" * 99 + "1" + ")" * 99,
        "*".join(["99"] * 66),
        "9**99*9**99",
    ],
)
def test_worst_allowed_inputs_are_fast(expr: str) -> None:
    started = time.perf_counter()
    calculate(expr)
    assert time.perf_counter() - started < 1.0


def test_works_off_the_main_thread() -> None:
    results: list[str] = []
    workers = [threading.Thread(target=lambda: results.append(calculate("6*7"))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=5)
    assert results == ["42"] * 4


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (24.0, "24"),
        (0.5, "0.5"),
        (1 / 3, "0.333333"),
        (-2.5, "-2.5"),
        (3.0000000000000004, "3"),
        (1e-9, "1e-09"),
        (2e20, "2e+20"),
        (0.0, "0"),
        (-1e-12, "-1e-12"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_langchain_tool() -> None:
    assert calculator.name == "calculator"
    assert calculator.metadata == {"swirl_tag": "math_exp"}
    assert calculator.invoke("18*.5") == "9"
    assert calculator.invoke({"expr": "1/0"}) == "Error: division by zero"
