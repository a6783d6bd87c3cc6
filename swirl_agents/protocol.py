"""The SWiRL action protocol: tags, prompts, parsing one model turn, rendering tool results.

One model turn is some reasoning followed by exactly one action:

    <search_query>...</search_query>   a search
    <math_exp>...</math_exp>           a calculator expression
    <answer>...</answer>               the final answer

A tool result goes back as the next user turn, ``QUERY -> RESULT``. The agent and the trainer
both build the conversation with :func:`build_messages`, so a training state is exactly what the
agent sends the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # langchain_core loads in build_messages: reading records stays light
    from langchain_core.messages import BaseMessage

    from swirl_agents.traces.schema import Step

PROTOCOL_VERSION = "swirl-tags/1"

ActionKind = Literal["search", "math", "answer", "invalid"]

SEARCH_TAG = "search_query"
MATH_TAG = "math_exp"
ANSWER_TAG = "answer"
TAGS: dict[str, ActionKind] = {SEARCH_TAG: "search", MATH_TAG: "math", ANSWER_TAG: "answer"}
KIND_TO_TAG: dict[str, str] = {kind: tag for tag, kind in TAGS.items()}

# Generation stops at the first closing tag (the stop string itself may or may not be returned).
STOP_SEQUENCES: list[str] = [f"</{tag}>" for tag in TAGS]

_ANY_TAG = re.compile(r"</?\s*(search_query|math_exp|answer)\s*>", re.IGNORECASE)
# Tag names match in any case (a small model writes <Answer>); no spaces inside a tag.
_CLOSE_TAG = re.compile(r"</(search_query|math_exp|answer)>", re.IGNORECASE)
_OPEN_TAG = re.compile(r"<(search_query|math_exp|answer)>", re.IGNORECASE)


@dataclass(frozen=True)
class Action:
    """One parsed model turn: ``kind`` is never missing; ``error`` says why a turn is invalid."""

    kind: ActionKind
    argument: str = ""
    reasoning: str = ""
    error: str = ""

    @property
    def tag(self) -> str | None:
        return KIND_TO_TAG.get(self.kind)


def complete_turn(text: str, *, stopped: bool = True) -> str:
    """Keep a raw generation up to and including its first closed tag; discard the rest.

    Providers strip the stop string (OpenAI-compatible servers, Gemini) or ignore it, so: if a
    closing tag is present, cut right after the first one; if the model was stopped (``stopped``)
    with an opening tag still open, re-append that tag's closing tag. A generation cut by the
    token cap (``stopped=False``) keeps its unclosed tag and parses as invalid.
    """
    close = _CLOSE_TAG.search(text)
    if close:
        return text[: close.end()]
    if stopped:
        opens = list(_OPEN_TAG.finditer(text))
        if opens and text[opens[-1].end() :].strip():
            return text.rstrip() + f"</{opens[-1].group(1)}>"
    return text


def parse_action(text: str) -> Action:
    """Parse one model turn. Total and strict: every string gives exactly one Action, no exception.

    Valid: ``reasoning <tag>argument</tag>`` where the first closing tag in the text closes the
    tag opened right before it, the reasoning and the argument hold no other protocol tags, and
    the argument is not empty. Anything after the first closing tag is ignored (a stop sequence
    would have ended the generation there).
    """
    if not isinstance(text, str):
        return Action("invalid", error="the turn is not text")
    close = _CLOSE_TAG.search(text)
    if close is None:
        if _OPEN_TAG.search(text):
            return Action("invalid", reasoning=text.strip(), error="an action tag was not closed")
        return Action("invalid", reasoning=text.strip(), error="no action tag")
    tag = close.group(1).lower()
    opens = [m for m in _OPEN_TAG.finditer(text, 0, close.start()) if m.group(1).lower() == tag]
    if not opens:
        return Action("invalid", reasoning=text.strip(), error=f"</{tag}> without <{tag}>")
    reasoning, argument = text[: opens[-1].start()], text[opens[-1].end() : close.start()]
    if _ANY_TAG.search(reasoning) or _ANY_TAG.search(argument):
        return Action(
            "invalid", reasoning=reasoning.strip(), error="nested or repeated action tags"
        )
    argument = argument.strip()
    if not argument:
        return Action("invalid", reasoning=reasoning.strip(), error=f"empty <{tag}>")
    return Action(TAGS[tag], argument=argument, reasoning=reasoning.strip())


def render_action(action: Action) -> str:
    """The canonical text of an action (used to build trajectories that no model wrote)."""
    if action.kind == "invalid":
        return action.reasoning
    body = f"<{action.tag}>{action.argument}</{action.tag}>"
    return f"{action.reasoning} {body}".strip() if action.reasoning else body


def render_tool_result(query: str, result: str) -> str:
    """The user turn that feeds a tool result back: ``QUERY -> RESULT``."""
    return f"{query} -> {result}"


def tool_result_text(observation: str, query: str) -> str:
    """The RESULT of :func:`render_tool_result`'s turn for ``query``: exact even when the query
    itself holds " -> "; an observation written some other way comes back whole."""
    return observation.removeprefix(render_tool_result(query, ""))


def corrective_turn(action: Action) -> str:
    """The user turn after a step with neither a tool call nor an answer."""
    return (
        f"Your last step had no valid action ({action.error}). Write your reasoning, then exactly "
        "one of <search_query>...</search_query>, <math_exp>...</math_exp> or <answer>...</answer>."
    )


# --- prompts ---------------------------------------------------------------------------------

_TOOL_LINES = {
    SEARCH_TAG: "- <search_query>QUERY</search_query> searches for QUERY and returns the best passages.",
    MATH_TAG: "- <math_exp>EXPRESSION</math_exp> evaluates an arithmetic EXPRESSION "
    "(numbers and + - * / ** % and parentheses) and returns the number.",
}

_PROMPT = """You solve problems step by step, using tools. You have at most {max_steps} steps.

At each step, first write a short thought about what you know and what you need next. \
Then end the step with exactly one action, either a tool call or the final answer, never both:
{tool_lines}
- <answer>ANSWER</answer> gives the final answer and ends the task.

After a tool call you receive its result as "QUERY -> RESULT". Use the results you have; \
do not repeat a query you already made. {task_hint}Give the answer as soon as you know it, \
before you run out of steps."""

_HINTS = {
    "math": "Compute every number with the calculator rather than in your head. The answer is a "
    "single number, with no units. ",
    "qa": "Search for one thing at a time; a question may need two or more searches. The answer is "
    "a short phrase (a name, a date, yes or no), not a sentence. ",
}


def system_prompt(tags: Iterable[str], max_steps: int, task: str | None = None) -> str:
    """Our prompt with the content of the paper's: the tags, the step budget, the rules."""
    tags = [t for t in (SEARCH_TAG, MATH_TAG) if t in set(tags)]
    if task is None:
        task = "math" if tags == [MATH_TAG] else "qa"
    return _PROMPT.format(
        max_steps=max_steps,
        tool_lines="\n".join(_TOOL_LINES[t] for t in tags),
        task_hint=_HINTS.get(task, ""),
    )


def build_messages(
    system: str, question: str, steps: Sequence[Step], *, upto: int | None = None
) -> list[BaseMessage]:
    """The conversation the model sees before step ``upto`` (default: after all ``steps``).

    Each step adds the model's turn (``text``) and, when the step produced a tool result or a
    corrective turn (``observation``), the user turn that followed it.
    """
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(f"Question: {question}")]
    for step in steps[:upto]:
        messages.append(AIMessage(step.text))
        if step.observation is not None:
            messages.append(HumanMessage(step.observation))
    return messages
