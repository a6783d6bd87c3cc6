"""Two torch jobs on one machine: torch's default threads against the swirl thread policy.

    nice .venv/bin/python bench/thread_contention.py [--workload matmul|generate] [--reps 5000]

Each job is a subprocess that runs one fixed workload: ``matmul``, ``--reps`` decode-sized matrix
products (20x576 by 576x1536, SmolLM2's MLP in a 20-row decode step), or ``generate``, a 32-token
greedy generation of the embedded SmolLM2 through LocalChatModel (its engine worker applies the
policy). Four scenarios: one job alone and two jobs at once, each at torch's default threads
(one per core) and under the policy (swirl_agents.models.threads: ``cores // live jobs``, the
jobs registered in a private jobs directory). The jobs of a scenario start their timed part
together (a barrier). Per scenario: each job's threads and seconds, the wall time until the last
ends, and for matmul the GFLOP/s of all jobs together. Prints one JSON line last.

Other processes on the machine (an unregistered training run, say) are not counted by the policy
and make the figures noisy: run it on an idle machine for absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

M, K, N = 20, 576, 1536  # one decode step of 20 rows through SmolLM2's 576 -> 1536 projection
QUESTION = "A shop sells 17 boxes of 23 pens and 4 loose pens. How many pens?"


def _child(args: argparse.Namespace) -> None:
    import torch

    from swirl_agents.models import threads

    if (
        args.policy == "default"
    ):  # torch's default (one thread per core), in the engine's worker too
        os.environ[threads.ENV] = str(torch.get_num_threads())
    threads.register_job()
    if args.workload == "matmul":
        torch.manual_seed(0)
        x, w = torch.randn(M, K), torch.randn(K, N)
        for _ in range(20):  # warm-up
            x @ w
    else:
        from langchain_core.messages import HumanMessage

        from swirl_agents.models import LocalChatModel

        chat = LocalChatModel.from_pretrained(args.model_path, max_tokens=32, device="cpu")
        chat.invoke([HumanMessage("Hi")], max_tokens=2)  # warm-up: the worker starts

    barrier = Path(args.barrier)  # the timed parts of a scenario's jobs start together
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 300
    while len(list(barrier.glob("ready-*"))) < args.jobs and time.monotonic() < deadline:
        time.sleep(0.02)
    used = threads.refresh_threads(force=True)  # every job of the scenario is registered by now
    if args.workload == "matmul":
        started = time.time()
        for _ in range(args.reps):
            x @ w
        ended = time.time()
        extra = {"gflop": 2 * M * K * N * args.reps / 1e9}
    else:
        chat.engine._refresh_threads = lambda: threads.refresh_threads(force=True)  # no 5 s lag
        started = time.time()
        reply = chat.invoke([HumanMessage(QUESTION)])
        ended = time.time()
        extra = {"tokens": len(reply.response_metadata["token_ids"])}
    out = {"threads": used, "start": started, "end": ended, "seconds": ended - started}
    print(json.dumps({**out, **extra}))


def _scenario(args: argparse.Namespace, policy: str, jobs: int, model_path: str) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as barrier:
        env = {**os.environ, "SWIRL_CACHE": cache}  # only this scenario's jobs are counted
        env.pop("SWIRL_NUM_THREADS", None)
        env.pop("OMP_NUM_THREADS", None)
        cmd = [sys.executable, __file__, "--child", "--policy", policy, "--jobs", str(jobs)]
        cmd += ["--barrier", barrier, "--workload", args.workload, "--reps", str(args.reps)]
        cmd += ["--model-path", model_path]
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(jobs)
        ]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    figures = {
        "threads": [o["threads"] for o in outs],
        "seconds": [round(o["seconds"], 3) for o in outs],
        "wall_s": round(max(o["end"] for o in outs) - min(o["start"] for o in outs), 3),
    }
    if args.workload == "matmul":
        figures["gflops_total"] = round(sum(o["gflop"] for o in outs) / figures["wall_s"], 2)
    print(f"{policy:8s} x{jobs}: {figures}", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["matmul", "generate"], default="matmul")
    parser.add_argument("--reps", type=int, default=5000, help="matrix products per job (matmul)")
    parser.add_argument(
        "--model", default=None, help="generate: a model directory (default smollm2)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", choices=["default", "swirl"], help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    model_path = ""
    if args.workload == "generate":
        from swirl_agents.models import local_model_path

        model_path = str(
            local_model_path(args.model)
        )  # fetched and converted once, before any timing
    scenarios = {
        f"{policy}_{jobs}": _scenario(args, policy, jobs, model_path)
        for policy in ("default", "swirl")
        for jobs in (1, 2)
    }
    summary = {
        "workload": args.workload,
        "reps": args.reps if args.workload == "matmul" else None,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "scenarios": scenarios,
        # wall time of two jobs at once over one job alone (2.0: no contention loss, one at a time)
        "two_over_one": {
            p: round(scenarios[f"{p}_2"]["wall_s"] / scenarios[f"{p}_1"]["wall_s"], 2)
            for p in ("default", "swirl")
        },
        # two jobs at once: the default's wall time over the policy's (above 1: the policy wins)
        "two_jobs_speedup": round(
            scenarios["default_2"]["wall_s"] / scenarios["swirl_2"]["wall_s"], 2
        ),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
