"""Native tool calls on the local model: the text format, bind_tools, and create_agent end to end."""

from __future__ import annotations

import json
import re
from concurrent.futures import Future
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from tiny_models import chatml_bpe, tiny_llama

from swirl_agents.models import LocalChatModel, toolcalls
from swirl_agents.models.engine import Completion, Request
from swirl_agents.models.toolcalls import (
    chat_messages,
    format_assistant_turn,
    parse_tool_calls,
    render_prompt,
    template_renders_tools,
)

# SmolLM2-135M-Instruct's own template (the embedded model): no tool format at all.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# A Qwen2.5-style template: renders tools, assistant tool_calls and tool turns itself.
NATIVE_TEMPLATE = (  # (HF renders with trim_blocks: newlines are written as expressions)
    "{%- if tools %}{{ '<|im_start|>system\\nNATIVE TOOL HEADER\\n<tools>' }}"
    "{%- for t in tools %}{{ '\\n' + (t | tojson) }}{%- endfor %}"
    "{{ '\\n</tools><|im_end|>\\n' }}{%- endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}{{ '<|im_start|>assistant' }}"
    "{%- if m.content %}{{ '\\n' + m.content }}{%- endif %}"
    "{%- for c in m.tool_calls or [] %}"
    '{{ \'\\n<tool_call>\\n{"name": "\' + c.function.name + \'", "arguments": \' }}'
    "{{ c.function.arguments | tojson }}{{ '}\\n</tool_call>' }}{%- endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{%- elif m.role == 'tool' %}"
    "{{ '<|im_start|>user\\n<tool_response>\\n' + m.content + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Renders tools, but writes calls as bare JSON (Llama 3.1 style): not our format.
OTHER_FORMAT_TEMPLATE = (
    "{%- for t in tools or [] %}TOOL {{ t | tojson }}\n{%- endfor %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{%- for c in m.tool_calls or [] %}"
    '{"name": "{{ c.function.name }}", "parameters": {{ c.function.arguments | tojson }}}'
    "{%- endfor %}{{ m.content }}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


@tool
def multiply(a: float, b: float) -> str:
    """Multiply two numbers."""
    return str(a * b)


@tool
def search(query: str) -> str:
    """Search the encyclopedia."""
    return f"no page for {query}"


@tool
def today() -> str:
    """Today's date."""
    return "2025-01-01"


TOOLS = [multiply, search, today]
SCHEMAS = [convert_to_openai_tool(t) for t in TOOLS]
NAMES = ["multiply", "search", "today"]


def _tokenizer(template: str = SMOLLM2_TEMPLATE):
    """A byte-level BPE with every byte in its alphabet (any text round-trips), ChatML specials."""
    corpus = ['<tool_call>\n{"name": "multiply", "arguments": {"a": 6, "b": 7}}\n</tool_call>'] * 4
    return chatml_bpe(corpus, 400, template)


@pytest.fixture(scope="module")
def tiny():
    tokenizer = _tokenizer()
    return tiny_llama(tokenizer), tokenizer


def _chat(tiny, **kw) -> LocalChatModel:
    model, tokenizer = tiny
    kw.setdefault("max_tokens", 8)
    return LocalChatModel(hf_model=model, tokenizer=tokenizer, model_name="tiny", **kw)


class ScriptedEngine:
    """Stands in for the decode loop: replies with fixed texts, records the requests."""

    def __init__(self, tokenizer: Any, replies: list[str]) -> None:
        self.tokenizer, self.replies, self.requests = tokenizer, list(replies), []

    def submit(self, request: Request) -> Future:
        self.requests.append(request)
        text = self.replies.pop(0)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        future: Future = Future()
        future.set_result(Completion(text=text, token_ids=ids, finish_reason="stop"))
        return future

    def prompt(self, i: int) -> str:
        return self.tokenizer.decode(self.requests[i].prompt_ids)


def _scripted(tiny, replies: list[str]) -> tuple[LocalChatModel, ScriptedEngine]:
    chat = _chat(tiny)
    engine = ScriptedEngine(tiny[1], replies)
    chat._engine = engine  # the engine property hands out an engine once it is set
    return chat, engine


def _record_prompts(chat: LocalChatModel) -> list[str]:
    """Every prompt the real engine gets, as text."""
    prompts: list[str] = []
    submit = chat.engine.submit

    def recording(request: Request) -> Future:
        prompts.append(chat.tokenizer.decode(request.prompt_ids))
        return submit(request)

    chat.engine.submit = recording
    return prompts


def _call(name: str, **args: Any) -> str:
    return toolcalls.format_tool_call(name, args)


# --- parsing -------------------------------------------------------------------------------------
def test_a_single_call_is_parsed_with_a_fresh_id():
    content, calls, invalid = parse_tool_calls(_call("multiply", a=6, b=7), NAMES)
    assert content == "" and invalid == []
    assert [(c["name"], c["args"], c["type"]) for c in calls] == [
        ("multiply", {"a": 6, "b": 7}, "tool_call")
    ]
    assert re.fullmatch(r"call_[0-9a-f]{32}", calls[0]["id"])


def test_text_and_several_calls_keep_their_order_and_get_distinct_ids():
    text = f"Two lookups first.\n{_call('search', query='Paris')}\n{_call('today')}\n"
    content, calls, invalid = parse_tool_calls(text, NAMES)
    assert content == "Two lookups first." and invalid == []
    assert [(c["name"], c["args"]) for c in calls] == [
        ("search", {"query": "Paris"}),
        ("today", {}),
    ]
    assert calls[0]["id"] != calls[1]["id"]


def test_text_after_the_calls_is_not_part_of_the_turn():
    text = f"Computing.\n{_call('multiply', a=6, b=7)}\nThe result is 42."
    content, calls, _ = parse_tool_calls(text, NAMES)
    assert content == "Computing." and calls[0]["args"] == {"a": 6, "b": 7}


def test_malformed_json_is_an_invalid_call_not_an_exception():
    text = 'ok <tool_call>\n{"name": "multiply", "arguments": {"a": 6,}}\n</tool_call>'
    content, calls, invalid = parse_tool_calls(text, NAMES)
    assert content == "ok" and calls == []
    (bad,) = invalid
    assert bad["type"] == "invalid_tool_call" and bad["name"] == "multiply"
    assert "malformed JSON" in bad["error"] and '"a": 6,' in bad["args"]


def test_an_unknown_tool_is_an_invalid_call_and_the_valid_ones_stay():
    text = _call("launch", target="moon") + "\n" + _call("today")
    _, calls, invalid = parse_tool_calls(text, NAMES)
    assert [c["name"] for c in calls] == ["today"]
    assert invalid[0]["name"] == "launch" and "unknown tool 'launch'" in invalid[0]["error"]
    # without a list of tools every name is accepted
    assert len(parse_tool_calls(text)[1]) == 2


@pytest.mark.parametrize(
    "body, error",
    [
        ('["multiply"]', '"name" string'),
        ('{"name": "multiply", "arguments": [6, 7]}', "must be a JSON object"),
        ('{"name": "multiply", "arguments": "{bad"}', "arguments of 'multiply'"),
    ],
)
def test_calls_of_the_wrong_shape_are_invalid(body, error):
    _, calls, invalid = parse_tool_calls(f"<tool_call>{body}</tool_call>", NAMES)
    assert calls == [] and error in invalid[0]["error"]


def test_arguments_given_as_a_json_string_are_decoded():
    body = '{"name": "multiply", "arguments": "{\\"a\\": 2, \\"b\\": 3}"}'
    _, calls, _ = parse_tool_calls(f"<tool_call>{body}</tool_call>", NAMES)
    assert calls[0]["args"] == {"a": 2, "b": 3}


def test_a_call_cut_off_by_the_token_cap_is_invalid():
    content, calls, invalid = parse_tool_calls('Sure.\n<tool_call>\n{"name": "mul', NAMES)
    assert content == "Sure." and calls == []
    assert "unclosed" in invalid[0]["error"]


def test_a_reply_without_calls_is_returned_unchanged():
    text = "  The answer is 42.\n"
    assert parse_tool_calls(text, NAMES) == (text, [], [])


@pytest.mark.parametrize(
    "content, calls",
    [
        ("", [("today", {})]),
        ("Let me compute.", [("multiply", {"a": 6, "b": 7.5})]),
        ("Two\nlines: é ü 日本", [("search", {"query": "Zürich </b>"}), ("today", {})]),
        ("", [("search", {"query": "x", "filters": {"year": [1, 2], "ok": True, "n": None}})]),
    ],
)
def test_parsing_a_rendered_turn_gives_back_its_content_and_calls(content, calls):
    text = format_assistant_turn(content, [{"name": n, "args": a} for n, a in calls])
    got_content, got_calls, invalid = parse_tool_calls(text, NAMES)
    assert invalid == [] and got_content == content
    assert [(c["name"], c["args"]) for c in got_calls] == calls


# --- rendering -----------------------------------------------------------------------------------
def _conversation() -> list:
    call = {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "call_1"}
    other = {"name": "today", "args": {}, "id": "call_2"}
    return [
        SystemMessage("Be brief."),
        HumanMessage("What is 6 times 7, and what day is it?"),
        AIMessage("Computing.", tool_calls=[call, other]),
        ToolMessage("42.0", tool_call_id="call_1", name="multiply"),
        ToolMessage("2025-01-01", tool_call_id="call_2", name="today"),
    ]


def test_without_a_tool_template_the_fallback_format_is_written_into_the_messages():
    tokenizer = _tokenizer(SMOLLM2_TEMPLATE)
    assert not template_renders_tools(tokenizer)
    chat = chat_messages(_conversation(), SCHEMAS)
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
    assert chat[0]["content"].startswith("Be brief.\n\n# Tools")
    assert '"name": "multiply"' in chat[0]["content"] and "<tools>\n" in chat[0]["content"]
    assert chat[2]["content"] == (
        "Computing.\n"
        '<tool_call>\n{"name": "multiply", "arguments": {"a": 6, "b": 7}}\n</tool_call>\n'
        '<tool_call>\n{"name": "today", "arguments": {}}\n</tool_call>'
    )
    # the results of one turn's calls form one user turn, in call order
    assert chat[3]["content"] == (
        "<tool_response>\n42.0\n</tool_response>\n<tool_response>\n2025-01-01\n</tool_response>"
    )
    text = render_prompt(tokenizer, _conversation(), SCHEMAS)
    assert text.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert text.count("<|im_start|>system") == 1


def test_tools_without_a_system_message_get_their_own_system_turn():
    chat = chat_messages([HumanMessage("hi")], SCHEMAS)
    assert chat[0]["role"] == "system" and chat[0]["content"].startswith("# Tools")
    assert all(s["function"]["name"] in chat[0]["content"] for s in SCHEMAS)


def test_without_tools_plain_messages_render_as_before():
    tokenizer = _tokenizer(SMOLLM2_TEMPLATE)
    messages = [SystemMessage("Be brief."), HumanMessage("hi"), AIMessage("hello")]
    plain = [{"role": r, "content": c} for r, c in [("system", "Be brief."), ("user", "hi")]]
    plain.append({"role": "assistant", "content": "hello"})
    assert render_prompt(tokenizer, messages) == tokenizer.apply_chat_template(
        plain, add_generation_prompt=True, tokenize=False
    )


def test_a_tool_capable_template_renders_tools_calls_and_results_itself():
    tokenizer = _tokenizer(NATIVE_TEMPLATE)
    assert template_renders_tools(tokenizer)
    text = render_prompt(tokenizer, _conversation(), SCHEMAS)
    assert "NATIVE TOOL HEADER" in text and "# Tools" not in text
    assert all(s["function"]["name"] in text for s in SCHEMAS)
    assert "<tool_response>\n42.0\n</tool_response>" in text
    # the template wrote the history's calls exactly as format_assistant_turn does
    turn = format_assistant_turn("Computing.", _conversation()[2].tool_calls)
    assert f"<|im_start|>assistant\n{turn}<|im_end|>" in text


def test_a_template_with_another_call_format_gets_the_fallback():
    tokenizer = _tokenizer(OTHER_FORMAT_TEMPLATE)
    assert not template_renders_tools(tokenizer)
    text = render_prompt(tokenizer, _conversation(), SCHEMAS)
    assert "# Tools" in text and "TOOL {" not in text and "<tool_call>" in text


# --- bind_tools and generation -------------------------------------------------------------------
def test_bind_tools_returns_a_runnable_whose_reply_is_an_ai_message(tiny):
    chat = _chat(tiny)
    prompts = _record_prompts(chat)
    reply = chat.bind_tools(TOOLS).invoke([HumanMessage("What is 6 times 7?")])
    assert isinstance(reply, AIMessage)
    assert 1 <= len(reply.response_metadata["token_ids"]) <= 8
    assert "<tools>" in prompts[0] and all(n in prompts[0] for n in NAMES)
    # the same model without tools gets the plain prompt
    chat.invoke([HumanMessage("What is 6 times 7?")])
    assert "<tools>" not in prompts[1]


def test_a_tool_call_reply_carries_tool_calls_and_the_ids_of_its_text(tiny):
    raw = "I will multiply.\n" + _call("multiply", a=6, b=7)
    chat, engine = _scripted(tiny, [raw])
    reply = chat.bind_tools(TOOLS).invoke([HumanMessage("6*7?")])
    assert reply.content == "I will multiply."
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("multiply", {"a": 6, "b": 7})]
    meta = reply.response_metadata
    assert meta["raw_text"] == raw and meta["finish_reason"] == "tool_calls"
    assert tiny[1].decode(meta["token_ids"]) == raw
    assert "<tools>" in engine.prompt(0)


async def test_ainvoke_with_tools_parses_calls_too(tiny):
    chat, _ = _scripted(tiny, [_call("search", query="Paris") + "\n" + _call("nope")])
    reply = await chat.bind_tools(TOOLS).ainvoke([HumanMessage("Paris?")])
    assert [c["name"] for c in reply.tool_calls] == ["search"]
    assert [c["name"] for c in reply.invalid_tool_calls] == ["nope"]


def test_tool_choice_forces_the_reply_to_start_with_that_call(tiny):
    chat = _chat(tiny, max_tokens=4)
    reply = chat.bind_tools(TOOLS, tool_choice="multiply").invoke([HumanMessage("6*7?")])
    forced = '<tool_call>\n{"name": "multiply", "arguments": {'
    text = reply.response_metadata.get("raw_text", reply.content)
    assert text.startswith(forced)
    prefill = tiny[1](forced, add_special_tokens=False)["input_ids"]
    ids = reply.response_metadata["token_ids"]
    assert ids[: len(prefill)] == prefill and len(ids) <= len(prefill) + 4
    # 4 random tokens cannot close the call: an invalid call, reported, not raised
    assert reply.tool_calls or "unclosed" in reply.invalid_tool_calls[0]["error"]


def test_tool_choice_any_none_and_unknown_names(tiny):
    chat, engine = _scripted(tiny, ['{"name": "today", "arguments": {}}\n</tool_call>', "hi"])
    reply = chat.bind_tools(TOOLS, tool_choice="any").invoke([HumanMessage("day?")])
    assert [c["name"] for c in reply.tool_calls] == ["today"]
    assert engine.prompt(0).endswith("<|im_start|>assistant\n<tool_call>\n")
    reply = chat.bind_tools(TOOLS, tool_choice="none").invoke([HumanMessage("day?")])
    assert reply.content == "hi" and "<tools>" not in engine.prompt(1)
    with pytest.raises(ValueError, match="names none of the bound tools"):
        chat.bind_tools(TOOLS, tool_choice="launch")


def test_no_parallel_calls_stops_after_the_first_block(tiny):
    chat, engine = _scripted(tiny, [_call("today")])
    chat.bind_tools(TOOLS, parallel_tool_calls=False).invoke([HumanMessage("day?")])
    assert engine.requests[0].params.stop == ("</tool_call>",)


# --- create_agent --------------------------------------------------------------------------------
def test_create_agent_runs_on_the_random_model_with_the_schemas_in_its_prompt(tiny):
    chat = _chat(tiny)
    prompts = _record_prompts(chat)
    agent = create_agent(chat, TOOLS, system_prompt="Use the tools.")
    out = agent.invoke({"messages": [HumanMessage("What is 6 times 7?")]})
    assert isinstance(out["messages"][-1], AIMessage)
    assert prompts and "Use the tools." in prompts[0]
    schemas = re.search(r"<tools>\n(.*)\n</tools>", prompts[0], re.DOTALL).group(1)
    assert schemas.splitlines() == [json.dumps(s, ensure_ascii=False) for s in SCHEMAS]


def test_create_agent_runs_the_called_tool_and_answers_from_its_result(tiny):
    replies = ["Multiplying.\n" + _call("multiply", a=6, b=7), "6 times 7 is 42."]
    chat, engine = _scripted(tiny, replies)
    agent = create_agent(chat, TOOLS)
    out = agent.invoke({"messages": [HumanMessage("What is 6 times 7?")]})
    human, call_turn, result, final = out["messages"]
    assert call_turn.tool_calls[0]["args"] == {"a": 6, "b": 7}
    assert isinstance(result, ToolMessage) and result.content == "42.0"
    assert result.tool_call_id == call_turn.tool_calls[0]["id"]
    assert final.content == "6 times 7 is 42." and not final.tool_calls
    # the second prompt shows the call as the model wrote it and the result as a tool response
    second = engine.prompt(1)
    assert replies[0] in second and "<tool_response>\n42.0\n</tool_response>" in second


def test_with_structured_output_works_through_a_forced_call(tiny):
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: float

    chat, engine = _scripted(
        tiny, ['{"name": "Weather", "arguments": {"city": "Paris", "temp": 21.5}}\n</tool_call>']
    )
    assert chat.with_structured_output(Weather).invoke("weather?") == Weather(
        city="Paris", temp=21.5
    )
    assert engine.prompt(0).endswith("<|im_start|>assistant\n<tool_call>\n")  # tool_choice="any"
