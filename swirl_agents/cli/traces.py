"""``swirl traces``: show, stats, export and import trajectory records."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from swirl_agents.cli.common import (
    JsonOpt,
    LimitOpt,
    StoreOpt,
    cli_errors,
    eprint,
    print_json,
    store_path,
)
from swirl_agents.errors import SwirlError

traces_app = typer.Typer(
    name="traces", help="Inspect and move trajectory records.", no_args_is_help=True
)

SourceOpt = Annotated[
    str | None, typer.Option("--source", help="generated, production, annotation or eval.")
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Only this split.")]
OutcomeOpt = Annotated[str | None, typer.Option("--outcome", help="answered, no_answer or failed.")]


def _open(store: str | None):
    from swirl_agents.traces.store import open_store

    return closing(open_store(store_path(store)))


@traces_app.command("show")
@cli_errors
def show(
    id: Annotated[str, typer.Argument(help="The record id.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one record: the conversation step by step, or the JSON record with --json."""
    with _open(store) as s:
        traj = s.get(id)
    if traj is None:
        raise SwirlError(f"no record {id!r} in {store_path(store)}")
    if as_json:
        print_json(traj.to_dict())
        return
    typer.echo(
        f"id: {traj.id}  source: {traj.source}  model: {traj.model}  outcome: {traj.outcome}"
    )
    typer.echo(
        f"dataset: {traj.dataset}/{traj.split}  question_id: {traj.question_id}  sample: {traj.sample}"
    )
    typer.echo(f"question: {traj.question}")
    for step in traj.steps:
        typer.echo(f"--- step {step.index} [{step.kind}] {step.duration_s:.2f}s")
        typer.echo(step.text)
        if step.observation is not None:
            typer.echo(f">>> {step.observation}")
    typer.echo(f"answer: {traj.answer}  gold: {traj.gold_answer}  correct: {traj.correct}")
    if traj.error:
        typer.echo(f"error: {traj.error}")


@traces_app.command("stats")
@cli_errors
def stats(
    store: StoreOpt = None,
    source: SourceOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    outcome: OutcomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by source, outcome and dataset; mean steps; valid-action rate; accuracy."""
    with _open(store) as s:
        figures = s.stats(source=source, dataset=dataset, split=split, outcome=outcome)
    figures["store"] = store_path(store)
    if as_json:
        print_json(figures)
        return
    typer.echo(f"{figures['total']} trajectories in {figures['store']}")
    for key in ("by_source", "by_outcome", "by_dataset"):
        typer.echo(
            f"  {key[3:]}: " + (", ".join(f"{k} {v}" for k, v in figures[key].items()) or "-")
        )
    typer.echo(f"  mean steps: {figures['mean_steps']:.2f}")
    typer.echo(f"  valid-action rate: {figures['valid_action_rate']:.1%} of model calls")
    if figures["accuracy"] is not None:
        typer.echo(f"  accuracy: {figures['accuracy']:.1%} of {figures['graded']} graded")


@traces_app.command("export")
@cli_errors
def export(
    out: Annotated[str, typer.Argument(help="The JSONL file to write.")],
    store: StoreOpt = None,
    source: SourceOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    outcome: OutcomeOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write records (optionally filtered) to a JSONL file, one record per line."""
    from swirl_agents.traces.jsonl import write_jsonl

    with _open(store) as s:
        n = write_jsonl(
            out, s.iter(limit=limit, source=source, dataset=dataset, split=split, outcome=outcome)
        )
    if as_json:
        print_json({"exported": n, "out": out})
    else:
        typer.echo(f"exported {n} records to {out}")


@traces_app.command("import")
@cli_errors
def import_(
    path: Annotated[str, typer.Argument(help="A JSONL file of records.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the records of a JSONL file to the store; malformed lines are reported and skipped."""
    from swirl_agents.traces.jsonl import LineError, iter_jsonl

    errors: list[LineError] = []
    with _open(store) as s:
        read = added = 0
        batch = []
        for traj in iter_jsonl(path, errors=errors):
            batch.append(traj)
            if len(batch) >= 500:
                read, added, batch = read + len(batch), added + s.add_many(batch), []
        read, added = read + len(batch), added + s.add_many(batch)
    for error in errors:
        eprint(f"skipped {error}")
    summary = {"read": read, "added": added, "duplicates": read - added, "malformed": len(errors)}
    if as_json:
        print_json(summary | {"errors": [str(e) for e in errors]})
    else:
        typer.echo(
            f"imported {added} new records from {path} ({read - added} already there, "
            f"{len(errors)} malformed lines skipped)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(traces_app)
