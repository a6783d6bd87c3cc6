"""The LangGraph server: ``langgraph dev`` serves the repository's ``langgraph.json`` on a free local
port and a ``langgraph-sdk`` client runs questions through it.

The server runs as a subprocess, as a user starts it, with the network kept out: no analytics, no
version check, no LangSmith tracing, and a proxy that refuses everything but localhost. Its model is
a scripted fake (``tests/server_fake.py``) or a tiny random checkpoint built here, so no model hub
is touched. ``build_graph`` is also checked in-process for its configuration errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("langgraph_api", reason="the server needs the dev extra (langgraph-cli[inmem])")
from langgraph_sdk import get_client  # noqa: E402

from swirl_agents.errors import UsageError  # noqa: E402
from swirl_agents.serving import build_graph, chat_model_from_env  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
README_SECTION = "## Serve it with LangGraph"
QUESTION = "A shop sells 17 boxes of 23 pens and 4 loose pens. How many pens?"
READY_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _langgraph_cli() -> str:
    exe = Path(sys.executable).with_name("langgraph")
    return str(exe) if exe.exists() else (shutil.which("langgraph") or "langgraph")


SERVER_VARS = (
    "SWIRL_MODEL", "SWIRL_BASE_URL", "SWIRL_CHAT_MODEL", "SWIRL_TOOLS", "SWIRL_CORPUS",
    "SWIRL_MAX_STEPS", "SWIRL_MAX_TOKENS", "SWIRL_PROTOCOL", "SWIRL_STORE",
)  # fmt: skip


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment less LangSmith/LangChain keys and the server's own variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_")) and k not in SERVER_VARS
    }
    env.update(
        LANGGRAPH_CLI_NO_ANALYTICS="1",  # langgraph-cli: no usage report
        LANGGRAPH_NO_VERSION_CHECK="true",  # langgraph-api: no PyPI version check
        LANGSMITH_TRACING="false",
        # anything that still tries the internet meets a closed port, never the network
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        ALL_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
        SWIRL_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")])),
    )
    for key in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        env[key] = env[key.upper()]
    env.update(extra)
    return env


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> float:
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT_S:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=1.0, trust_env=False).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"langgraph dev not ready in {READY_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def _serve(tmp_path: Path, extra_env: dict[str, str], *args: str) -> Iterator[str]:
    """Run ``langgraph dev`` on the repository's langgraph.json; yield its URL; stop it.

    The server's working directory is ``tmp_path``, so its dev persistence (``.langgraph_api``)
    lands there, not in the repository.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    cmd = [_langgraph_cli(), "dev", "--config", str(REPO / "langgraph.json"), "--host",
           "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload", *args]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=_server_env(extra_env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        ready_s = _wait_ready(url, proc, log)
        print(f"langgraph dev ready in {ready_s:.1f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "BlockingError" not in text, text[-4000:]


@pytest.fixture
def fake_server(tmp_path) -> Iterator[tuple[str, Path]]:
    store = tmp_path / "traces.db"
    env = {
        "SWIRL_CHAT_MODEL": "server_fake:model",
        "SWIRL_TOOLS": "calculator",
        "SWIRL_MAX_STEPS": "3",
        "SWIRL_STORE": str(store),
    }
    for url in _serve(tmp_path, env):
        yield url, store


async def test_sdk_streams_a_run_and_reads_the_final_state(fake_server):
    url, store_path = fake_server
    client = get_client(url=url, api_key=None)
    assistants = await client.assistants.search(graph_id="swirl_agent")
    assert [a["graph_id"] for a in assistants] == ["swirl_agent"]

    thread = await client.threads.create()
    nodes = []
    async for part in client.runs.stream(
        thread["thread_id"],
        "swirl_agent",
        input={"messages": [{"role": "user", "content": QUESTION}]},
        stream_mode="updates",
    ):
        assert part.event != "error", part.data
        if part.event == "updates":
            nodes.extend(part.data)
    assert nodes == ["start", "agent", "tools", "agent", "finish"]

    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert values["question"] == QUESTION
    assert (values["answer"], values["outcome"]) == ("395", "answered")
    assert [s["kind"] for s in values["steps"]] == ["math", "answer"]
    assert values["steps"][0]["observation"] == "17*23+4 -> 395"
    assert values["steps"][0]["model"] == "server-fake"
    assert [(m["type"], m["content"]) for m in values["messages"]] == [
        ("human", QUESTION),
        ("ai", "395"),
    ]

    # a new question on the same thread: the server's checkpointer keeps the chat, the
    # scratchpad starts clean; stream_mode="values" ends with the final state
    last = None
    async for part in client.runs.stream(
        thread["thread_id"],
        "swirl_agent",
        input={"messages": [{"role": "user", "content": "And twice that?"}]},
        stream_mode="values",
    ):
        assert part.event != "error", part.data
        if part.event == "values":
            last = part.data
    assert last is not None and last["question"] == "And twice that?"
    assert last["outcome"] == "answered" and len(last["steps"]) == 2
    assert [m["type"] for m in last["messages"]] == ["human", "ai", "human", "ai"]

    from swirl_agents.traces.store import open_store

    store = open_store(store_path, must_exist=True)
    try:
        logged = list(store.iter())
    finally:
        store.close()
    assert sorted(t.question for t in logged) == sorted([QUESTION, "And twice that?"])
    assert {t.source for t in logged} == {"production"}


def _readme_client_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(README_SECTION) :].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert 'get_sync_client(url="http://127.0.0.1:2024")' in block
    return block


def test_readme_client_runs_as_written(fake_server):
    url, _ = fake_server
    block = _readme_client_block().replace("http://127.0.0.1:2024", url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README serve", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[-1] == "395 answered 2"
    assert [line.split()[0] for line in lines[:-1]] == ["metadata"] + ["updates"] * 5


async def test_serves_a_local_checkpoint(tmp_path):
    """``SWIRL_MODEL`` set to a checkpoint directory: the real local backend (batching engine
    on its own thread) under the server's event loop, which forbids blocking calls; three runs
    at once share the one engine (``langgraph dev`` runs one at a time unless told more)."""
    pytest.importorskip("torch")
    from trainer_fixtures import tiny_model_dir

    model_dir = tiny_model_dir(tmp_path / "tiny")
    env = {"SWIRL_MODEL": str(model_dir), "SWIRL_MAX_STEPS": "2", "SWIRL_MAX_TOKENS": "8"}
    for url in _serve(tmp_path, env, "--n-jobs-per-worker", "3"):
        client = get_client(url=url, api_key=None)

        async def ask(question: str, client=client) -> dict:
            thread = await client.threads.create()
            return await client.runs.wait(
                thread["thread_id"], "swirl_agent", input={"question": question}
            )

        results = await asyncio.gather(*(ask(f"{QUESTION} ({i})") for i in range(3)))
        for i, result in enumerate(results):
            # random weights never answer: the run ends at the step budget, not with an error
            assert result["question"] == f"{QUESTION} ({i})"
            assert result["outcome"] == "no_answer" and result["answer"] is None
            assert len(result["steps"]) == 2
            assert all(s["token_ids"] for s in result["steps"])


def test_build_graph_reads_the_environment():
    env = {"SWIRL_CHAT_MODEL": "server_fake:model", "SWIRL_TOOLS": "calculator"}
    graph = build_graph(env)
    assert graph.checkpointer is None  # the server brings its own
    state = graph.invoke({"question": QUESTION})
    assert (state["answer"], state["outcome"]) == ("395", "answered")
    assert chat_model_from_env(env).model_name == "server-fake"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SWIRL_PROTOCOL": "json"}, "SWIRL_PROTOCOL"),
        ({"SWIRL_MAX_STEPS": "0"}, "SWIRL_MAX_STEPS"),
        ({"SWIRL_MAX_STEPS": "five"}, "SWIRL_MAX_STEPS"),
        ({"SWIRL_TOOLS": "calculator,shell"}, "unknown tool"),
        ({"SWIRL_CHAT_MODEL": "server_fake"}, "package.module:attribute"),
        ({"SWIRL_CHAT_MODEL": "server_fake:nothing"}, "has no"),
        ({"SWIRL_CHAT_MODEL": "no_such_module_here:model"}, "cannot import"),
        ({"SWIRL_CHAT_MODEL": "server_fake:__doc__"}, "not a LangChain chat model"),
    ],
)
def test_build_graph_rejects_a_bad_environment(env, message):
    with pytest.raises(UsageError, match=message):
        build_graph({"SWIRL_CHAT_MODEL": "server_fake:model", **env})
