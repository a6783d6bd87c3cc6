"""swirl-agents: SWiRL step-wise tool use for LangGraph."""

from swirl_agents.agent import SwirlState, create_swirl_agent
from swirl_agents.protocol import Action, parse_action

__all__ = ["Action", "SwirlState", "create_swirl_agent", "parse_action"]
__version__ = "0.1.0"
