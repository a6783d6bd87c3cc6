"""Pieces shared by the CLI commands: options, error handling, JSON output."""

from __future__ import annotations

import difflib
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from swirl_agents.errors import EndpointError, SwirlError, UsageError, endpoint_error

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STORE = "swirl_traces.db"

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="smollm2 (embedded default), a local model directory, an init_chat_model string "
        "(google_genai:gemini-2.5-flash), or openai:NAME with --base-url.",
    ),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="OpenAI-compatible server URL (e.g. vLLM).")
]
DatasetOpt = Annotated[
    str,
    typer.Option("--dataset", help="gsm8k, hotpotqa, or a JSONL file with question/answer."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Trace store: a SQLite file or a postgresql:// URL (default $SWIRL_STORE or "
        "./swirl_traces.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="Take the first N records in file order.")
]
OffsetOpt = Annotated[
    int, typer.Option("--offset", min=0, help="Skip the first N records (before --limit).")
]


def store_path(store: str | None) -> str:
    return store or os.environ.get("SWIRL_STORE") or DEFAULT_STORE


def eprint(*args: Any) -> None:
    """Human-readable output goes to stderr so that --json leaves stdout clean."""
    print(*args, file=sys.stderr, flush=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


_EMBEDDED = ("smollm2", "smollm2-base")


def check_model(spec: str | None, base_url: str | None = None, *, flag: str = "--model") -> None:
    """Reject a ``--model`` / ``--base-url`` pair that cannot work, before any model loads.

    It imports nothing and reads no weights, so a command checks all its arguments first.

    Args:
        spec: the ``--model`` string (``None``: the embedded default).
        base_url: the ``--base-url`` given with it.
        flag: the option's name in messages (``--grader``, ``--judge``).
    """
    if spec is None:
        spec = _EMBEDDED[0]
    spec = spec.strip()
    if not spec:
        raise UsageError(f"empty {flag}")
    if base_url is not None and not spec.startswith("openai:"):
        raise UsageError(
            f"--base-url needs {flag} openai:NAME (an OpenAI-compatible server), got {spec!r}"
        )
    if spec.lower() in _EMBEDDED or Path(spec).expanduser().is_dir() or ":" in spec:
        return
    if "/" in spec or spec.startswith((".", "~")):
        raise UsageError(f"{flag} {spec!r}: no such model directory")
    close = difflib.get_close_matches(spec.lower(), _EMBEDDED, n=1, cutoff=0.75)
    if close:
        raise UsageError(f"unknown model {spec!r} ({flag}): did you mean {close[0]}?")


def build_model(spec: str | None, base_url: str | None = None, **kwargs: Any) -> Any:
    """:func:`swirl_agents.models.load_chat_model` after :func:`check_model`; a provider's
    refusal to build (e.g. no API key) in one readable line."""
    check_model(spec, base_url)
    from swirl_agents.models import load_chat_model

    try:
        return load_chat_model(spec, base_url=base_url, **kwargs)
    except UsageError as exc:
        reason = _validation_reason(exc.__context__)
        if reason is None:
            raise
        raise UsageError(f"cannot build model {spec!r}: {reason}") from None


def _validation_reason(exc: BaseException | None) -> str | None:
    """The first message of a pydantic ValidationError (where a provider says which key is
    missing), whose own first line only counts its errors."""
    errors = getattr(exc, "errors", None)
    if exc is None or type(exc).__name__ != "ValidationError" or not callable(errors):
        return None
    try:
        first = errors()[0]
        msg = str(first.get("msg", "")).removeprefix("Value error, ").strip()
    except Exception:  # noqa: BLE001 - not the shape we know
        return None
    return msg.splitlines()[0] if msg else None


def cli_errors(fn: F) -> F:
    """Turn user-facing errors into one line on stderr and an exit code (2 usage, 1 failure)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            eprint(f"error: {exc}")
            raise typer.Exit(2) from None
        except EndpointError as exc:  # the model's server: unreachable, unknown model, credentials
            if debug():
                raise
            eprint(f"error: {exc}")
            raise typer.Exit(1) from None
        except (SwirlError, FileNotFoundError, ValueError) as exc:
            if debug():  # a ValueError may be a bug: --debug shows where it came from
                raise
            eprint(f"error: {exc}")
            raise typer.Exit(1) from None
        except OSError as exc:  # a directory where a file goes, no permission, a full disk
            if debug():
                raise
            eprint(f"error: {endpoint_error(exc) or _os_error(exc)}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            eprint("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            found = endpoint_error(exc)  # e.g. a model call in `swirl ask`, an LLM grader's call
            if found is None or debug():
                raise  # a bug: its traceback
            eprint(f"error: {found}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _os_error(exc: OSError) -> str:
    """``Is a directory: out.jsonl`` rather than ``[Errno 21] Is a directory: '.tmp' -> 'out'``."""
    where = exc.filename2 or exc.filename
    if exc.strerror and where is not None:
        return f"{exc.strerror}: {os.fsdecode(where)}"
    return str(exc) or type(exc).__name__


def debug() -> bool:
    """``swirl --debug`` (or ``$SWIRL_DEBUG``): show tracebacks instead of one-line errors."""
    return os.environ.get("SWIRL_DEBUG", "").strip() not in ("", "0")
