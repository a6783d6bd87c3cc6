"""The embedded model inside an existing ``create_agent`` app: capture its runs on a fixed task,
SFT on correct runs, and measure the valid tool-call rate before and after (slow; needs the
converted SmolLM2 in the local cache and never fetches it).

Run: ``OMP_NUM_THREADS=1 .venv/bin/pytest -m slow -s tests/test_any_agent_slow.py``.
``SWIRL_SLOW_RUNS`` (20) and ``SWIRL_SLOW_SFT_STEPS`` (8) make it smaller or larger.
"""

from __future__ import annotations

import os
import random
import re
import time

import pytest
from fakes import call, scripted, tool_turn
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from swirl_agents.traces.capture import SwirlTracer
from swirl_agents.traces.schema import Trajectory
from trainer.filters import filter_trajectories
from trainer.judges import RuleProcessJudge, args_fit

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("SWIRL_SLOW_RUNS", "20"))
SFT_STEPS = int(os.environ.get("SWIRL_SLOW_SFT_STEPS", "8"))
MAX_CALLS = 3  # model calls per run (recursion_limit: a model and a tools superstep each)


@tool
def convert(amount: float, unit: str) -> float:
    """Convert an amount in km or mile to metres."""
    return amount * {"km": 1000, "mile": 1609}[unit]


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


TOOLS = [convert, add]


def questions(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"How many metres are {rng.randint(2, 9)} km plus {rng.randint(2, 9)} miles?"
        for _ in range(n)
    ]


def correct(messages):
    """A correct run: both conversions in one turn, the sum, then the answer."""
    question = next(m for m in messages if isinstance(m, HumanMessage)).content
    km, miles = (int(x) for x in re.findall(r"(\d+) (?:km|miles)", question))
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return tool_turn(
            "I convert both distances to metres.",
            call("convert", {"amount": km, "unit": "km"}, "a"),
            call("convert", {"amount": miles, "unit": "mile"}, "b"),
        )
    if len(results) == 2:
        a, b = (float(r.content) for r in results)
        return tool_turn("Now I add them.", call("add", {"a": a, "b": b}, "c"))
    return f"{float(results[-1].content):g} metres."


def capture(model, qs: list[str]) -> list[Trajectory]:
    from langchain.agents import create_agent

    logged: list[Trajectory] = []
    app = create_agent(model, TOOLS, system_prompt="Use the tools to answer.")
    config = {
        "callbacks": [SwirlTracer(on_trace=logged.append)],
        "recursion_limit": 2 * MAX_CALLS,
        "max_concurrency": len(qs),  # one batched generate for all runs
    }
    app.batch([{"messages": [HumanMessage(q)]} for q in qs], config, return_exceptions=True)
    return logged


def valid_tool_call_rate(runs: list[Trajectory]) -> tuple[float, int]:
    """Share of model calls that are a tool-call turn whose every call parsed, names a bound
    tool and fits its schema; and the number of model calls."""
    schemas = {t.name: t.tool_call_schema.model_json_schema() for t in TOOLS}
    steps = [s for t in runs for s in t.steps]
    valid = [
        s.kind == "tool"
        and not s.error.startswith("malformed")
        and all(args_fit(c["args"], schemas[c["name"]]) for c in s.tool_calls)
        for s in steps
    ]
    return (sum(valid) / len(valid) if valid else 0.0), len(valid)


def test_valid_tool_call_rate_before_and_after_sft_on_the_embedded_model() -> None:
    from swirl_agents.models.embedded import MODEL_DIRNAME
    from swirl_agents.paths import cache_dir

    if not (cache_dir() / MODEL_DIRNAME / "config.json").is_file():
        pytest.skip("the converted SmolLM2 is not in the local cache (tests never fetch it)")
    pytest.importorskip("torch")
    from swirl_agents.models import LocalChatModel, local_model_path
    from trainer.checkpoints import load_base
    from trainer.sft import SFTConfig, train_sft

    started = time.time()
    model, tokenizer = load_base(str(local_model_path("smollm2-base")), device="cpu")
    eval_qs = questions(0, RUNS)

    def serve() -> LocalChatModel:
        return LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=64, model_name="sm")

    before_runs = capture(serve(), eval_qs)
    before, calls_before = valid_tool_call_rate(before_runs)

    # SFT data: the base model's runs the rule judge finds good all through, else correct
    # scripted runs of the same app on other questions (said in the output)
    judge = RuleProcessJudge()
    good = filter_trajectories(before_runs, "process", process_judge=judge).kept
    scripted_runs = capture(scripted(correct), questions(1, max(4, RUNS // 2)))
    data = good or filter_trajectories(scripted_runs, "process", process_judge=judge).kept
    source = "the base model's good runs" if good else "scripted correct runs"
    assert data, "no training run"
    config = SFTConfig(
        learning_rate=1e-4, max_steps=SFT_STEPS, batch_size=2, warmup_ratio=0.0, max_length=1024
    )
    figures = train_sft(model, tokenizer, data, config)

    after_runs = capture(serve(), eval_qs)
    after, calls_after = valid_tool_call_rate(after_runs)
    took = time.time() - started
    print(
        f"\nvalid tool-call rate on {RUNS} create_agent runs: before {before:.3f} "
        f"({calls_before} model calls), after {SFT_STEPS} SFT steps on {len(data)} {source} "
        f"{after:.3f} ({calls_after} model calls); SFT loss {figures['loss_first']:.3f} -> "
        f"{figures['loss_last']:.3f}; {took:.0f} s"
    )
    assert len(before_runs) == len(after_runs) == RUNS  # every run measured
    assert calls_before >= RUNS and calls_after >= RUNS
    assert 0.0 <= before <= 1.0 and 0.0 <= after <= 1.0
