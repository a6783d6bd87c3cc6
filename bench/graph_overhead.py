"""Per-step overhead of the SWiRL graph vs LangGraph's prebuilt ReAct agents, on zero-latency fakes.

Every agent runs the same task: ``steps - 1`` tool calls to the same no-op tool, then an answer,
so each makes ``steps`` model calls and ``steps - 1`` tool calls. The fakes answer instantly,
so the time per step is the graph's own overhead (state updates, routing, callbacks, parsing).
Agents are timed interleaved, round after round, and the median round is quoted.

    .venv/bin/python bench/graph_overhead.py [--steps 10] [--repeats 40]

The last line printed is one JSON object:
``{"ours_ms_per_step", "react_ms_per_step", "ratio", "create_agent_ms_per_step", ...}``
where ``ratio`` is ours / ``langgraph.prebuilt.create_react_agent``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool
from tqdm import tqdm

from swirl_agents import create_swirl_agent


def noop(expression: str) -> str:
    """The tool every agent calls: no work, so only the graph is timed."""
    return "2"


TOOL = StructuredTool.from_function(
    noop, name="calculator", description="Evaluate.", metadata={"swirl_tag": "math_exp"}
)


class TaggedFake(BaseChatModel):
    """Writes the SWiRL protocol: ``steps - 1`` calculator tags, then an answer."""

    steps: int

    @property
    def _llm_type(self) -> str:
        return "tagged-fake"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
        done = sum(isinstance(m, AIMessage) for m in messages)
        text = "<math_exp>1+1</math_exp>" if done < self.steps - 1 else "<answer>2</answer>"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


class ToolCallingFake(BaseChatModel):
    """Native tool calling: ``steps - 1`` tool calls, then a plain answer."""

    steps: int

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, **kw: Any) -> ToolCallingFake:
        return self

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if done < self.steps - 1:
            call = {"name": "calculator", "args": {"expression": "1+1"}, "id": f"c{done}"}
            msg = AIMessage("", tool_calls=[call])
        else:
            msg = AIMessage("2")
        return ChatResult(generations=[ChatGeneration(message=msg)])


def build_agents(steps: int) -> dict[str, Callable[[], Any]]:
    """One zero-argument runner per agent; each checks its run took ``steps`` model calls."""
    from langchain.agents import create_agent

    with warnings.catch_warnings():  # create_react_agent is deprecated in favour of create_agent
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

        react = create_react_agent(ToolCallingFake(steps=steps), [TOOL])
    ours = create_swirl_agent(TaggedFake(steps=steps), [TOOL], max_steps=steps)
    lc_agent = create_agent(ToolCallingFake(steps=steps), [TOOL])
    question = {"messages": [("user", "What is 1+1?")]}

    def run_ours() -> None:
        out = ours.invoke({"question": "What is 1+1?"})
        assert out["answer"] == "2" and len(out["steps"]) == steps, out

    def run_react() -> None:
        out = react.invoke(question)
        assert out["messages"][-1].content == "2" and len(out["messages"]) == 2 * steps

    def run_create_agent() -> None:
        out = lc_agent.invoke(question)
        assert out["messages"][-1].content == "2" and len(out["messages"]) == 2 * steps

    return {"ours": run_ours, "react": run_react, "create_agent": run_create_agent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="model calls per run")
    parser.add_argument("--repeats", type=int, default=40, help="timed rounds (median quoted)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    args = parser.parse_args()

    agents = build_agents(args.steps)
    times: dict[str, list[float]] = {name: [] for name in agents}
    for round_ in tqdm(range(args.warmup + args.repeats), desc="rounds", file=sys.stderr):
        for name, run in agents.items():
            gc.collect()
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            if round_ >= args.warmup:
                times[name].append(elapsed)

    ms = {name: 1000 * statistics.median(t) / args.steps for name, t in times.items()}
    for name, value in ms.items():
        print(
            f"{name:>13}: {value:.3f} ms per step (median of {args.repeats} runs of "
            f"{args.steps} steps)",
            file=sys.stderr,
        )
    result = {
        "ours_ms_per_step": round(ms["ours"], 4),
        "react_ms_per_step": round(ms["react"], 4),
        "ratio": round(ms["ours"] / ms["react"], 3),
        "create_agent_ms_per_step": round(ms["create_agent"], 4),
        "ratio_vs_create_agent": round(ms["ours"] / ms["create_agent"], 3),
        "steps": args.steps,
        "repeats": args.repeats,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
