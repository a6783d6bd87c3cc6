"""Trajectory records and the stores that keep them."""

from swirl_agents.traces.record import trajectory_from_state
from swirl_agents.traces.schema import SCHEMA_VERSION, SchemaError, Step, Trajectory

__all__ = ["SCHEMA_VERSION", "SchemaError", "Step", "Trajectory", "trajectory_from_state"]
