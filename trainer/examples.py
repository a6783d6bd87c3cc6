"""Step examples: a trajectory with K actions becomes K (state, action) pairs.

The one place where a trajectory turns into training and judging inputs: SFT
(``trainer.sft``), SWiRL's states (``trainer.swirl``) and the process judges
(``trainer.judges.step_contexts``) all take their pairs from :func:`step_examples`.

The state s_i is the chat the agent sent the model before step i, rendered by the run's own
protocol (the tag protocol: :func:`swirl_agents.protocol.build_messages`; native tool calls:
:func:`swirl_agents.protocols.tools.render_state`), and the action a_i is the recorded turn
``steps[i]`` (its ``text``; with its ``tool_calls`` for a tool-call run).
s_{i+1} = s_i + a_i + what followed a_i (its tool results or a corrective turn).

As token text (:meth:`StepExample.render`, the one rendering SFT and SWiRL train on):

- tag protocol: the tokenizer's chat template of s_i (with the generation prompt), and of
  s_i + a_i (without);
- native tool calls: s_i as :func:`swirl_agents.models.toolcalls.render_prompt` writes it with the
  run's tool schemas, and a_i as :func:`~swirl_agents.models.toolcalls.format_assistant_turn`
  (the turn's text, then one ``<tool_call>`` block per call) followed by the template's end of
  turn. That is byte for byte what ``LocalChatModel.bind_tools`` sends the model and parses back,
  so a model trained here serves inside ``create_agent`` in the format it learnt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from swirl_agents.protocol import MATH_TAG, SEARCH_TAG
from swirl_agents.traces.schema import Step, Trajectory

if TYPE_CHECKING:  # LangChain loads when a state's messages are first read
    from langchain_core.messages import BaseMessage


def chat(messages: Sequence[Any]) -> list[dict[str, str]]:
    """LangChain messages as ``{"role", "content"}`` dicts for ``apply_chat_template``."""
    from langchain_core.messages import convert_to_openai_messages

    return [
        {"role": m["role"], "content": m["content"]} for m in convert_to_openai_messages(messages)
    ]


def task_of(trajectory: Trajectory) -> str:
    """The trajectory's ``task`` when it was recorded (schema v2); else, for older records,
    ``math`` or ``qa`` guessed from the tools the system prompt offers, else the actions taken.
    A tool-call run with no recorded task (a captured app's) has none: ``""``."""
    from swirl_agents.traces.formats import is_tag_protocol

    if trajectory.task:
        return trajectory.task
    if not is_tag_protocol(trajectory):
        return ""  # its tools say nothing about math or QA
    math_tool = f"<{MATH_TAG}>" in trajectory.system_prompt
    search_tool = f"<{SEARCH_TAG}>" in trajectory.system_prompt
    if math_tool != search_tool:
        return "math" if math_tool else "qa"
    kinds = {s.kind for s in trajectory.steps}
    return "qa" if "search" in kinds or "math" not in kinds else "math"


@dataclass(eq=False)
class StepExample:
    """One (state, action) pair of a trajectory, with what training and judging need."""

    question: str  # the task's question
    history: list[Step]  # the steps before this one (s_i, as records)
    step: Step  # a_i, the recorded step
    system_prompt: str  # the system turn of s_i
    tag_protocol: bool  # how s_i is rendered: text tags, or native tool calls
    task: str  # math | qa | ... (``task_of``)
    tools: list[dict[str, Any]] | None  # the bound tools' schemas (``Trajectory.tools``)
    trajectory_id: str  # the trajectory the step comes from
    step_index: int  # i, 0-based
    weight: float = 1.0  # 1/K with per-trajectory normalisation, else 1
    max_steps: int | None = None  # the run's step budget (``metadata["max_steps"]``); None: unknown

    @property
    def completion(self) -> str:
        """a_i as the model writes it: the recorded text; in a tool-call run followed by its
        calls as ``<tool_call>`` blocks (``toolcalls.format_assistant_turn``)."""
        if self.tag_protocol or not self.step.tool_calls:
            return self.step.text
        from swirl_agents.models.toolcalls import format_assistant_turn

        return format_assistant_turn(self.step.text, self.step.tool_calls)

    @cached_property
    def messages(self) -> list[BaseMessage]:
        """s_i, exactly as the agent sends it (built on first use: judges never need it)."""
        if self.tag_protocol:
            from swirl_agents.protocol import build_messages

            return build_messages(self.system_prompt, self.question, self.history)
        from swirl_agents.protocols.tools import render_state

        messages = render_state(self.system_prompt, self.question, self.history)
        return messages if self.system_prompt else messages[1:]  # a captured app had none

    def prompt_text(self, tokenizer: Any) -> str:
        """s_i as the model reads it before writing a_i (see :meth:`render`)."""
        if self.tag_protocol:
            return tokenizer.apply_chat_template(
                chat(self.messages), tokenize=False, add_generation_prompt=True
            )
        from swirl_agents.models.toolcalls import render_prompt

        return render_prompt(tokenizer, self.messages, self.tools)

    def render(self, tokenizer: Any) -> tuple[str, str]:
        """``(prompt, example)`` as text in ``tokenizer``'s chat template: s_i ready for the
        model's turn, and s_i + a_i with the turn's end. The action's tokens are those of
        ``example`` after ``prompt`` (callers check that ``prompt`` tokenizes to a prefix)."""
        prompt = self.prompt_text(tokenizer)
        if self.tag_protocol:  # the template of s_i + a_i, exactly as before tool calls existed
            action = [{"role": "assistant", "content": self.completion}]
            example = tokenizer.apply_chat_template(
                chat(self.messages) + action, tokenize=False, add_generation_prompt=False
            )
            return prompt, example
        return prompt, prompt + self.completion + end_of_turn(tokenizer)


_END_OF_TURN: dict[str, str] = {}
_MARK = "swirl-end-of-turn-probe"


def end_of_turn(tokenizer: Any) -> str:
    """What the chat template writes after an assistant turn's content (``<|im_end|>\\n`` in
    ChatML): the text the model learns to end its turn with; found once per template."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if template not in _END_OF_TURN:
        probe = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _MARK}]
        text = tokenizer.apply_chat_template(probe, tokenize=False)
        _END_OF_TURN[template] = text.split(_MARK, 1)[1] if _MARK in text else ""
    return _END_OF_TURN[template]


def step_examples(trajectory: Trajectory, *, normalize: bool = False) -> list[StepExample]:
    """The K step examples of one trajectory.

    Args:
        trajectory: a recorded run (its ``system_prompt`` and ``question`` rebuild the states).
        normalize: weigh each step 1/K so that long trajectories do not dominate (off by default:
            the paper's objective weighs every state equally).
    """
    from swirl_agents.traces.formats import is_tag_protocol

    steps = trajectory.steps
    k = len(steps)
    weight = 1.0 / k if normalize and k else 1.0
    tags, task, budget = is_tag_protocol(trajectory), task_of(trajectory), budget_of(trajectory)
    return [
        StepExample(
            question=trajectory.question,
            history=steps[:i],
            step=step,
            system_prompt=trajectory.system_prompt,
            tag_protocol=tags,
            task=task,
            tools=trajectory.tools,
            trajectory_id=trajectory.id,
            step_index=i,
            weight=weight,
            max_steps=budget,
        )
        for i, step in enumerate(steps)
    ]


def budget_of(trajectory: Trajectory) -> int | None:
    """The step budget the run had (``metadata["max_steps"]``, which ``swirl generate`` records);
    None when it was not recorded (older runs, captured apps)."""
    value = (trajectory.metadata or {}).get("max_steps")
    return value if isinstance(value, int) and value > 0 else None


def iter_step_examples(
    trajectories: Iterable[Trajectory], *, normalize: bool = False
) -> Iterator[StepExample]:
    """All step examples of ``trajectories``, in order (see :func:`step_examples`)."""
    for trajectory in trajectories:
        yield from step_examples(trajectory, normalize=normalize)
