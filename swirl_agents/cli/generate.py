"""``swirl generate``: fill the trace store with synthetic trajectories (or annotation ones)."""

from __future__ import annotations

from typing import Annotated

import typer

from swirl_agents.cli.common import (
    BaseUrlOpt,
    DatasetOpt,
    JsonOpt,
    LimitOpt,
    ModelOpt,
    OffsetOpt,
    StoreOpt,
    build_model,
    check_model,
    cli_errors,
    eprint,
    print_json,
    store_path,
)
from swirl_agents.errors import UsageError


@cli_errors
def generate_command(
    dataset: DatasetOpt,
    split: Annotated[
        str, typer.Option("--split", help="train / test (gsm8k), train / eval (hotpotqa).")
    ] = "train",
    limit: LimitOpt = None,
    offset: OffsetOpt = 0,
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Runs per question (the paper: 5).")
    ] = 5,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Runs in flight at once.")
    ] = 8,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature.")
    ] = 0.7,
    model: ModelOpt = "smollm2",
    base_url: BaseUrlOpt = None,
    store: StoreOpt = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Step budget (default: math 10, qa 5).")
    ] = None,
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools", help="Comma-separated: calculator, corpus, wikipedia (default by task)."
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries per model call on rate limits and 5xx.")
    ] = 5,
    rps: Annotated[
        float | None,
        typer.Option("--rps", min=0.001, help="Limit model requests per second (remote APIs)."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again the pairs whose stored run failed.")
    ] = False,
    from_annotations: Annotated[
        bool,
        typer.Option(
            "--from-annotations",
            help="Convert GSM8K worked solutions / HotPotQA supporting titles instead of running a model.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate trajectories for a dataset split into the trace store; a rerun resumes."""
    from swirl_agents.datasets import canonical_names
    from swirl_agents.traces.store import open_store

    dataset, split = canonical_names(dataset, split)  # GSM8K --split Test: gsm8k test
    if from_annotations:
        from swirl_agents.bootstrap import bootstrap

        result = bootstrap(dataset, split, limit=limit, offset=offset)  # a bad --dataset fails here
        summary = result.summary()
        trace_store = open_store(store_path(store))  # opened once the arguments are known good
        try:
            summary["added"] = trace_store.add_many(result.trajectories)
        finally:
            trace_store.close()
    else:
        from swirl_agents.datasets import default_max_steps, default_tools, load_questions, task_for
        from swirl_agents.tools import load_tools

        # Every argument is checked before the store opens and the model loads (which takes
        # seconds for the embedded one): a typo fails at once.
        task = task_for(dataset)
        questions = load_questions(dataset, split, limit=limit, offset=offset)
        if not questions:
            raise UsageError(f"no questions in {dataset} {split}")
        check_model(model, base_url)
        tool_list = load_tools(tools.split(",") if tools else default_tools(task))
        if not tool_list:
            raise UsageError("--tools names no tool")
        if samples > 1 and temperature == 0:
            eprint(
                "note: --temperature 0 decodes greedily: the samples of a question will be identical"
            )
        extra = {}
        if rps:
            from langchain_core.rate_limiters import InMemoryRateLimiter

            extra["rate_limiter"] = InMemoryRateLimiter(requests_per_second=rps)
        from swirl_agents.generate import generate, retry_policy

        trace_store = open_store(store_path(store))  # a bad --store fails before the model loads
        try:
            report = generate(
                build_model(model, base_url, temperature=temperature, **extra),
                questions,
                store=trace_store,
                tools=tool_list,
                task=task,
                max_steps=max_steps or default_max_steps(task),
                samples=samples,
                concurrency=concurrency,
                retry=retry_policy(max_attempts=retries + 1),
                retry_failed=retry_failed,
                metadata={"temperature": temperature, "model_spec": model},
            )
        finally:
            trace_store.close()
        summary = report.summary()
    summary["store"] = store_path(store)
    if as_json:
        print_json(summary)
    elif from_annotations:
        skipped = ", ".join(f"{k} {v}" for k, v in summary["skipped"].items()) or "none"
        typer.echo(
            f"{summary['converted']}/{summary['total']} converted, {summary['added']} new in "
            f"{summary['store']}; skipped: {skipped}"
        )
    else:
        typer.echo(
            f"{summary['done']} runs ({summary['skipped']} already stored, {summary['failed']} failed), "
            f"{summary['correct']} correct, {summary['runs_per_s']:.2f} runs/s -> {summary['store']}"
        )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
