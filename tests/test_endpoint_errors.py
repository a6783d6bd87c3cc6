"""A model endpoint that can serve no run ends the command: one line naming it, exit 1.

Connection refused, an unknown model (404) and refused credentials (401/403) are outside the
model: reported, not scored as a model that answers nothing. No network: a local port that
nothing listens on.
"""

from __future__ import annotations

import importlib
import json
import socket

import openai
import pytest
from langchain_core.language_models import BaseChatModel
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.errors import EndpointError, endpoint_error
from swirl_agents.traces.store import open_store


@pytest.fixture
def dead_url(monkeypatch) -> str:
    """An OpenAI-compatible URL on a local port that nothing listens on."""
    monkeypatch.delenv("SWIRL_DEBUG", raising=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def math_data(tmp_path):
    path = tmp_path / "toy_math.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "What is 2+3?", "answer": "5"}) + "\n")
    return str(path)


def _one_line_naming(result, url: str) -> None:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "cannot reach" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no JSON figures for a run that never reached a model


def test_ask_with_an_unreachable_endpoint_says_so_in_one_line(dead_url):
    args = ["ask", "What is 2+3?", "--model", "openai:foo", "--base-url", dead_url, "--json"]
    result = CliRunner().invoke(app, args)
    _one_line_naming(result, dead_url)
    assert "(model foo)" in result.stderr


def test_eval_with_an_unreachable_endpoint_exits_1_instead_of_scoring_zero(dead_url, math_data):
    args = ["eval", "--dataset", math_data, "--model", "openai:foo", "--base-url", dead_url]
    result = CliRunner().invoke(app, [*args, "--json", "--no-store"])
    _one_line_naming(result, dead_url)


def test_generate_with_an_unreachable_endpoint_exits_1_and_stores_no_failed_runs(
    dead_url, math_data, tmp_path
):
    db = tmp_path / "traces.db"
    args = ["generate", "--dataset", math_data, "--samples", "1", "--retries", "0"]
    args += ["--model", "openai:foo", "--base-url", dead_url, "--store", str(db), "--json"]
    result = CliRunner().invoke(app, args)
    _one_line_naming(result, dead_url)
    store = open_store(str(db))
    try:
        assert list(store.iter()) == []  # a rerun against the right URL runs it, not skips it
    finally:
        store.close()


class _Unauthorized(RuntimeError):  # a RuntimeError: the agent does not retry it (no backoff)
    status_code = 401


class _Refused(BaseChatModel):
    """A chat model whose server refuses the credentials."""

    @property
    def _llm_type(self) -> str:
        return "refused"

    def _generate(self, *args, **kwargs):
        raise _Unauthorized("Incorrect API key provided")


def test_debug_shows_the_traceback(monkeypatch):
    import swirl_agents.models

    monkeypatch.setattr(swirl_agents.models, "load_chat_model", lambda *a, **k: _Refused())
    result = CliRunner().invoke(app, ["ask", "What is 2+3?"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "refused the credentials (HTTP 401): Incorrect API key" in result.stderr

    monkeypatch.setenv("SWIRL_DEBUG", "")  # restored after: --debug sets it for the process
    result = CliRunner().invoke(app, ["--debug", "ask", "What is 2+3?"])
    assert result.exit_code == 1
    assert isinstance(result.exception, EndpointError)
    assert isinstance(result.exception.__cause__, _Unauthorized)


def _status_error(cls, status: int):
    http = getattr(importlib.import_module("openai._base_client"), "httpx2", None)
    http = http or importlib.import_module("httpx")
    request = http.Request("POST", "http://models.example/v1/chat/completions")
    response = http.Response(status, request=request)
    return cls(f"Error code: {status}", response=response, body=None)


@pytest.mark.parametrize(
    ("cls", "status", "says"),
    [
        (openai.AuthenticationError, 401, "refused the credentials"),
        (openai.PermissionDeniedError, 403, "refused the credentials"),
        (openai.NotFoundError, 404, "no such model"),
    ],
)
def test_auth_and_unknown_model_errors_are_endpoint_errors(cls, status, says):
    found = endpoint_error(_status_error(cls, status))
    assert found is not None and says in str(found)
    assert "http://models.example/v1/chat/completions" in str(found)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (openai.InternalServerError, 500),
        (openai.RateLimitError, 429),
        (openai.BadRequestError, 400),
    ],
)
def test_errors_of_one_run_are_not_endpoint_errors(cls, status):
    assert endpoint_error(_status_error(cls, status)) is None
    assert endpoint_error(ValueError("a bug")) is None
    assert endpoint_error(TimeoutError("slow")) is None


def test_google_client_errors_carry_the_status_as_code():
    Unauthenticated = type("Unauthenticated", (Exception,), {"code": 401})
    Unauthenticated.__module__ = "google.api_core.exceptions"
    found = endpoint_error(Unauthenticated("API key not valid"), model=None)
    assert found is not None and "API key not valid" in str(found)
    Other = type("Other", (Exception,), {"code": 401})  # `code` means nothing elsewhere
    assert endpoint_error(Other("x")) is None


def test_a_wrapped_connection_refusal_is_found_through_the_causes():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise RuntimeError("the client gave up") from exc
    except RuntimeError as wrapped:
        found = endpoint_error(wrapped)
    assert found is not None and "Connection refused" in str(found)
