"""The ``swirl`` command line.

Commands live in modules of this package (each defines ``register(app)``) and in other installed
packages through the entry-point group ``swirl_agents.commands`` (the trainer adds ``filter`` and
``train`` that way, so swirl_agents never imports the trainer). The commands are registered on
the first access to ``app`` (the console script's ``swirl_agents.cli:app``), not when the package
is imported: a plugin that imports ``swirl_agents.cli.common`` (``import trainer.cli``) would
otherwise find itself half-imported.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from typing import Any

import typer

_app = typer.Typer(
    name="swirl",
    help="SWiRL agents: ask, generate trajectories, filter, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@_app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of a failure instead of its one-line error."
    ),
) -> None:
    if debug:
        os.environ["SWIRL_DEBUG"] = "1"


def _register_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(_app)
    for ep in entry_points(group="swirl_agents.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # a missing optional extra must not break the core commands
            print(f"warning: swirl plugin {ep.name!r} not loaded: {exc}", file=sys.stderr)
            continue
        register(_app)


_registered = False


def __getattr__(name: str) -> Any:
    global _registered
    if name == "app":
        if not _registered:
            _registered = True
            _register_all()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    __getattr__("app")()
