"""A sandboxed calculator: arithmetic only, bounded before it runs, evaluated with numexpr.

``calculate(expr)`` never raises: it returns a number (``"24"``, ``"0.5"``) or ``"Error: <why>"``.
The expression is parsed with :mod:`ast` and checked against a whitelist (numbers, ``+ - * / // %
**``, unary signs, parentheses) and static bounds (length, node count, literal size, exponent
size, no power towers) *before* anything is evaluated, so ``9**9**9`` is rejected, never computed.
Tools may run off the main thread, where a signal cannot time them out; the bounds are what keep
every call well under a second. All numbers are evaluated as floats, so integer overflow cannot
wrap around silently.

Accepted on top of Python syntax, because models and GSM8K write them and they are unambiguous:
thousands separators (``5,000``), a ``$`` before a number, ``×``/``÷``, a spaced ``x`` between
operands (``2 x 3``; a glued ``2x3`` is rejected as ambiguous), and a trailing ``=``.
``^`` is rejected with a hint (in Python it is XOR, to a model it means a power).
"""

from __future__ import annotations

import ast
import math
import re

from langchain_core.tools import StructuredTool

MAX_LENGTH = 200  # characters; GSM8K's longest annotated expression has 30
MAX_NODES = 300  # AST nodes (operators count); GSM8K's largest has 35
MAX_LITERAL = 1e15  # absolute value of any number written in the expression
MAX_EXPONENT = 100  # absolute value of a literal exponent
DECIMALS = 6  # results are rounded to this many decimal places

_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])")
_SPACED_X = re.compile(r"(?<=[\d.)])\s+[xX]\s+(?=[\d.(+-])")
_DOLLAR = re.compile(r"\$(?=\s*[\d.])")

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_UNARYOPS: dict[type[ast.unaryop], str] = {ast.UAdd: "+", ast.USub: "-"}
_REJECTED = {
    ast.Name: "names are not allowed",
    ast.Attribute: "attributes are not allowed",
    ast.Call: "function calls are not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators are not allowed",
    ast.Tuple: "commas are only allowed as thousands separators (5,000)",
    ast.List: "lists are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.IfExp: "conditionals are not allowed",
    ast.JoinedStr: "strings are not allowed",
}
_ALLOWED = "only numbers, + - * / // % ** and parentheses are allowed"


class _Rejected(ValueError):
    """An expression outside the sandbox; the message says why."""


def calculate(expr: str) -> str:
    """Evaluate an arithmetic expression; return the number as text or ``"Error: <why>"``."""
    try:
        tree = _check(_normalize(expr))
        value = _evaluate(tree)
    except _Rejected as exc:
        return f"Error: {exc}"
    except ZeroDivisionError:
        return "Error: division by zero"
    except OverflowError:
        return "Error: the result is too large"
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
        return f"Error: could not evaluate ({type(exc).__name__})"
    if math.isnan(value):
        return "Error: the result is not a number"
    if math.isinf(value):
        return "Error: the result is too large"
    return format_number(value)


def format_number(value: float) -> str:
    """Print a result cleanly: ``24`` not ``24.0``; ``0.333333`` (6 decimals); tiny/huge as ``1e-09``."""
    if value != 0 and (abs(value) >= MAX_LITERAL or abs(value) < 10**-DECIMALS):
        return f"{value:.6g}"
    text = f"{round(value, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _normalize(expr: object) -> str:
    if not isinstance(expr, str):
        raise _Rejected("the expression must be text")
    text = expr.strip()
    if len(text) > MAX_LENGTH:
        raise _Rejected(f"the expression is longer than {MAX_LENGTH} characters")
    text = text.removesuffix("=").strip()
    if not text:
        raise _Rejected("the expression is empty")
    if "^" in text:
        raise _Rejected("^ is not allowed; write powers with **")
    text = text.replace("×", "*").replace("÷", "/")
    text = _SPACED_X.sub(" * ", text)
    text = _DOLLAR.sub("", text)
    return _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)


def _check(text: str) -> ast.Expression:
    """Parse and check the whole tree before anything runs."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise _Rejected(f"not a valid arithmetic expression; {_ALLOWED}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise _Rejected(f"the expression has more than {MAX_NODES} parts")
    for node in nodes:
        if isinstance(node, ast.Constant):
            _check_literal(node.value)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise _Rejected(f"this operator is not allowed; {_ALLOWED}")
            if isinstance(node.op, ast.Pow):
                _check_exponent(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARYOPS:
                raise _Rejected(f"this operator is not allowed; {_ALLOWED}")
        elif not isinstance(node, (ast.Expression, ast.operator, ast.unaryop)):
            raise _Rejected(_REJECTED.get(type(node), _ALLOWED))
    return tree


def _check_literal(value: object) -> None:
    if isinstance(value, str | bytes):
        raise _Rejected("strings are not allowed")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Rejected(f"{value!r} is not a number; {_ALLOWED}")
    if not abs(value) <= MAX_LITERAL:  # also catches inf/nan literals like 1e999
        raise _Rejected(f"numbers are limited to {MAX_LITERAL:.0e} in absolute value")


def _check_exponent(node: ast.expr) -> None:
    if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node)):
        raise _Rejected("nested powers (a**b**c) are not allowed")
    literal = node.operand if isinstance(node, ast.UnaryOp) else node
    value = literal.value if isinstance(literal, ast.Constant) else None
    if isinstance(value, int | float) and abs(value) > MAX_EXPONENT:
        raise _Rejected(f"exponents are limited to {MAX_EXPONENT} in absolute value")


def _source(node: ast.expr) -> str:
    """Rebuild the checked tree as numexpr source, every number a float (no integer overflow)."""
    if isinstance(node, ast.Constant):
        return repr(float(node.value))
    if isinstance(node, ast.UnaryOp):
        return f"({_UNARYOPS[type(node.op)]}{_source(node.operand)})"
    assert isinstance(node, ast.BinOp)
    return f"({_source(node.left)} {_BINOPS[type(node.op)]} {_source(node.right)})"


def _evaluate(tree: ast.Expression) -> float:
    import numexpr  # imported on first use: it starts a thread pool

    value = numexpr.evaluate(_source(tree.body), local_dict={}, global_dict={})
    if isinstance(value.item(), complex):  # a negative number to a fractional power
        raise _Rejected("the result is not a real number")
    return float(value)


calculator = StructuredTool.from_function(
    calculate,
    name="calculator",
    description="Evaluate an arithmetic expression (numbers, + - * / // % ** and parentheses).",
    metadata={"swirl_tag": "math_exp"},
)
