"""``swirl traces``: show, stats, export, import and delete trajectory records.

Commands that only read a store (show, stats, export, delete) refuse a store path that does not
exist (one line, exit 2) and never create one; ``import`` creates it.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import closing
from typing import Annotated, Any

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
from swirl_agents.errors import SwirlError, UsageError

traces_app = typer.Typer(
    name="traces", help="Inspect and move trajectory records.", no_args_is_help=True
)

SourceOpt = Annotated[
    str | None, typer.Option("--source", help="generated, production, annotation or eval.")
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Only this split.")]
OutcomeOpt = Annotated[str | None, typer.Option("--outcome", help="answered, no_answer or failed.")]
BatchOpt = Annotated[
    str | None,
    typer.Option("--batch", help="Only the records of this import batch (see `traces import`)."),
]


def _open(store: str | None, *, create: bool = False):
    """The store; one that does not exist is refused (exit 2) unless ``create``."""
    from swirl_agents.traces.store import open_store

    return closing(open_store(store_path(store), must_exist=not create))


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
    batch: BatchOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts by source, outcome and dataset; mean steps; valid-action rate; accuracy."""
    with _open(store) as s:
        figures = s.stats(
            source=source, dataset=dataset, split=split, outcome=outcome, import_batch=batch
        )
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
    batch: BatchOpt = None,
    limit: LimitOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="swirl: one trajectory record per line; openai: one chat "
            '{"messages": [...], "tools": [...]} per line (OpenAI fine-tuning, TRL).',
        ),
    ] = "swirl",
    tool_arguments: Annotated[
        str,
        typer.Option(
            "--tool-arguments",
            help="With --format openai: tool-call arguments as a JSON 'string' (OpenAI) or "
            "an 'object' (Hugging Face chat templates).",
        ),
    ] = "string",
    as_json: JsonOpt = False,
) -> None:
    """Write records (optionally filtered) to a JSONL file, one record (or chat) per line."""
    from swirl_agents.traces.formats import EXPORT_FORMATS, write_openai
    from swirl_agents.traces.jsonl import write_jsonl

    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if tool_arguments not in ("string", "object"):
        raise UsageError(f"--tool-arguments must be string or object, got {tool_arguments!r}")
    filters = {"source": source, "dataset": dataset, "split": split, "outcome": outcome}
    with _open(store) as s:
        records = s.iter(limit=limit, import_batch=batch, **filters)
        if fmt == "openai":
            n = write_openai(out, records, arguments=tool_arguments)
        else:
            n = write_jsonl(out, records)
    if as_json:
        print_json({"exported": n, "out": out, "format": fmt})
    else:
        typer.echo(f"exported {n} records to {out}")


