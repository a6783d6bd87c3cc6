"""The README's drop-in example, run verbatim on the embedded model with the shipped adapter
(slow: the real SmolLM2-135M, converted on first use)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swirl_agents.models.adapter import has_adapter

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_drop_in_example_prints_what_its_comment_shows(capsys):
    if not has_adapter():
        pytest.skip("no adapter shipped: smollm2 is the untrained base")
    block = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)[0]
    first = block.split("\n\n# as a node of your own graph")[0]  # up to the drop-in's comment
    shown = re.search(r"^# prints: (.*)$", first, flags=re.M).group(1)
    exec(compile(first, "README drop-in", "exec"), {})
    assert capsys.readouterr().out.strip() == shown
