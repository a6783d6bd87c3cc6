"""How many torch threads a job runs, so that jobs sharing a machine do not thrash.

torch starts one thread per core in every process. Two such processes on one machine
oversubscribe it, and OpenMP threads that wait for each other at every barrier lose far more
than half: measured on 2 cores beside another torch process, a decode-sized matrix product
(20x576 by 576x1536) ran at 1.3 GFLOP/s with 2 threads and 7.0 GFLOP/s with 1, and a 32-token
SmolLM2 generation took 11.3 s against 3.1 s. ``bench/thread_contention.py`` (two jobs of 5,000
such products at once, on 2 cores shared with a training run): 23.5 s at torch's default 2
threads each, 4.0 s under this policy (1 each). The policy:

- ``$SWIRL_NUM_THREADS`` (a positive integer) wins when set;
- otherwise the usable cores (CPU affinity, a cgroup v2 CPU quota, ``$OMP_NUM_THREADS`` as a
  cap) are shared evenly by the live swirl torch jobs on this machine:
  ``max(1, usable_cores() // live_jobs())``.

A job is a process that called :func:`claim_threads` or :func:`register_job` (the local model's
engine does when it is built; the trainers at start). It leaves a pid file under
``cache_dir()/jobs/`` that it removes at exit; the files of dead processes (killed, crashed, or a
pid reused by another process) are ignored and removed by whoever counts next.

``torch.set_num_threads`` applies to the OpenMP thread that calls it, so the policy is applied in
the thread that runs the forward passes: :func:`refresh_threads` (cheap; it looks at the jobs
again at most every :data:`RECHECK_S` seconds) is called by the engine's worker before each step,
so a job slows down when another starts and speeds up when it ends.
"""

from __future__ import annotations

import atexit
import math
import os
import socket
import threading
import time
from pathlib import Path

from swirl_agents.errors import UsageError
from swirl_agents.paths import cache_dir

ENV = "SWIRL_NUM_THREADS"
RECHECK_S = 5.0  # how often a running job looks at the other jobs again

_HOST = socket.gethostname().replace("-", "_") or "host"
_lock = threading.Lock()
_registered: dict[Path, int] = {}  # pid files written, with the pid that wrote each
_local = threading.local()  # per thread: (monotonic time of the last check, threads applied)


def jobs_dir() -> Path:
    """Where the live jobs of this machine leave their pid files (``cache_dir()/jobs``)."""
    path = cache_dir() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, a cgroup quota, ``$OMP_NUM_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    omp = _positive_int(os.environ.get("OMP_NUM_THREADS"))
    if omp is not None:
        cores = min(cores, omp)
    return max(1, cores)


def live_jobs(directory: Path | None = None) -> int:
    """How many registered jobs of this machine are alive (stale pid files are removed)."""
    directory = directory or jobs_dir()
    alive = 0
    for path in directory.glob(f"{_HOST}-*.pid"):
        try:
            pid = int(path.stem.rsplit("-", 1)[1])
            token = path.read_text().strip()
        except (ValueError, OSError):  # a foreign name, or removed while we looked
            continue
        if _alive(pid, token):
            alive += 1
        else:
            path.unlink(missing_ok=True)
    return alive


def policy_threads() -> int:
    """The torch threads a job should run now (``$SWIRL_NUM_THREADS``, else its share of cores)."""
    value = os.environ.get(ENV, "").strip()
    if value:
        threads = _positive_int(value)
        if threads is None:
            raise UsageError(f"${ENV} must be a positive integer, got {value!r}")
        return threads
    return max(1, usable_cores() // max(1, live_jobs()))


def register_job() -> Path:
    """Count this process as a torch job of this machine until it exits (idempotent)."""
    pid = os.getpid()
    path = jobs_dir() / f"{_HOST}-{pid}.pid"
    with _lock:
        if _registered.get(path) == pid and path.exists():
            return path
        tmp = path.with_suffix(".tmp")
        tmp.write_text(_start_time(pid) or "")
        os.replace(tmp, path)  # readers never see a half-written file
        if not _registered:
            atexit.register(_release)
        _registered[path] = pid
        return path


def refresh_threads(*, force: bool = False) -> int:
    """Apply the policy to the calling thread; it looks again only every RECHECK_S seconds.

    Returns the number of torch threads the calling thread now runs.
    """
    now = time.monotonic()
    checked, threads = getattr(_local, "state", (None, 0))
    if not force and checked is not None and now - checked < RECHECK_S:
        return threads
    threads = policy_threads()
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _local.state = (now, threads)
    return threads


def claim_threads() -> int:
    """Register this process as a job and set the calling thread's torch threads to its share.

    Call it at the start of a job, in the thread that will run the forward and backward passes
    (the trainers' main thread); call :func:`refresh_threads` now and then (e.g. every optimizer
    step) to follow other jobs starting and ending. Returns the threads set.
    """
    register_job()
    return refresh_threads(force=True)


def _release() -> None:
    """Remove this process's pid files (a forked child never removes its parent's)."""
    with _lock:
        for path, pid in list(_registered.items()):
            if pid == os.getpid():
                path.unlink(missing_ok=True)
                del _registered[path]


def _alive(pid: int, token: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    if token:
        started = _start_time(pid)
        if started is not None and started != token:  # the pid now belongs to another process
            return False
    return True


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which tells a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of the whole line


def _cgroup_quota() -> float | None:
    """CPUs allowed by a cgroup v2 quota (``cpu.max``), or None."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
