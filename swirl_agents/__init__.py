"""swirl-agents: SWiRL step-wise tool use for LangGraph.

The public names are loaded on first use (PEP 562), so ``import swirl_agents`` and ``swirl --help``
stay fast: LangGraph and LangChain load when the agent is first touched, torch and transformers
only when a local model runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swirl_agents.agent import SwirlState, create_swirl_agent
    from swirl_agents.protocol import Action, parse_action

__all__ = ["Action", "SwirlState", "create_swirl_agent", "parse_action"]
__version__ = "0.1.0"

_LAZY = {
    "Action": "swirl_agents.protocol",
    "parse_action": "swirl_agents.protocol",
    "SwirlState": "swirl_agents.agent",
    "create_swirl_agent": "swirl_agents.agent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        try:  # ``swirl_agents.agent`` etc. after a bare ``import swirl_agents``
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
