"""``swirl eval``: run the agent on a dataset split, grade it, store the runs, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swirl_agents.cli.common import (
    BaseUrlOpt,
    JsonOpt,
    LimitOpt,
    ModelOpt,
    OffsetOpt,
    StoreOpt,
    check_model,
    cli_errors,
    print_json,
    store_path,
)
from swirl_agents.errors import UsageError


@cli_errors
def eval_command(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="gsm8k, hotpotqa, or a JSONL file with question/answer (and optional aliases: "
            "a list of other accepted answers).",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="test (GSM8K), eval (HotPotQA), ...")
    ] = "test",
    limit: LimitOpt = None,
    offset: OffsetOpt = 0,
    model: ModelOpt = "smollm2",
    base_url: BaseUrlOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Runs in flight.")] = 16,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Step budget (default: math 10, qa 5).")
    ] = None,
    grader: Annotated[
        str,
        typer.Option(
            "--grader",
            help="rule (default), or a model spec for an LLM grader (the same grader and verdict "
            "cache as swirl filter --judge).",
        ),
    ] = "rule",
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus",
            help='QA: the JSONL corpus ({"id", "title", "text"} per line) the search tool and '
            "recall@5 use (default: the HotPotQA union corpus).",
        ),
    ] = None,
    store: StoreOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the runs.")] = False,
    report: Annotated[
        str | None, typer.Option("--report", help="Write results, summary and plots to DIR.")
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            help="Compare two per-question outcome files (A.jsonl B.jsonl, as --report writes "
            "them) paired on question_id: B - A with its 95% interval and the exact McNemar p.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model on a dataset split; every run is stored as a trace (source "eval")."""
    if compare:
        _compare(*compare, as_json=as_json)
        return
    if dataset is None:
        raise UsageError("--dataset is required (or --compare A.jsonl B.jsonl)")
    from swirl_agents.datasets import canonical_names, default_tools, load_questions, task_for
    from swirl_agents.evaluate import evaluate_dataset

    dataset, split = canonical_names(dataset, split)  # GSM8K / Test, as generate takes them
    load_questions(dataset, split, limit=1)  # a bad --dataset/--split fails before anything opens
    check_model(model, base_url)  # a bad --model fails before the store is opened or created
    if grader != "rule":
        check_model(grader, flag="--grader")
    if corpus is not None:
        if "corpus" not in default_tools(task_for(dataset)):
            raise UsageError(f"--corpus is for QA datasets; {dataset} is a math dataset")
        if not Path(corpus).is_file():
            raise UsageError(f"corpus not found: {corpus}")
    trace_store = None
    if not no_store:
        from swirl_agents.traces.store import open_store

        trace_store = open_store(store_path(store))
    result = evaluate_dataset(
        dataset,
        split,
        model=model,
        base_url=base_url,
        limit=limit,
        offset=offset,
        max_steps=max_steps,
        concurrency=concurrency,
        store=trace_store,
        grader=grader,
        corpus_path=corpus,
    )
    summary = result.summary
    if report:
        from swirl_agents.report import write_report

        paths = write_report(result, report)
        summary["report"] = str(paths["summary_md"].parent)
    if as_json:
        print_json(summary)
        return
    low, high = summary["accuracy_ci95"]
    typer.echo(
        f"{summary['model']} on {summary['dataset']}/{summary['split']}: "
        f"accuracy {summary['accuracy']:.1%} [{low:.1%}, {high:.1%}] (n={summary['n']}), "
        f"valid actions {summary['valid_action_rate']:.1%}, mean steps {summary['mean_steps']:.2f}"
    )
    if summary.get("task") == "qa":
        recall = summary.get("recall_at_5")
        typer.echo(
            f"F1 {summary['f1']:.1%}, recall@5 " + ("-" if recall is None else f"{recall:.1%}")
        )
    if report:
        typer.echo(f"report: {summary['report']}")


def _compare(a: str, b: str, *, as_json: bool) -> None:
    from swirl_agents.compare import compare_outcomes

    c = compare_outcomes(a, b)
    if as_json:
        print_json(c)
        return
    low, high = c["diff_ci95"]
    typer.echo(
        f"n={c['n']} paired: A {c['a_accuracy']:.1%}, B {c['b_accuracy']:.1%}, "
        f"B - A {c['diff']:+.1%} [{low:+.1%}, {high:+.1%}], exact McNemar p = {c['p_value']:.3g} "
        f"(only A right {c['a_only_correct']}, only B right {c['b_only_correct']})"
    )


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
