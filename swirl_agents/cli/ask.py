"""``swirl ask QUESTION``: run the agent once and show its steps and answer."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from swirl_agents.cli.common import (
    BaseUrlOpt,
    JsonOpt,
    ModelOpt,
    build_model,
    check_model,
    cli_errors,
    eprint,
    print_json,
)
from swirl_agents.errors import UsageError, endpoint_error


@cli_errors
def ask_command(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    model: ModelOpt = "smollm2",
    base_url: BaseUrlOpt = None,
    tools: Annotated[
        str, typer.Option("--tools", help="Comma-separated: calculator, corpus, wikipedia.")
    ] = "calculator",
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", min=1, help="Step budget (default: 10 with only the calculator, else 5)."
        ),
    ] = None,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature (0: greedy).")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION with the SWiRL agent, printing each step (stderr) and the answer (stdout)."""
    from swirl_agents.tools import load_tools

    # Every argument is checked before the model loads (seconds for the embedded one).
    if not question.strip():
        raise UsageError("the question is empty")
    check_model(model, base_url)
    tool_list = load_tools(tools)
    if not tool_list:
        raise UsageError("--tools names no tool")
    only_math = [t.name for t in tool_list] == ["calculator"]
    steps_budget = max_steps or (10 if only_math else 5)
    from swirl_agents.agent import create_swirl_agent

    chat_model = build_model(model, base_url, temperature=temperature)
    graph = create_swirl_agent(
        chat_model, tool_list, max_steps=steps_budget, task="math" if only_math else "qa"
    )

    final: dict[str, Any] = {}
    try:
        for mode, chunk in graph.stream({"question": question}, stream_mode=["updates", "values"]):
            if mode == "values":
                final = chunk
            elif not as_json:
                _show(chunk)
    except Exception as exc:
        if (err := endpoint_error(exc, chat_model)) is None:
            raise
        raise err from exc  # one line naming the endpoint (cli_errors), not a traceback
    result = {
        "question": final.get("question", question),
        "answer": final.get("answer"),
        "outcome": final.get("outcome"),
        "steps": [s.to_dict() for s in final.get("steps", [])],  # the records, as JSON
        "model": model,
        "tools": [t.name for t in tool_list],
        "max_steps": steps_budget,
    }
    if as_json:
        print_json(result)
    elif result["answer"] is None:
        eprint(f"no answer within {steps_budget} steps")
    else:
        print(result["answer"], flush=True)


def _show(update: dict[str, Any]) -> None:
    """Print a node's update as it happens: a model step, or a tool result."""
    for node, change in update.items():
        steps = (change or {}).get("steps")
        if not steps:
            continue
        step = steps[-1]
        if node == "agent":
            eprint(f"[{step.index + 1}] {' '.join(step.text.split())}")
            if step.kind == "invalid":
                eprint(f"    invalid: {step.error}")
        elif node == "tools":
            eprint(f"    {step.tool}: {step.observation}")


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
