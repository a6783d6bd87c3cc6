"""How native tool calls look as text for local models: the one format serving and training share.

A local causal LM sees a conversation as the text of its tokenizer's chat template and writes
its tool calls as text. This module defines both directions:

- **rendering** (:func:`chat_messages`, :func:`render_prompt`): LangChain messages and tool
  schemas to the template's input. Where the template has a tool format that writes calls the way
  :func:`parse_tool_calls` reads them (Qwen2.5/Qwen3, Hermes and their fine-tunes), tools,
  assistant ``tool_calls`` and ``tool`` turns go through the template itself
  (``apply_chat_template(messages, tools=...)``). Everywhere else, e.g. SmolLM2-135M-Instruct's
  template, which knows no tools, the same (Hermes/Qwen) convention is written into the messages:

  * the system turn ends with the tool schemas, one OpenAI-format JSON object a line, inside
    ``<tools>...</tools>``, and a short instruction (:data:`TOOLS_INSTRUCTION`);
  * an assistant turn is its text, a newline, then one block per call, blocks separated by a
    newline (:func:`format_assistant_turn`)::

        <tool_call>
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
        </tool_call>

  * the results of consecutive tool messages form one user turn of
    ``<tool_response>\\nRESULT\\n</tool_response>`` blocks, in call order.

  Templates whose own tool format differs (Llama 3.1's bare JSON, Mistral's ``[TOOL_CALLS]``)
  get the fallback as well, so one format is read and trained everywhere.
- **parsing** (:func:`parse_tool_calls`): a model's reply to ``(content, tool_calls,
  invalid_tool_calls)`` in LangChain's shapes. Malformed JSON, an unclosed block or an unknown
  tool name become ``invalid_tool_calls`` with the reason; parsing never raises. The content is
  the text before the first block; whatever follows the blocks is not part of the turn.

``parse_tool_calls(format_assistant_turn(content, calls))`` gives back ``content`` and ``calls``
(with fresh ids): the text a trainer teaches is the text the server reads back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.tool import InvalidToolCall, ToolCall, invalid_tool_call, tool_call

__all__ = [
    "TOOLS_INSTRUCTION",
    "chat_messages",
    "format_assistant_turn",
    "format_tool_call",
    "parse_tool_calls",
    "render_prompt",
    "template_renders_tools",
    "tool_names",
]

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"(.*?)" + re.escape(CLOSE), re.DOTALL)
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}

TOOLS_INSTRUCTION = (
    "# Tools\n\n"
    "You may call one or more of these functions to help with the user's request. "
    "Their signatures are inside <tools></tools>:\n"
    "<tools>\n{tools}\n</tools>\n\n"
    "To call a function, write a JSON object with its name and arguments inside "
    "<tool_call></tool_call> tags:\n"
    '<tool_call>\n{{"name": <function-name>, "arguments": <args-json-object>}}\n</tool_call>\n'
    "Each result comes back inside <tool_response></tool_response> tags. "
    "When you need no more calls, answer in plain text."
)
"""Appended to the system turn when the chat template has no tool format ({tools}: the schemas)."""


# --- writing calls -------------------------------------------------------------------------------
def format_tool_call(name: str, args: dict[str, Any]) -> str:
    """One call as the model writes it: a ``<tool_call>`` block around ``{"name", "arguments"}``."""
    payload = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    return f"{OPEN}\n{payload}\n{CLOSE}"


def format_assistant_turn(content: str, tool_calls: Iterable[dict[str, Any]] = ()) -> str:
    """An assistant turn's exact text: its content, then one block per call (``name``, ``args``).

    This is the training target of a tool-calling step and what :func:`parse_tool_calls` reads.
    """
    blocks = [format_tool_call(c["name"], dict(c.get("args") or {})) for c in tool_calls]
    return "\n".join([content, *blocks] if content else blocks)


# --- reading calls -------------------------------------------------------------------------------
def parse_tool_calls(
    text: str, tool_names: Iterable[str] | None = None
) -> tuple[str, list[ToolCall], list[InvalidToolCall]]:
    """Split a model's reply into its text and its tool calls.

    Args:
        text: the generated reply.
        tool_names: the tools on offer; a call to any other name is invalid. ``None``: any name.

    Returns:
        ``(content, tool_calls, invalid_tool_calls)``: the text before the first block
        (stripped; the reply unchanged when it holds no block), the well-formed calls with
        fresh ids (``call_<hex>``), and the malformed ones with their ``error``. Text after
        the blocks is dropped, as vLLM's Hermes parser does: there a model that has not
        learnt to end its turn goes on to invent the tools' results.
    """
    known = None if tool_names is None else set(tool_names)
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    end = 0
    for match in _BLOCK.finditer(text):
        end = match.end()
        call, error = _read_call(match.group(1), known)
        if error is None:
            calls.append(call)
        else:
            invalid.append(invalid_tool_call(**call, error=error))
    if OPEN in text[end:]:  # cut off (max_tokens) inside a call
        raw = text[end:].split(OPEN, 1)[1].strip()
        invalid.append(
            invalid_tool_call(
                name=_name_in(raw), args=raw, id=_new_id(), error=f"unclosed {OPEN} block"
            )
        )
    if not calls and not invalid:
        return text, [], []
    return text[: text.index(OPEN)].strip(), calls, invalid


def _read_call(raw: str, known: set[str] | None) -> tuple[dict[str, Any], str | None]:
    """A block's body to ``tool_call`` fields, or the fields of an invalid call and why."""
    raw = raw.strip()
    bad = {"name": _name_in(raw), "args": raw, "id": _new_id()}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return bad, f"malformed JSON in {OPEN}: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return bad, f'{OPEN} must hold a JSON object with a "name" string'
    name = data["name"]
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):  # OpenAI style: the arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return {**bad, "name": name}, f"malformed JSON in the arguments of {name!r}: {exc}"
    if not isinstance(args, dict):
        return {**bad, "name": name}, f'the "arguments" of {name!r} must be a JSON object'
    if known is not None and name not in known:
        offered = ", ".join(sorted(known)) or "none"
        return {**bad, "name": name}, f"unknown tool {name!r} (tools: {offered})"
    return tool_call(name=name, args=args, id=_new_id()), None


