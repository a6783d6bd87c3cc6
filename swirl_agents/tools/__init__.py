"""LangChain tools the agent maps to protocol tags: calculator, corpus search, wikipedia."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from langchain_core.tools import BaseTool

from swirl_agents.errors import UsageError

TOOL_NAMES = ("calculator", "corpus", "wikipedia")


def load_tools(names: Iterable[str], *, corpus_path: str | Path | None = None) -> list[BaseTool]:
    """Build tools by name (``calculator``, ``corpus``, ``wikipedia``), in the order given.

    Args:
        names: tool names, or one comma-separated string; duplicates are ignored, an unknown
            name is a ``UsageError``.
        corpus_path: the JSONL corpus for ``corpus`` (default: the HotPotQA dev union corpus).
    """
    if isinstance(names, str):
        names = names.split(",")
    wanted = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in TOOL_NAMES]
    if unknown:
        raise UsageError(f"unknown tool {unknown[0]!r}; choose from {', '.join(TOOL_NAMES)}")
    if "corpus" in wanted and "wikipedia" in wanted:
        raise UsageError("corpus and wikipedia both answer <search_query>; choose one")
    tools: list[BaseTool] = []
    for name in wanted:  # imported on demand: corpus search loads an index, wikipedia a client
        if name == "calculator":
            from swirl_agents.tools.calculator import calculator

            tools.append(calculator)
        elif name == "corpus":
            from swirl_agents.tools.corpus import CorpusSearch, default_corpus_path

            if corpus_path is None and not default_corpus_path().is_file():
                from swirl_agents.paths import data_root

                raise UsageError(
                    f"corpus not found: {default_corpus_path()} (the corpus tool searches the "
                    f"HotPotQA paragraphs of the data root {data_root()}: set $SWIRL_DATA to the "
                    "folder that holds hotpotqa/, or give a corpus file)"
                )
            tools.append(CorpusSearch(corpus_path).as_tool())
        else:
            from swirl_agents.tools.wikipedia import wikipedia_tool

            tools.append(wikipedia_tool())
    return tools


__all__ = ["TOOL_NAMES", "load_tools"]
