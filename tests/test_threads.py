"""The torch thread policy: $SWIRL_NUM_THREADS, else the usable cores shared by the live jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from swirl_agents.errors import UsageError
from swirl_agents.models import threads


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    """An empty jobs directory of its own, 4 usable cores, and torch's threads restored after."""
    import torch

    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path))
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    directory = threads.jobs_dir()
    yield directory
    for path in [p for p in threads._registered if p.parent == directory]:
        path.unlink(missing_ok=True)
        del threads._registered[path]
    torch.set_num_threads(before)


def _pid_file(directory, pid: int, token: str | None = None, host: str = threads._HOST):
    path = directory / f"{host}-{pid}.pid"
    path.write_text((threads._start_time(pid) or "") if token is None else token)
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_live_jobs_are_counted_and_stale_pid_files_ignored_and_removed(jobs):
    alive = _pid_file(jobs, os.getpid())
    parent = _pid_file(jobs, os.getppid())
    dead = _pid_file(jobs, _dead_pid())
    (jobs / f"{threads._HOST}-notapid.pid").write_text("")  # a foreign name
    other_host = _pid_file(jobs, os.getpid(), host="elsewhere")
    (jobs / f"{threads._HOST}-{os.getpid()}.tmp").write_text("")  # being written

    assert threads.live_jobs() == 2
    assert alive.exists() and parent.exists() and other_host.exists()
    assert not dead.exists()
    assert threads.policy_threads() == 2  # 4 cores, 2 jobs


def test_a_pid_reused_by_another_process_is_stale(jobs):
    reused = _pid_file(jobs, os.getppid(), token="1")  # not the start time of the live process
    assert threads.live_jobs() == 0
    assert not reused.exists()
    assert threads.policy_threads() == 4


def test_each_job_gets_its_share_and_never_less_than_one_thread(jobs):
    assert threads.policy_threads() == 4  # nobody registered
    threads.register_job()
    assert threads.policy_threads() == 4
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])]
    try:
        _pid_file(jobs, sleepers[0].pid)
        assert threads.policy_threads() == 2
        for _ in range(3):
            sleepers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
            _pid_file(jobs, sleepers[-1].pid)
        assert threads.live_jobs() == 5 and threads.policy_threads() == 1
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
    assert threads.policy_threads() == 4  # they ended: their files are stale


def test_the_environment_override_wins(jobs, monkeypatch):
    for pid in (os.getpid(), os.getppid()):
        _pid_file(jobs, pid)
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.policy_threads() == 3
    assert threads.claim_threads() == 3
    import torch

    assert torch.get_num_threads() == 3
    monkeypatch.setenv(threads.ENV, "zero")
    with pytest.raises(UsageError, match=threads.ENV):
        threads.policy_threads()


def test_omp_num_threads_caps_the_usable_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.usable_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # unset in effect, not zero
    assert threads.usable_cores() >= 1


def test_claim_registers_the_process_until_exit_and_sets_the_calling_threads_threads(jobs):
    import torch

    assert threads.claim_threads() == 4
    path = jobs / f"{threads._HOST}-{os.getpid()}.pid"
    assert path.exists() and threads.live_jobs() == 1
    assert threads.register_job() == path  # idempotent

    seen: list[int] = []

    def worker() -> None:
        threads.refresh_threads(force=True)
        seen.append(torch.get_num_threads())

    _pid_file(jobs, os.getppid())  # a second job arrives
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [2]
    threads._release()
    assert not path.exists()


def test_refresh_looks_at_the_jobs_again_only_every_few_seconds(jobs, monkeypatch):
    assert threads.claim_threads() == 4
    _pid_file(jobs, os.getppid())
    assert threads.refresh_threads() == 4  # checked just now: no second look yet
    monkeypatch.setattr(threads, "RECHECK_S", 0.0)
    assert threads.refresh_threads() == 2


def test_a_pid_file_is_removed_when_its_process_exits(jobs):
    code = "from swirl_agents.models import threads; print(threads.register_job())"
    env = {**os.environ, "SWIRL_CACHE": str(jobs.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(".pid")
    assert list(jobs.glob("*.pid")) == []
