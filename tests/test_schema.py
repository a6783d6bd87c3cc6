"""Trajectory schema: round trips and clear errors."""

import json

import pytest

from swirl_agents.traces import SCHEMA_VERSION, SchemaError, Step, Trajectory


def make(**kw) -> Trajectory:
    steps = [
        Step(
            0, "Half of 48. <math_exp>48/2</math_exp>", "math", "48/2", "48/2 -> 24", "calculator"
        ),
        Step(1, "No tag here", "invalid", error="no action tag", token_ids=[1, 2, 3]),
        Step(2, "<answer>24</answer>", "answer", "24"),
    ]
    return Trajectory(
        question="q?", steps=steps, answer="24", outcome="answered", gold_answer="24", **kw
    )


def test_round_trip_through_json():
    traj = make(metadata={"k": [1, {"x": "é"}]}, dataset="gsm8k", split="train", sample=3)
    again = Trajectory.from_dict(json.loads(json.dumps(traj.to_dict())))
    assert again == traj
    assert again.steps[1].token_ids == [1, 2, 3]
    assert again.schema_version == SCHEMA_VERSION
    assert json.loads(traj.to_json()) == traj.to_dict()


def test_valid_action_rate_counts_model_calls():
    assert make().valid_action_rate == pytest.approx(2 / 3)
    assert Trajectory(question="q").valid_action_rate == 0.0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d.update(source="elsewhere"), "source"),
        (lambda d: d.update(outcome="maybe"), "outcome"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.pop("question"), "question"),
        (lambda d: d.update(steps="nope"), "steps"),
        (lambda d: d["steps"][0].pop("kind"), "kind"),
    ],
)
def test_bad_records_name_the_problem(mutate, message):
    data = make().to_dict()
    mutate(data)
    with pytest.raises(SchemaError, match=message):
        Trajectory.from_dict(data)


def test_not_an_object():
    with pytest.raises(SchemaError, match="JSON object"):
        Trajectory.from_dict([1, 2])
