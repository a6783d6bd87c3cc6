"""How long ``import swirl_agents`` and ``swirl --help`` take, each in a fresh interpreter.

    .venv/bin/python bench/import_time.py [--repeats 5] [--root DIR]

Each measurement starts a new process (``subprocess``), so it includes interpreter start-up, as a
person typing the command sees it. ``--root`` imports another checkout instead of the installed one (to
measure an older commit, e.g. a ``git worktree``). Also reports which heavy packages each command
loads. Prints one JSON line last: median seconds per command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "transformers", "langgraph", "langchain_core", "langchain_openai", "bm25s")

COMMANDS = {
    "import swirl_agents": "import swirl_agents",
    "swirl --help": (
        "import sys; sys.argv = ['swirl', '--help']\n"
        "from swirl_agents.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    ),
}

PROBE = (
    "\nimport sys, json\n"
    f"print('@@' + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)"
)


def run(code: str, env: dict[str, str], root: str | None = None) -> tuple[float, str]:
    if root:  # the editable install's finder would win over PYTHONPATH: drop it, put root first
        code = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path "
            "if '__editable__' not in getattr(f, '__module__', '') "
            "and '__editable__' not in getattr(f, '__name__', '')]; "
            f"sys.path.insert(0, {root!r})\n" + code
        )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return elapsed, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", help="a checkout to import instead of the installed one")
    args = parser.parse_args()

    env = dict(os.environ)
    root = os.path.abspath(args.root) if args.root else None

    result: dict[str, object] = {"repeats": args.repeats, "python": sys.version.split()[0]}
    for name, code in COMMANDS.items():
        run(code, env, root)  # warm the file cache: the figure is for a warm start, not a cold disk
        times = [run(code, env, root)[0] for _ in range(args.repeats)]
        loaded = json.loads(run(code + PROBE, env, root)[1].rsplit("@@", 1)[1])
        median = statistics.median(times)
        print(
            f"{name:22s} median {median:.3f}s  (min {min(times):.3f}, max {max(times):.3f}); "
            f"loads: {', '.join(loaded) or 'none of ' + ', '.join(HEAVY)}",
            file=sys.stderr,
        )
        key = name.replace(" ", "_").replace("--", "")
        result[f"{key}_s"] = round(median, 3)
        result[f"{key}_loads"] = loaded
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=False)
        times.append(time.perf_counter() - start)
    result["bare_python_s"] = round(statistics.median(times), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
