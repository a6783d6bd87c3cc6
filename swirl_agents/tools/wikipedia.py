"""Live Wikipedia search (the `wikipedia` package): every failure is a result, never an exception.

Network down, a timeout, no page, an ambiguous title: the tool returns ``"Error: ..."`` text the
model can read, and the run goes on. The ``wikipedia`` package sets no HTTP timeout, so each
search runs in a worker thread and is abandoned after ``timeout_s``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from langchain_core.tools import BaseTool, StructuredTool

from swirl_agents.tools.corpus import MAX_PASSAGE_CHARS, truncate_text

MAX_QUERY_CHARS = 300  # the MediaWiki search API rejects longer queries
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="wikipedia")


def search_wikipedia(query: str, *, top_k: int = 2, max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """The summaries of the top ``top_k`` pages as ``Title: text`` lines (may raise network errors)."""
    import wikipedia

    titles = wikipedia.search(query[:MAX_QUERY_CHARS], results=top_k)
    lines: list[str] = []
    ambiguous: list[wikipedia.DisambiguationError] = []
    for title in titles:
        try:
            summary = wikipedia.summary(title, auto_suggest=False)
        except wikipedia.PageError:
            continue
        except wikipedia.DisambiguationError as exc:
            ambiguous.append(exc)
            continue
        lines.append(f"{title}: {truncate_text(' '.join(summary.split()), max_chars)}")
    if lines:
        return "\n".join(lines)
    if ambiguous:
        options = ", ".join(ambiguous[0].options[:5])
        return f"Error: {ambiguous[0].title!r} is ambiguous; search for one of: {options}"
    return "No results." if not titles else f"Error: no Wikipedia page for {query!r}"


def wikipedia_tool(
    *, top_k: int = 2, max_chars: int = MAX_PASSAGE_CHARS, timeout_s: float = 10.0
) -> BaseTool:
    """Live Wikipedia search as a LangChain tool answering to ``<search_query>``.

    Args:
        top_k: how many pages' summaries a search returns.
        max_chars: the most characters of each summary a result shows.
        timeout_s: a search that takes longer returns an error result.
    """

    def wikipedia_search(query: str) -> str:
        """Search Wikipedia; returns page summaries as 'Title: text' lines."""
        if not query.strip():
            return "Error: the query is empty"
        future = _POOL.submit(search_wikipedia, query, top_k=top_k, max_chars=max_chars)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            return f"Error: Wikipedia did not answer within {timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001 - network, HTTP and API errors become results
            return f"Error: Wikipedia search failed ({type(exc).__name__}: {str(exc)[:200]})"

    return StructuredTool.from_function(
        wikipedia_search,
        name="wikipedia",
        description="Search Wikipedia; returns page summaries as 'Title: text' lines.",
        metadata={"swirl_tag": "search_query"},
    )
