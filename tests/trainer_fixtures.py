"""Fixture trajectories for the trainer tests (hand-written, no data files)."""

from __future__ import annotations

from tiny_models import chatml_bpe, tiny_llama

from swirl_agents.protocol import render_tool_result, system_prompt
from swirl_agents.traces.schema import Step, Trajectory

MATH_SYSTEM = system_prompt(["math_exp"], 10, "math")
QA_SYSTEM = system_prompt(["search_query"], 5, "qa")


def tool_step(i: int, text: str, kind: str, argument: str, result: str | None) -> Step:
    observation = render_tool_result(argument, result) if result is not None else None
    return Step(index=i, text=text, kind=kind, argument=argument, observation=observation)


def math_traj(
    steps: list[tuple[str, str | None]], answer: str, gold: str | None = "72", **kw
) -> Trajectory:
    """A math run: each (expression, result) is a calculator step, then the answer step."""
    recorded = [
        tool_step(i, f"I compute it. <math_exp>{e}</math_exp>", "math", e, r)
        for i, (e, r) in enumerate(steps)
    ]
    recorded.append(
        Step(len(recorded), f"Done. <answer>{answer}</answer>", "answer", argument=answer)
    )
    return Trajectory(
        question="Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        steps=recorded,
        answer=answer,
        outcome="answered",
        gold_answer=gold,
        source="annotation",
        system_prompt=MATH_SYSTEM,
        dataset="gsm8k",
        **kw,
    )


GOOD_MATH = math_traj([("48/2", "24"), ("48+24", "72")], "72", id="good")
# Right answer, but 50 appears nowhere in the context: process BAD, outcome YES.
LUCKY_MATH = math_traj([("50/2", "25"), ("48+24", "72")], "72", id="lucky")
# Reasonable steps, wrong final answer: the answer is not a computed value: BAD and NO.
WRONG_MATH = math_traj([("48/2", "24")], "70", id="wrong")
# Good process, wrong gold: process GOOD, outcome NO.
GOOD_PROCESS_WRONG = math_traj([("48/2", "24")], "24", id="good-process-wrong")


def qa_traj(queries: list[tuple[str, str]], answer: str, gold: str | None, **kw) -> Trajectory:
    recorded = [
        tool_step(i, f"Look it up. <search_query>{q}</search_query>", "search", q, r)
        for i, (q, r) in enumerate(queries)
    ]
    recorded.append(Step(len(recorded), f"<answer>{answer}</answer>", "answer", argument=answer))
    return Trajectory(
        question="Which city is the capital of France?",
        steps=recorded,
        answer=answer,
        outcome="answered",
        gold_answer=gold,
        source="production" if gold is None else "generated",
        system_prompt=QA_SYSTEM,
        dataset="hotpotqa",
        **kw,
    )


GOOD_QA = qa_traj(
    [("capital of France", "Paris is the capital of France.")], "Paris", "Paris", id="qa-good"
)
REPEAT_QA = qa_traj(
    [("capital of France", "Paris is big."), ("Capital of France", "Paris is big.")],
    "Paris",
    "Paris",
    id="qa-repeat",
)
UNSUPPORTED_QA = qa_traj([("France", "France is a country.")], "Lyon", "Paris", id="qa-unsupported")
FIXTURES = [
    GOOD_MATH,
    LUCKY_MATH,
    WRONG_MATH,
    GOOD_PROCESS_WRONG,
    GOOD_QA,
    REPEAT_QA,
    UNSUPPORTED_QA,
]


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained on the fixtures, with a ChatML chat template."""
    texts = [MATH_SYSTEM, QA_SYSTEM] + [
        t.question + " ".join(s.text + (s.observation or "") for s in t.steps) for t in FIXTURES
    ]
    return chatml_bpe(texts, 600, CHATML)


def tiny_model_dir(path):
    """Save a tiny random Llama and the tiny tokenizer to ``path``; returns ``path``."""
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
