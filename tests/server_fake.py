"""The chat model the LangGraph server test serves (``SWIRL_CHAT_MODEL=server_fake:model``).

Stateless, so every run and every server worker sees the same script: a calculator call on the
first turn, then the answer read off the tool result (``QUERY -> RESULT``).
"""

from __future__ import annotations

from fakes import scripted
from langchain_core.messages import HumanMessage


def _reply(messages) -> str:
    last = messages[-1]
    if isinstance(last, HumanMessage) and " -> " in last.text:
        return f"The calculator says so. <answer>{last.text.rsplit(' -> ', 1)[1].strip()}</answer>"
    return "17 boxes of 23 pens plus 4 loose pens. <math_exp>17*23+4</math_exp>"


model = scripted(_reply, model_name="server-fake")
