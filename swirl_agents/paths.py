"""Where things live: the offline data root and the cache directory."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """``$SWIRL_DATA`` when set (``~`` expanded), else ``../shared/data`` next to the repository
    root (a checkout's layout: a copy installed elsewhere needs ``$SWIRL_DATA``)."""
    env = os.environ.get("SWIRL_DATA", "").strip()
    return Path(env).expanduser() if env else _REPO_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """``$SWIRL_CACHE`` when set, else ``~/.cache/swirl_agents`` (created on demand)."""
    path = Path(os.environ.get("SWIRL_CACHE") or Path.home() / ".cache" / "swirl_agents")
    path.mkdir(parents=True, exist_ok=True)
    return path