def _name_in(raw: str) -> str | None:
    """The name a malformed call meant, when it can be read (for the error's readers)."""
    match = re.search(r'"name"\s*:\s*"([^"]*)"', raw)
    return match.group(1) if match else None


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex}"


# --- rendering conversations ---------------------------------------------------------------------
def tool_names(tools: Sequence[dict[str, Any]] | None) -> list[str]:
    """The function names of OpenAI-format tool schemas."""
    return [t["function"]["name"] for t in tools or () if isinstance(t.get("function"), dict)]


def chat_messages(
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None = None,
    *,
    native: bool = False,
) -> list[dict[str, Any]]:
    """LangChain messages to the dicts ``apply_chat_template`` takes.

    Args:
        messages: the conversation (system, human, ai with ``tool_calls``, tool messages).
        tools: OpenAI-format schemas (``convert_to_openai_tool``) on offer, or None.
        native: the template renders tools itself (:func:`template_renders_tools`): then pass
            ``tools`` to ``apply_chat_template`` too. Otherwise the fallback format is written
            into the messages, and the template gets no ``tools``.
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        role = _ROLES.get(m.type, getattr(m, "role", m.type))
        if isinstance(m, AIMessage) and m.tool_calls:
            if native:
                out.append({"role": role, "content": m.text, "tool_calls": _hf_calls(m)})
            else:
                out.append({"role": role, "content": format_assistant_turn(m.text, m.tool_calls)})
        elif isinstance(m, ToolMessage):
            if native:
                out.append({"role": "tool", "content": m.text, "tool_call_id": m.tool_call_id})
                if m.name:
                    out[-1]["name"] = m.name
                continue
            block = f"<tool_response>\n{m.text}\n</tool_response>"
            if out and out[-1].get("_results"):  # results of one turn's calls: one user turn
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_results": True})
        else:
            out.append({"role": role, "content": m.text})
    for d in out:
        d.pop("_results", None)
    if tools and not native:
        schemas = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        instruction = TOOLS_INSTRUCTION.format(tools=schemas)
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{out[0]['content']}\n\n{instruction}"
        else:
            out.insert(0, {"role": "system", "content": instruction})
    return out


def _hf_calls(message: AIMessage) -> list[dict[str, Any]]:
    return [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {"name": c["name"], "arguments": dict(c.get("args") or {})},
        }
        for c in message.tool_calls
    ]


def render_prompt(
    tokenizer: Any,
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None = None,
    *,
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text for ``messages`` with ``tools`` on offer, in ``tokenizer``'s template.

    The state s_i of a tool-calling step renders with this; its action a_i is
    :func:`format_assistant_turn` (then the template's end of turn).
    """
    native = bool(tools) and template_renders_tools(tokenizer)
    chat = chat_messages(messages, tools, native=native)
    extra = {"tools": list(tools)} if native else {}
    return tokenizer.apply_chat_template(
        chat, add_generation_prompt=add_generation_prompt, tokenize=False, **extra
    )


_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "swirl_probe_tool",
        "description": "swirl_probe_description",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
_TEMPLATE_SUPPORT: dict[str, bool] = {}


def template_renders_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders tool schemas, assistant tool calls in this
    module's format, and tool results (tried once per template on a probe conversation)."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        return False
    if template not in _TEMPLATE_SUPPORT:
        _TEMPLATE_SUPPORT[template] = _probe(tokenizer)
    return _TEMPLATE_SUPPORT[template]


def _probe(tokenizer: Any) -> bool:
    call = {"name": "swirl_probe_tool", "args": {"q": "swirl_probe_arg"}, "id": "call_probe"}
    chat = chat_messages(
        [
            AIMessage("", tool_calls=[call]),
            ToolMessage("swirl_probe_result", tool_call_id="call_probe"),
        ],
        native=True,
    )
    chat.insert(0, {"role": "user", "content": "swirl probe question"})
    try:
        text = tokenizer.apply_chat_template(chat, tools=[_PROBE_TOOL], tokenize=False)
    except Exception:  # noqa: BLE001 - a template that refuses tool turns has no tool format
        return False
    _, calls, _ = parse_tool_calls(text)
    wrote_call = any(c["name"] == call["name"] and c["args"] == call["args"] for c in calls)
    return wrote_call and "swirl_probe_description" in text and "swirl_probe_result" in text
