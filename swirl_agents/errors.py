"""Errors with messages meant for users (the CLI prints them as one line)."""


class SwirlError(Exception):
    """A failure the user can act on; the CLI prints it and exits 1."""


class UsageError(SwirlError):
    """Bad input from the user (a flag, a file); the CLI prints it and exits 2."""


class EndpointError(SwirlError):
    """A model endpoint that can serve no run: unreachable, an unknown model, refused credentials.

    Every run would fail the same way, so a job stops at the first one (exit 1, one line)."""


_AUTH, _NOT_FOUND = {401, 403}, {404}


def endpoint_error(exc: BaseException, model: object = None) -> EndpointError | None:
    """The :class:`EndpointError` behind ``exc`` (a connection refused or a host not found, HTTP
    401/403/404 from the server), or None for a failure of one run (5xx, rate limits, timeouts,
    bad requests, bugs), which fails that run only.

    Args:
        exc: what a model call raised (its causes are looked at too).
        model: the chat model called, to name its endpoint (else the request's URL names it).
    """
    if isinstance(exc, EndpointError):
        return exc
    chain = _chain(exc)
    where = _endpoint(model, chain)
    for err in chain:
        if isinstance(err, ConnectionRefusedError) or type(err).__name__ == "ConnectError":
            reason = _first_line(chain[-1]) or "connection refused"
            return EndpointError(f"cannot reach the model endpoint {where}: {reason}")
        if type(err).__name__ == "gaierror":
            return EndpointError(f"cannot reach the model endpoint {where}: unknown host")
    for err in chain:
        status = _status(err)
        if status in _AUTH:
            return EndpointError(
                f"the model endpoint {where} refused the credentials (HTTP {status}): "
                f"{_first_line(err)} (check the API key)"
            )
        if status in _NOT_FOUND:
            return EndpointError(
                f"the model endpoint {where} has no such model or path (HTTP {status}): "
                f"{_first_line(err)} (check --model and --base-url)"
            )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    err: BaseException | None = exc
    while err is not None and len(seen) < 16 and not any(err is s for s in seen):
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def _status(err: BaseException) -> int | None:
    for status in (
        getattr(err, "status_code", None),
        getattr(getattr(err, "response", None), "status_code", None),
        # Google's client errors carry the HTTP status as `code`
        getattr(err, "code", None) if type(err).__module__.startswith("google") else None,
    ):
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


def _endpoint(model: object, chain: list[BaseException]) -> str:
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    url = getattr(model, "openai_api_base", None) or getattr(model, "base_url", None)
    if not url:
        for err in chain:
            try:  # httpx raises RuntimeError for a response built without its request
                request = getattr(err, "request", None) or err.response.request  # type: ignore[attr-defined]
                url = str(request.url)
                break
            except Exception:  # noqa: BLE001 - no request behind this error
                continue
    parts = [str(url) if url else None, f"(model {name})" if isinstance(name, str) else None]
    return " ".join(p for p in parts if p) or "of the model"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
