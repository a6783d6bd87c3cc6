"""The SWiRL agent as a LangGraph server builds it: the configuration comes from the environment.

``langgraph.json`` points the LangGraph server (``langgraph dev``, ``langgraph up``) at
``swirl_agents.server:graph``, which is ``build_graph()`` run once when the server loads the graph
(the model loads then, not per run). The server brings its own checkpointer and store, so the graph
gets none here. Variables (all optional):

- ``SWIRL_MODEL``: what ``--model`` takes: ``smollm2`` (the default: the embedded model with the
  shipped adapter), ``smollm2-base``, a local checkpoint directory, ``openai:NAME`` (with
  ``SWIRL_BASE_URL``) or an ``init_chat_model`` string such as ``google_genai:gemini-2.5-flash``;
- ``SWIRL_BASE_URL``: the OpenAI-compatible server for ``openai:NAME`` (vLLM, ...);
- ``SWIRL_CHAT_MODEL``: ``package.module:attribute``, a LangChain chat model object of your own (or
  a zero-argument callable that returns one); it replaces ``SWIRL_MODEL``;
- ``SWIRL_TOOLS``: comma-separated tool names (default ``calculator``; ``corpus``, ``wikipedia``);
- ``SWIRL_CORPUS``: the JSONL corpus of the ``corpus`` tool;
- ``SWIRL_MAX_STEPS``: the step budget (default 5); ``SWIRL_MAX_TOKENS``: the cap on new tokens
  per model call (default 128); ``SWIRL_PROTOCOL``: ``tags`` (default) or ``tools``;
- ``SWIRL_STORE``: a trace store; when set, every finished run is logged to it with source
  ``production`` (the trajectories ``swirl filter`` and ``swirl train`` read).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from swirl_agents.errors import UsageError

DEFAULT_MODEL = "smollm2"
DEFAULT_TOOLS = "calculator"
PROTOCOLS = ("tags", "tools")


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be a positive integer, got {text!r}")
    return value


def _import_object(spec: str) -> Any:
    """``package.module:attribute`` to the object (called if it is a plain function or class)."""
    module_name, sep, attr = spec.strip().partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"SWIRL_CHAT_MODEL must be package.module:attribute, got {spec!r}")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"SWIRL_CHAT_MODEL: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UsageError(f"SWIRL_CHAT_MODEL: {module_name!r} has no {attr!r}") from None
    return value


def chat_model_from_env(environ: Mapping[str, str] | None = None) -> Any:
    """The chat model that ``SWIRL_CHAT_MODEL`` or ``SWIRL_MODEL`` (+ ``SWIRL_BASE_URL``) names."""
    from langchain_core.language_models import BaseChatModel

    environ = os.environ if environ is None else environ
    max_tokens = _positive_int(environ, "SWIRL_MAX_TOKENS", 128)
    custom = (environ.get("SWIRL_CHAT_MODEL") or "").strip()
    if custom:
        model = _import_object(custom)
        if not isinstance(model, BaseChatModel) and callable(model):
            model = model()
        if not isinstance(model, BaseChatModel):
            raise UsageError(
                f"SWIRL_CHAT_MODEL {custom!r} is a {type(model).__name__}, not a LangChain chat model"
            )
        return model
    from swirl_agents.models import load_chat_model

    spec = (environ.get("SWIRL_MODEL") or "").strip() or DEFAULT_MODEL
    base_url = (environ.get("SWIRL_BASE_URL") or "").strip() or None
    return load_chat_model(spec, base_url=base_url, max_tokens=max_tokens)


def _start_engine(model: Any) -> None:
    """Start a local model's batching engine now, on the thread that loads the graph.

    The engine registers its job with the machine's thread policy (files in the cache directory)
    when it starts, on the first call otherwise; that call runs on the server's event loop, where
    ``langgraph dev`` raises ``BlockingError`` on file I/O (measured: ``os.mkdir``).
    """
    from swirl_agents.models.local import LocalChatModel

    if isinstance(model, LocalChatModel):
        _ = model.engine


def build_graph(environ: Mapping[str, str] | None = None) -> Any:
    """The compiled SWiRL agent configured by ``environ`` (default ``os.environ``); see the module
    docstring for the variables. No checkpointer: the LangGraph server supplies its own."""
    from swirl_agents.agent import create_swirl_agent
    from swirl_agents.tools import load_tools

    environ = os.environ if environ is None else environ
    protocol = (environ.get("SWIRL_PROTOCOL") or "").strip().lower() or "tags"
    if protocol not in PROTOCOLS:
        raise UsageError(f"SWIRL_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    max_steps = _positive_int(environ, "SWIRL_MAX_STEPS", 5)
    tools = load_tools(
        environ.get("SWIRL_TOOLS", DEFAULT_TOOLS),
        corpus_path=(environ.get("SWIRL_CORPUS") or "").strip() or None,
    )
    store = None
    store_spec = (environ.get("SWIRL_STORE") or "").strip()
    if store_spec:
        from swirl_agents.traces.store import open_store

        store = open_store(store_spec)
    model = chat_model_from_env(environ)
    _start_engine(model)
    return create_swirl_agent(
        model,
        tools,
        max_steps=max_steps,
        protocol=protocol,  # type: ignore[arg-type]
        trace_store=store,
        trace_source="production",
    )


__all__ = ["build_graph", "chat_model_from_env"]
