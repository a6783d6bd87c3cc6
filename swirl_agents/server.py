"""The graph ``langgraph.json`` serves: the SWiRL agent, built once when the server loads it.

Importing this module builds the agent (and loads its model) from the environment; see
``swirl_agents.serving`` for the variables. ``langgraph dev`` in the repository root serves it.
"""

from swirl_agents.serving import build_graph

graph = build_graph()

__all__ = ["graph"]
