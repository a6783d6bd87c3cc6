"""Trace store writes per second with several writer processes, checking the final count.

    .venv/bin/python bench/store_writes.py [--procs 8] [--per-proc 1000] [--repeats 3] [--store URL]

Each process writes ``--per-proc`` realistic records (5 steps, a few hundred characters each)
into one store (a new SQLite file each repeat; with ``--store postgresql://...``, that database's
table, emptied before each repeat: e.g. under ``SWIRL_PG_DURABLE=1 .ci/with-postgres``), either one transaction per record (``add``: what the agent's logging does)
or in batches (``add_many``). Prints one JSON line last: median traces/s per mode.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

from swirl_agents.traces import Step, Trajectory, open_store


def record(worker: int, i: int) -> Trajectory:
    steps = [
        Step(k, f"Thought {k}: work out the next quantity. <math_exp>{k}*12+7</math_exp>", "math",
             f"{k}*12+7", f"{k}*12+7 -> {k * 12 + 7}", "calculator", model="bench", duration_s=0.1)
        for k in range(4)
    ]  # fmt: skip
    steps.append(Step(4, "So the answer is 55. <answer>55</answer>", "answer", "55"))
    return Trajectory(
        question="A toy question about apples and oranges that needs a few steps? " * 3,
        steps=steps,
        answer="55",
        outcome="answered",
        gold_answer="55",
        correct=True,
        source="generated",
        dataset="bench",
        split="train",
        question_id=f"q{worker}-{i}",
        id=f"w{worker}-{i}",
    )


def writer(path: str, worker: int, n: int, batch: int, start) -> None:
    store = open_store(path)
    records = [record(worker, i) for i in range(n)]
    start.wait()
    if batch <= 1:
        for r in records:
            store.add(r)
    else:
        for i in range(0, n, batch):
            store.add_many(records[i : i + batch])
    store.close()


def once(procs: int, per_proc: int, batch: int, url: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = url or str(Path(tmp) / "bench.db")
        open_store(path).close()
        if url:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE trajectories")
        ctx = mp.get_context("fork")
        start = ctx.Barrier(procs + 1)
        workers = [
            ctx.Process(target=writer, args=(path, w, per_proc, batch, start)) for w in range(procs)
        ]
        for p in workers:
            p.start()
        start.wait()  # every process has built its records: time the writes only
        t0 = time.perf_counter()
        for p in workers:
            p.join()
        elapsed = time.perf_counter() - t0
        if any(p.exitcode for p in workers):
            sys.exit("a writer process failed")
        with open_store(path) as store:
            count = store.count()
        if count != procs * per_proc:
            sys.exit(f"count mismatch: {count} != {procs * per_proc}")
        return procs * per_proc / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--per-proc", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="records per add_many transaction")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", help="a postgresql:// URL (default: a new SQLite file)")
    args = parser.parse_args()
    result: dict[str, object] = {
        "store": "postgres" if args.store else "sqlite",
        "procs": args.procs,
        "per_proc": args.per_proc,
        "batch": args.batch,
    }
    for mode, batch in (("add", 1), ("add_many", args.batch)):
        rates = [once(args.procs, args.per_proc, batch, args.store) for _ in range(args.repeats)]
        print(f"{mode}: {', '.join(f'{r:,.0f}' for r in rates)} traces/s", file=sys.stderr)
        result[f"{mode}_traces_per_s"] = round(statistics.median(rates))
    result["count_checked"] = True
    result["goal_traces_per_s"] = 2000
    print(json.dumps(result))


if __name__ == "__main__":
    main()
