"""Model backends: one ``--model`` string to a LangChain chat model.

- ``None`` or ``"smollm2"``: the embedded SmolLM2-135M-Instruct (fetched and converted on first use)
  with the adapter the package ships (``swirl_agents/models/adapters``, a LoRA SFT warm start) merged in;
- ``"smollm2-base"``: the untrained embedded model;
- an existing directory: a local Hugging Face checkpoint, e.g. a ``swirl train`` output;
- ``"openai:NAME"`` with ``base_url``: an OpenAI-compatible server such as vLLM;
- anything else: an ``init_chat_model`` string such as ``"google_genai:gemini-2.5-flash"``.

Local models call tools through ``LocalChatModel.bind_tools``; :mod:`swirl_agents.models.toolcalls`
defines the text format (``<tool_call>`` JSON blocks) that serving parses and training renders.

Only the local backends import torch, and only when they load a model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from swirl_agents.errors import UsageError
from swirl_agents.models.local import LocalChatModel
from swirl_agents.models.toolcalls import format_assistant_turn, parse_tool_calls, render_prompt

EMBEDDED = "smollm2"
EMBEDDED_BASE = "smollm2-base"  # the embedded model without the shipped adapter

__all__ = [
    "EMBEDDED",
    "EMBEDDED_BASE",
    "LocalChatModel",
    "format_assistant_turn",
    "load_chat_model",
    "local_model_path",
    "parse_tool_calls",
    "render_prompt",
]


def _is_embedded(spec: str | None) -> bool:
    return spec is None or spec.strip().lower() in (EMBEDDED, EMBEDDED_BASE)


def _embedded_path(spec: str | None) -> tuple[Path, str]:
    """The checkpoint and model name of ``smollm2`` (shipped adapter merged) or ``smollm2-base``."""
    from swirl_agents.models.embedded import MODEL_NAME, embedded_model_path

    if spec is None or spec.strip().lower() == EMBEDDED:
        from swirl_agents.models.adapter import shipped_model_path

        merged = shipped_model_path()
        if merged is not None:
            return merged, f"{MODEL_NAME}+swirl"
    return embedded_model_path(), MODEL_NAME


def local_model_path(spec: str | Path | None = None) -> Path:
    """The plain Hugging Face checkpoint directory behind ``spec`` (the trainer loads bases from it).

    Args:
        spec: ``None``/``"smollm2"`` for the embedded model with the shipped adapter,
            ``"smollm2-base"`` for the untrained one (converted on first use), or a directory.
    """
    if spec is None or (isinstance(spec, str) and _is_embedded(spec)):
        return _embedded_path(spec)[0]
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise UsageError(
            f"no local model directory {str(spec)!r} (use smollm2 or a checkpoint dir)"
        )
    return path


def load_chat_model(
    spec: str | None = None,
    *,
    base_url: str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 128,
    **kwargs: Any,
) -> BaseChatModel:
    """Build the chat model that ``--model spec`` names.

    Args:
        spec: ``smollm2`` (default), a local directory, ``openai:NAME`` or an init_chat_model string.
        base_url: an OpenAI-compatible server URL; only with ``openai:NAME``.
        temperature: sampling temperature (0 decodes greedily).
        max_tokens: the cap on new tokens per call.
        kwargs: passed on to the model's constructor.
    """
    spec = spec.strip() if isinstance(spec, str) else spec
    if spec == "":
        raise UsageError("empty --model")
    if base_url is not None and (_is_embedded(spec) or Path(spec).expanduser().is_dir()):
        raise UsageError(f"--base-url needs an openai:NAME model, not the local model {spec!r}")
    if _is_embedded(spec):
        path, name = _embedded_path(spec)
        kwargs.setdefault("model_name", name)
        return LocalChatModel.from_pretrained(
            path, temperature=temperature, max_tokens=max_tokens, **kwargs
        )
    if Path(spec).expanduser().is_dir():
        return LocalChatModel.from_pretrained(
            local_model_path(spec), temperature=temperature, max_tokens=max_tokens, **kwargs
        )
    if base_url is not None and not spec.startswith("openai:"):
        raise UsageError(f"--base-url needs an openai:NAME model, got {spec!r}")
    if spec.startswith("openai:") and base_url is not None:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=spec.removeprefix("openai:"),
            base_url=base_url,
            api_key=os.environ.get("OPENAI_API_KEY") or "EMPTY",  # vLLM accepts any key
            temperature=temperature,
            max_tokens=max_tokens,
            **kwargs,
        )
    if ":" not in spec and ("/" in spec or spec.startswith((".", "~"))):
        raise UsageError(f"no model directory {spec!r}")
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(spec, temperature=temperature, max_tokens=max_tokens, **kwargs)
    except ImportError as exc:
        raise UsageError(f"model {spec!r} needs a package that is not installed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - unknown provider, missing API key, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot build model {spec!r}: {reason} (use smollm2, a model directory, "
            "provider:NAME such as google_genai:gemini-2.5-flash, or openai:NAME with --base-url)"
        ) from None