@traces_app.command("import")
@cli_errors
def import_(
    path: Annotated[
        str, typer.Argument(help="A JSONL file: trajectory records, chats or LangSmith runs.")
    ],
    store: StoreOpt = None,
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="The import batch id to record (default: a new one)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help='swirl (trajectory records), openai (chats {"messages": [...], '
            '"tools": [...]}), langsmith (a run export), or auto: detected from the file.',
        ),
    ] = "auto",
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Set the source of every imported record (default: a record's own; "
            "production for chats and LangSmith runs).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the trajectories of a file to the store (created if needed).

    Formats (--format, detected by default): our trajectory records (one per line); OpenAI-format
    chat logs, one chat per line, each one trajectory (the first user message is the question,
    each assistant turn a step with its tool calls and results); LangSmith run exports (JSONL or
    a JSON array of runs), one trajectory per trace.

    Each line is imported whole or not at all. A line that is not UTF-8, not JSON, or not a
    trajectory record (the required fields question, steps, outcome with their types, and at least
    one step unless the outcome is failed; a question/answer dataset line is not a record) is
    reported with its line number and skipped; every valid line still imports, and the command
    then exits 1. Each added record gets metadata["import_batch"]: undo a wrong import with
    `swirl traces delete --batch ID --yes`.
    """
    from swirl_agents.traces.formats import detect_format, iter_file
    from swirl_agents.traces.jsonl import LineError

    batch = batch or f"import-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    errors: list[LineError] = []
    # fails on a missing file, a bad format or source before a store is made
    records = iter_file(path, fmt, errors=errors, source=source)
    fmt = detect_format(path) if fmt == "auto" else fmt
    with _open(store, create=True) as s:
        read = added = 0
        pending = []
        for traj in records:
            traj.metadata = {**traj.metadata, "import_batch": batch, "imported_from": path}
            pending.append(traj)
            if len(pending) >= 500:
                read, added, pending = read + len(pending), added + s.add_many(pending), []
        read, added = read + len(pending), added + s.add_many(pending)
    for error in errors:
        eprint(f"skipped {error}")
    summary = {
        "read": read,
        "added": added,
        "duplicates": read - added,
        "malformed": len(errors),
        "errors": [str(e) for e in errors],
        "batch": batch,
        "store": store_path(store),
        "format": fmt,
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(
            f"imported {added} new records from {path} ({fmt}) into {store_path(store)} "
            f"({read - added} already there, {len(errors)} malformed lines skipped); "
            f"batch {batch}"
        )
    if errors:
        raise typer.Exit(1)


@traces_app.command("delete")
@cli_errors
def delete(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Ids of the records to delete.", show_default=False)
    ] = None,
    store: StoreOpt = None,
    source: SourceOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    outcome: OutcomeOpt = None,
    batch: BatchOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete what the filters match without asking.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say how many records would be deleted.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete records by id, or every record matching filters (e.g. --batch of a wrong import).

    Deleting by filters (a bulk delete) asks first on a terminal and needs --yes otherwise;
    deleting ids never asks. Exits 1 when a given id is not in the store (the others are deleted).
    """
    filters: dict[str, Any] = {
        "source": source,
        "dataset": dataset,
        "split": split,
        "outcome": outcome,
        "import_batch": batch,
    }
    chosen = {k: v for k, v in filters.items() if v is not None}
    if ids and chosen:
        raise UsageError("give record ids or filters (--source, --batch, ...), not both")
    if not ids and not chosen:
        raise UsageError(
            "nothing to delete: give record ids, or filters such as --batch ID or --source S"
        )
    where = store_path(store)
    with _open(store) as s:
        if ids:
            targets = list(dict.fromkeys(ids))
            found = s.existing(targets)
            missing = [i for i in targets if i not in found]
            targets = [i for i in targets if i in found]
        else:
            targets, missing = s.ids(**chosen), []
            described = " ".join(
                f"--{'batch' if k == 'import_batch' else k} {v}" for k, v in chosen.items()
            )
            if targets and not yes and not dry_run:
                if not _interactive():
                    raise UsageError(
                        f"{_records(len(targets))} match {described} in {where}: "
                        "pass --yes to delete them (or --dry-run to only count them)"
                    )
                if not typer.confirm(
                    f"delete {_records(len(targets))} matching {described} from {where}?", err=True
                ):
                    eprint("nothing deleted")
                    raise typer.Exit(1)
        deleted = 0 if dry_run else s.delete(targets)
    summary = {
        "deleted": deleted,
        "matched": len(targets),
        "not_found": missing,
        "dry_run": dry_run,
        "store": where,
    }
    if as_json:
        print_json(summary)
    elif dry_run:
        typer.echo(f"would delete {_records(len(targets))} from {where} (dry run: nothing deleted)")
    else:
        typer.echo(f"deleted {_records(deleted)} from {where}")
    if missing:
        eprint(f"not in {where}: {', '.join(missing)}")
        raise typer.Exit(1)


def _interactive() -> bool:
    """Whether a person can answer a confirmation (scripts and pipes need --yes)."""
    return sys.stdin.isatty()


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def register(app: typer.Typer) -> None:
    app.add_typer(traces_app)
