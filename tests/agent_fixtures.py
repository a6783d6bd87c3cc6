"""An existing tool-calling app to capture and train on: three tools (one with two arguments), a
scripted model that uses them, and a tiny tokenizer that knows the tool-call format.

No downloads: the tokenizer is trained here on the text the tests render, the model is
``tiny_models.tiny_llama``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fakes import call, tool_turn
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from tiny_models import chatml_bpe, tiny_llama
from trainer_fixtures import CHATML

from swirl_agents.models.toolcalls import TOOLS_INSTRUCTION, format_assistant_turn


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    time.sleep(0.01)  # let concurrent runs interleave
    return f"sunny in {city}"


@tool
def convert(amount: float, unit: str) -> str:
    """Convert kilometres or miles to metres."""
    return f"{amount * {'km': 1000, 'mile': 1609}[unit]:g} m"


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


TOOLS = [weather, convert, shout]
SCHEMAS = [convert_to_openai_tool(t) for t in TOOLS]
REPEATER = "quito"  # the question whose run repeats a call: the rule judge drops it


def calls_for(question: str) -> list[list[dict]]:
    """The tool calls of each tool-calling turn of the scripted run on ``question``."""
    first = [
        call("weather", {"city": question}, f"w-{question}"),
        call("convert", {"amount": 2, "unit": "km"}, f"c-{question}"),
    ]
    if question == REPEATER:  # the same call again: no progress
        return [first, [call("weather", {"city": question}, f"r-{question}")]]
    return [first, [call("shout", {"text": question}, f"s-{question}")]]


def script(messages):
    """Turn 1: two tools; turn 2: one more; turn 3: the answer. Everything names the question."""
    question = next(m for m in messages if isinstance(m, HumanMessage)).content
    results = [m for m in messages if isinstance(m, ToolMessage)]
    turns = calls_for(question)
    if not results:
        return tool_turn(f"Looking up {question}.", *turns[0])
    if len(results) == 2:
        return tool_turn("", *turns[1])
    return f"{results[-1].content}: {results[0].content}"


def tool_tokenizer():
    """A byte-level BPE (every text round-trips) with ChatML specials, trained on the tool
    format so that prompts with schemas stay short."""
    schemas = "\n".join(json.dumps(s) for s in SCHEMAS)
    turns = [
        format_assistant_turn("Looking up oslo.", calls_for(q)[0]) + "<tool_response>\n"
        for q in ("oslo", "rome", "lima")
    ]
    return chatml_bpe([TOOLS_INSTRUCTION.format(tools=schemas), *turns] * 3, 800, CHATML)


def tool_model_dir(path: Path) -> Path:
    """A tiny random Llama and :func:`tool_tokenizer`, saved to ``path``."""
    tokenizer = tool_tokenizer()
    tiny_llama(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
