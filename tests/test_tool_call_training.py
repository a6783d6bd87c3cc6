"""Training on native tool-call runs: step examples render as the server renders, the rule judge
reads tool calls, SWiRL's states and rewards carry the tools, filters work on captured runs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from agent_fixtures import REPEATER, SCHEMAS, TOOLS, script, tool_model_dir, tool_tokenizer
from fakes import scripted
from langchain_core.messages import HumanMessage
from trainer_fixtures import GOOD_MATH

from swirl_agents.models.toolcalls import format_tool_call
from swirl_agents.traces.capture import SwirlTracer
from swirl_agents.traces.schema import Step, Trajectory
from trainer.examples import end_of_turn, step_examples, task_of
from trainer.filters import filter_trajectories
from trainer.judges import RuleProcessJudge, StepContext, args_fit, step_contexts
from trainer.sft import tokenize_trajectory
from trainer.swirl import cut_action, judge_reward, state_rows

create_agent = pytest.importorskip("langchain.agents").create_agent


def captured(question: str = "oslo") -> Trajectory:
    logged: list[Trajectory] = []
    create_agent(scripted(script), TOOLS).invoke(
        {"messages": [HumanMessage(question)]}, {"callbacks": [SwirlTracer(on_trace=logged.append)]}
    )
    return logged[0]


@pytest.fixture(scope="module")
def tokenizer():
    return tool_tokenizer()


def test_sft_spans_are_the_tool_call_turns_and_their_end(tokenizer) -> None:
    traj = captured()
    (packed,) = tokenize_trajectory(tokenizer, traj)  # one pass: the prefixes agree
    actions = [tokenizer.decode(packed.input_ids[a:b]) for a, b in packed.spans]
    eot = end_of_turn(tokenizer)
    assert eot == "<|im_end|>\n"
    assert actions == [
        "Looking up oslo.\n"
        + format_tool_call("weather", {"city": "oslo"})
        + "\n"
        + format_tool_call("convert", {"amount": 2, "unit": "km"})
        + eot,
        format_tool_call("shout", {"text": "oslo"}) + eot,
        "OSLO: sunny in oslo" + eot,
    ]
    # the loss never covers the schemas or the tool results
    prompt = tokenizer.decode(packed.input_ids[: packed.spans[0][0]])
    assert "<tools>" in prompt and "<tool_response>" not in "".join(actions)


def test_a_native_tool_template_trains_the_same_action_text() -> None:
    # a Qwen-style template renders the state itself; the action is still our format
    from test_local_tools import NATIVE_TEMPLATE

    tok = tool_tokenizer()
    tok.chat_template = NATIVE_TEMPLATE
    traj = captured()
    prompt, text = step_examples(traj)[1].render(tok)
    assert prompt.startswith("<|im_start|>system\nNATIVE TOOL HEADER\n<tools>")
    assert text[len(prompt) :] == format_tool_call("shout", {"text": "oslo"}) + "<|im_end|>\n"
    assert sum(len(s.spans) for s in tokenize_trajectory(tok, traj)) == 3


def test_tag_protocol_examples_render_as_the_chat_template(tokenizer) -> None:
    example = step_examples(GOOD_MATH)[1]
    prompt, text = example.render(tokenizer)
    assert text == prompt + GOOD_MATH.steps[1].text + "<|im_end|>\n"
    assert "<tools>" not in prompt and example.completion == GOOD_MATH.steps[1].text


def _context(action: str, history: list[Step] = (), task: str = "", **kw) -> StepContext:
    kw.setdefault("tools", SCHEMAS)
    return StepContext("oslo", list(history), action, task, tool_calls=True, **kw)


def _done(name: str, args: dict, output: str) -> Step:
    call = {"id": "x", "name": name, "args": args, "output": output, "status": "success"}
    return Step(0, "", "tool", tool_calls=[call])


@pytest.mark.parametrize(
    ("action", "verdict"),
    [
        (format_tool_call("convert", {"amount": 2, "unit": "km"}), "good"),
        ("Two calls.\n" + format_tool_call("weather", {"city": "rome"}), "good"),
        (format_tool_call("launch", {"city": "oslo"}), "bad"),  # not a bound tool
        (format_tool_call("convert", {"amount": 2}), "bad"),  # a required key missing
        (format_tool_call("convert", {"amount": "2", "unit": "km"}), "bad"),  # a string
        (format_tool_call("convert", {"amount": True, "unit": "km"}), "bad"),  # not a number
        (format_tool_call("shout", {"text": "a", "loud": 1}), "bad"),  # an undeclared key
        ('<tool_call>\n{"name": "shout", "arguments": {"text": }\n</tool_call>', "bad"),
        ("<tool_call>\n" + '{"name": "shout", "arguments": {"text": "a"}}', "bad"),  # unclosed
        (format_tool_call("weather", {"city": "oslo"}), "bad"),  # repeats an earlier call
        (
            format_tool_call("shout", {"text": "a"}) + format_tool_call("shout", {"text": "a"}),
            "bad",
        ),
        ("OSLO is sunny", "good"),  # an answer after a tool result (a captured app's task)
        ("   ", "bad"),
    ],
)
def test_rule_judge_on_tool_call_turns(action: str, verdict: str) -> None:
    history = [_done("weather", {"city": "oslo"}, "sunny in oslo")]
    assert RuleProcessJudge().judge(_context(action, history)) == verdict


def test_rule_judge_answers_follow_the_task_rules() -> None:
    judge = RuleProcessJudge()
    history = [_done("convert", {"amount": 2, "unit": "km"}, "2000 m")]
    assert judge.judge(_context("It is 2000 metres.", history, "math")) == "good"
    assert judge.judge(_context("It is 2001 metres.", history, "math")) == "bad"
    assert judge.judge(_context("2000 m", [], "math")) == "bad"  # nothing computed yet
    found = [_done("weather", {"city": "oslo"}, "sunny in oslo")]
    assert judge.judge(_context("sunny", found, "qa")) == "good"
    assert judge.judge(_context("rainy", found, "qa")) == "bad"
    # no schemas recorded: any tool name, no argument check; a recorded invalid step stays BAD
    assert judge.judge(_context(format_tool_call("any", {"x": 1}), tools=None)) == "good"
    assert judge.judge(_context("fine", kind="invalid")) == "bad"
    # an unknown task: an answer that used none of the tools on offer is BAD, with none GOOD
    assert judge.judge(_context("It is sunny.")) == "bad"
    assert judge.judge(_context("It is sunny.", tools=[])) == "good"
    failed = _done("weather", {"city": "oslo"}, "Error: down")
    failed.tool_calls[0]["status"] = "error"
    assert judge.judge(_context("It is sunny.", [failed])) == "bad"


def test_args_fit_reads_optional_and_typed_schemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "tag": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "xs": {"type": "array"},
        },
        "required": ["n"],
    }
    assert args_fit({"n": 3, "tag": None, "xs": [1]}, schema)
    assert not args_fit({"n": 3.5}, schema) and not args_fit({"tag": "a"}, schema)
    assert not args_fit({"n": 1, "tag": 2}, schema)
    assert args_fit({"anything": 1}, {})  # no properties declared


def test_process_filter_keeps_the_captured_runs_whose_every_turn_is_good() -> None:
    runs = [captured("oslo"), captured(REPEATER), captured("rome")]
    assert {task_of(t) for t in runs} == {""}  # a captured app records no task
    contexts = step_contexts(runs[0])
    assert contexts[0].tool_calls and contexts[0].tools == SCHEMAS
    assert "<tool_call>" in contexts[0].action
    result = filter_trajectories(runs, "process", process_judge=RuleProcessJudge())
    assert [t.question for t in result.kept] == ["oslo", "rome"]
    assert result.verdicts == {"good": 8, "bad": 1}


def test_swirl_rows_of_tool_call_states_carry_the_served_prompt_and_the_tools(tokenizer) -> None:
    traj = captured()
    rows = state_rows([traj, GOOD_MATH], tokenizer)
    tool_rows, tag_rows = rows[:3], rows[3:]
    assert [json.loads(r["tools"]) for r in tool_rows] == [SCHEMAS] * 3
    assert {r["tools"] for r in tag_rows} == {""}
    examples = step_examples(traj)
    assert [r["text"] for r in tool_rows] == [e.render(tokenizer)[0] for e in examples]
    assert tag_rows[0]["text"] == tokenizer.apply_chat_template(
        tag_rows[0]["prompt"], tokenize=False, add_generation_prompt=True
    )
    reward = judge_reward(RuleProcessJudge())
    state = tool_rows[1]  # after weather(oslo) and convert(2 km)
    completions = [
        format_tool_call("shout", {"text": "oslo"}),
        format_tool_call("weather", {"city": "oslo"}),  # a repeat
        format_tool_call("shout", {"txt": "oslo"}) + "\n<tool_response>\nOSLO",
        "<answer>no</answer>",  # tags mean nothing here: a plain text answer
    ]
    batch = {k: [state[k]] * 4 for k in ("question", "history", "task", "tools")}
    assert reward(completions=completions, **batch) == [1.0, 0.0, 0.0, 1.0]


def test_cut_action_ends_a_tool_call_sample_after_its_last_block(tokenizer) -> None:
    text = format_tool_call("shout", {"text": "a"}) + "\n<tool_response>\nA</tool_response>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    cut, cut_ids = cut_action(tokenizer, ids, tool_calls=True)
    assert cut == format_tool_call("shout", {"text": "a"})
    assert tokenizer.decode(cut_ids).startswith(cut) and len(cut_ids) < len(ids)
    assert cut_action(tokenizer, ids) == (text, ids)  # a tag state: no closed tag to cut at


class Longer:  # rewards vary on a random model, so the update is not zero
    name = "longer"

    def judge_steps(self, contexts):
        assert all(c.tool_calls and c.tools == SCHEMAS for c in contexts)
        return ["good" if len(c.action) > 12 else "bad" for c in contexts]


@pytest.mark.parametrize("backend", ["native", "trl"])
def test_swirl_trains_on_tool_call_states(tmp_path, backend) -> None:
    pytest.importorskip("torch")
    if backend == "trl":
        pytest.importorskip("trl")
    from trainer.checkpoints import load_base
    from trainer.swirl import SwirlConfig, train_swirl

    config = SwirlConfig(
        max_steps=1, num_generations=2, prompts_per_step=2, max_completion_length=6, seed=1,
        backend=backend,
    )  # fmt: skip
    model, tokenizer = load_base(str(tool_model_dir(tmp_path / "tiny")), device="cpu")
    _, figures = train_swirl(model, tokenizer, [captured()], Longer(), config)
    assert figures["optimizer_steps"] == 1 and figures["states"] == 3


def test_a_tool_call_run_with_a_recorded_task_keeps_it() -> None:
    traj = replace(captured(), task="math")
    assert {e.task for e in step_examples(traj)} == {"math"}
