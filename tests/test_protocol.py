"""The action protocol: parsing is strict and total, turns are completed, prompts say the rules."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from swirl_agents.protocol import (
    STOP_SEQUENCES,
    Action,
    build_messages,
    complete_turn,
    corrective_turn,
    parse_action,
    render_action,
    render_tool_result,
    system_prompt,
    tool_result_text,
)
from swirl_agents.traces.schema import Step


@pytest.mark.parametrize(
    ("text", "kind", "argument", "reasoning"),
    [
        (
            "I need the capital. <search_query>capital of France</search_query>",
            "search",
            "capital of France",
            "I need the capital.",
        ),
        ("<math_exp>48/2</math_exp>", "math", "48/2", ""),
        ("So the answer is <answer> 72 </answer>", "answer", "72", "So the answer is"),
        (
            "Multi\nline\nthought.\n<answer>\nParis\n</answer>",
            "answer",
            "Paris",
            "Multi\nline\nthought.",
        ),
        # case: a small model writes <Answer>; tag names match in any case
        ("<ANSWER>4</Answer>", "answer", "4", ""),
        ("<Search_Query>x</SEARCH_QUERY>", "search", "x", ""),
        # two actions in one turn: a stop sequence would have ended the turn at the first close
        ("<search_query>a</search_query><answer>b</answer>", "search", "a", ""),
        ("<answer>1</answer> and then <math_exp>2</math_exp>", "answer", "1", ""),
        # a provider that ignored the stop string and invented a tool result
        ("<math_exp>2+2</math_exp>\n2+2 -> 5\n<answer>5</answer>", "math", "2+2", ""),
        # angle brackets that are not protocol tags are plain text
        (
            "Since 3 < 4 and <b>bold</b>: <answer>a<b</answer>",
            "answer",
            "a<b",
            "Since 3 < 4 and <b>bold</b>:",
        ),
    ],
)
def test_parse_valid(text: str, kind: str, argument: str, reasoning: str) -> None:
    assert parse_action(text) == Action(kind, argument=argument, reasoning=reasoning)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no action tag"),
        ("I think it is 42.", "no action tag"),
        ("<answer>42", "an action tag was not closed"),
        ("42</answer>", "</answer> without <answer>"),
        ("<math_exp>1+1</answer>", "</answer> without <answer>"),
        ("<answer></answer>", "empty <answer>"),
        ("<search_query>  \n </search_query>", "empty <search_query>"),
        # nested tags
        ("<answer><math_exp>1+1</math_exp></answer>", "nested or repeated action tags"),
        ("<answer>a <answer>b</answer>", "nested or repeated action tags"),
        ("<search_query>x <math_exp>1</math_exp>", "nested or repeated action tags"),
        # a tag mentioned in the reasoning, or a sloppy spaced tag, is not silently accepted
        ("I will not use <search_query> now. <answer>1</answer>", "nested or repeated action tags"),
        ("< answer >1</answer>", "</answer> without <answer>"),
        ("<answer>1< /answer>", "an action tag was not closed"),
    ],
)
def test_parse_invalid(text: str, error: str) -> None:
    action = parse_action(text)
    assert action.kind == "invalid"
    assert action.argument == ""
    assert action.error == error
    assert action.tag is None


@pytest.mark.parametrize("text", [None, 42, b"<answer>1</answer>", ["<answer>1</answer>"]])
def test_parse_is_total(text: object) -> None:
    assert parse_action(text) == Action("invalid", error="the turn is not text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "<",
        "</",
        "<answer",
        "<<answer>>x<</answer>>",
        "</answer></answer>",
        "\x00<answer>\x00</answer>",
        "<answer>" * 1000,
        "</math_exp>" * 3 + "<math_exp>",
    ],
)
def test_parse_never_raises_on_junk(text: str) -> None:
    assert parse_action(text).kind in ("search", "math", "answer", "invalid")


def test_action_tag() -> None:
    assert Action("search", "q").tag == "search_query"
    assert Action("math", "1").tag == "math_exp"
    assert Action("answer", "a").tag == "answer"


# --- complete_turn: providers strip or ignore stop strings ----------------------------------


@pytest.mark.parametrize(
    ("raw", "stopped", "turn"),
    [
        # the stop string was returned, or the provider ran on: cut after the first closed tag
        ("a <answer>1</answer>", True, "a <answer>1</answer>"),
        (
            "a <math_exp>1+1</math_exp> 1+1 -> 2 <answer>2</answer>",
            True,
            "a <math_exp>1+1</math_exp>",
        ),
        # stripped by the provider: re-append the closing tag of the open tag
        ("a <answer>1", True, "a <answer>1</answer>"),
        ("<search_query>Paris\n", True, "<search_query>Paris</search_query>"),
        ("a <Answer>1", True, "a <Answer>1</Answer>"),
        # cut by the token cap: stays unclosed (and parses as invalid)
        ("a <answer>1", False, "a <answer>1"),
        # nothing to close
        ("no tag at all", True, "no tag at all"),
        ("<answer>", True, "<answer>"),
        ("<answer>   ", True, "<answer>   "),
    ],
)
def test_complete_turn(raw: str, stopped: bool, turn: str) -> None:
    assert complete_turn(raw, stopped=stopped) == turn


def test_a_stripped_stop_parses_like_a_returned_one() -> None:
    for tag in ("search_query", "math_exp", "answer"):
        full = f"think <{tag}>x</{tag}>"
        assert full.endswith(tuple(STOP_SEQUENCES))
        stripped = full.removesuffix(f"</{tag}>")
        assert parse_action(complete_turn(stripped)) == parse_action(full)
    assert parse_action(complete_turn("<answer>1", stopped=False)).kind == "invalid"


# --- rendering and prompts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [Action("search", "q", "why"), Action("math", "1+1"), Action("answer", "x", "so")],
)
def test_render_action_round_trips(action: Action) -> None:
    assert parse_action(render_action(action)) == action


def test_render_invalid_action_is_its_text() -> None:
    assert render_action(Action("invalid", reasoning="hmm", error="no action tag")) == "hmm"


def test_render_tool_result() -> None:
    assert render_tool_result("48/2", "24") == "48/2 -> 24"


@pytest.mark.parametrize(
    ("query", "result"), [("48/2", "24"), ("Paris -> France", "Lyon is a city."), ("q", "a -> b")]
)
def test_tool_result_text_inverts_render_tool_result(query, result) -> None:
    assert tool_result_text(render_tool_result(query, result), query) == result


def test_tool_result_text_keeps_an_observation_written_another_way() -> None:
    assert tool_result_text("no arrow here", "q") == "no arrow here"


def test_corrective_turn_says_why_and_what_to_write() -> None:
    text = corrective_turn(parse_action("I think 42"))
    assert "no action tag" in text
    for tag in ("<search_query>", "<math_exp>", "<answer>"):
        assert tag in text


def test_system_prompt_has_the_papers_content() -> None:
    prompt = system_prompt(["search_query"], max_steps=5, task="qa")
    assert "at most 5 steps" in prompt
    assert "<search_query>QUERY</search_query>" in prompt
    assert "<math_exp>" not in prompt  # only the tools the agent has
    assert "<answer>ANSWER</answer>" in prompt
    assert "never both" in prompt
    assert "do not repeat a query" in prompt
    assert '"QUERY -> RESULT"' in prompt
    assert "short phrase" in prompt  # the QA hint


def test_system_prompt_guesses_the_task_from_the_tools() -> None:
    assert "calculator" in system_prompt(["math_exp"], max_steps=10)
    assert "short phrase" in system_prompt(["search_query", "math_exp"], max_steps=3)
    assert "<search_query>" not in system_prompt([], max_steps=1)


def test_build_messages_is_the_state_before_each_step() -> None:
    steps = [
        Step(0, "<search_query>a</search_query>", "search", "a", observation="a -> A"),
        Step(1, "hmm", "invalid", observation="Your last step had no valid action"),
        Step(2, "<answer>A</answer>", "answer", "A"),
    ]
    full = build_messages("SYS", "Q?", steps)
    assert [type(m) for m in full] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        HumanMessage,
        AIMessage,
        HumanMessage,
        AIMessage,
    ]
    assert full[1].content == "Question: Q?"
    assert full[3].content == "a -> A"
    assert build_messages("SYS", "Q?", steps, upto=0) == full[:2]
    assert build_messages("SYS", "Q?", steps, upto=1) == full[:4]
    assert build_messages("SYS", "Q?", steps, upto=2) == full[:6]
