"""Pieces shared by the CLI commands: options, error handling, JSON output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
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
            eprint(f"error: {exc}")
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


def debug() -> bool:
    """``swirl --debug`` (or ``$SWIRL_DEBUG``): show tracebacks instead of one-line errors."""
    return os.environ.get("SWIRL_DEBUG", "").strip() not in ("", "0")
