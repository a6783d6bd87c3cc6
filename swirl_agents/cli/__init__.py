"""The ``swirl`` command line.

Commands live in modules of this package (each defines ``register(app)``) and in other installed
packages through the entry-point group ``swirl_agents.commands`` (the trainer adds ``filter`` and
``train`` that way, so swirl_agents never imports the trainer).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="swirl",
    help="SWiRL agents: ask, generate trajectories, filter, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
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
            module.register(app)
    for ep in entry_points(group="swirl_agents.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # a missing optional extra must not break the core commands
            print(f"warning: swirl plugin {ep.name!r} not loaded: {exc}", file=sys.stderr)
            continue
        register(app)


_register_all()

if __name__ == "__main__":
    app()
