"""Print the packages whose versions differ between two venvs: `version_drift.py .venv .venv-latest`.

What `make test-latest` shows before it runs the tests: the dependencies that moved since the
pinned-by-history .venv was built (the usual suspects when a test fails only there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def versions(venv: Path) -> dict[str, str]:
    python = venv / "bin" / "python"
    if not python.exists():
        return {}
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def main(base: str, latest: str) -> None:
    old, new = versions(Path(base)), versions(Path(latest))
    if not old:
        print(f"version drift: no venv at {base} to compare with")
        return
    changed = sorted(n for n in old.keys() & new.keys() if old[n] != new[n])
    added, gone = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
    print(
        f"version drift ({base} -> {latest}): {len(changed)} changed, {len(added)} new, {len(gone)} gone"
    )
    for name in changed:
        print(f"  {name}: {old[name]} -> {new[name]}")
    for name in added:
        print(f"  {name}: (none) -> {new[name]}")
    for name in gone:
        print(f"  {name}: {old[name]} -> (none)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
