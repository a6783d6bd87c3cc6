"""Corpus search on a fixture, wikipedia failure handling (network patched), load_tools."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import wikipedia

from swirl_agents.errors import UsageError
from swirl_agents.tools import corpus as corpus_mod
from swirl_agents.tools import load_tools
from swirl_agents.tools.corpus import CorpusSearch, Hit, truncate_text
from swirl_agents.tools.wikipedia import wikipedia_tool

FIXTURE = Path(__file__).parent / "fixtures" / "corpus.jsonl"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh index cache per test, and no test may reach Wikipedia's servers."""
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpus_mod, "_loaded", {})

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach Wikipedia")

    monkeypatch.setattr(wikipedia.wikipedia, "_wiki_request", no_network)


# --- corpus search -------------------------------------------------------------------------


def test_search_by_title_finds_the_passage_first() -> None:
    search = CorpusSearch(FIXTURE)
    for title in ("Marie Curie", "Vistula", "Eiffel Tower"):
        assert search.search(title)[0].title == title


def test_search_returns_hits_best_first() -> None:
    hits = CorpusSearch(FIXTURE).search("longest river in Poland", k=2)
    assert [h.title for h in hits] == ["Vistula", "Warsaw"]
    assert all(isinstance(h, Hit) for h in hits)
    assert hits[0].score >= hits[1].score > 0
    assert hits[0].id == "3"


def test_k_defaults_to_the_constructor_and_can_be_overridden() -> None:
    search = CorpusSearch(FIXTURE, k=1)
    assert len(search.search("Curie")) == 1
    assert len(search.search("Curie", k=5)) == 2  # only passages sharing a word come back
    assert search.search("Curie", k=0) == []


@pytest.mark.parametrize("query", ["zzzz qqqq", "the of and", "", "   "])
def test_no_match_gives_no_results(query: str) -> None:
    search = CorpusSearch(FIXTURE)
    assert search.search(query) == []
    assert search.format(query) == "No results."


def test_result_text_is_title_colon_text_lines_truncated() -> None:
    text = CorpusSearch(FIXTURE, max_chars=120).format("Eiffel Tower Paris", k=2)
    lines = text.split("\n")
    assert lines[0].startswith("Eiffel Tower: The Eiffel Tower is a wrought-iron lattice tower")
    assert lines[0].endswith(" ...")
    assert len(lines[0]) <= len("Eiffel Tower: ") + 120 + len(" ...")


def test_truncate_text_cuts_at_a_word() -> None:
    assert truncate_text("short", 10) == "short"
    assert truncate_text("one two three four", 9) == "one two ..."
    assert truncate_text("x" * 20, 5) == "xxxxx ..."


def test_tags_inside_passages_are_returned_as_plain_text() -> None:
    """A passage's text is data: the agent renders it into a user turn and never parses it."""
    assert "<answer>42</answer>" in CorpusSearch(FIXTURE).format("mentions passage")


def test_as_tool() -> None:
    tool = CorpusSearch(FIXTURE).as_tool()
    assert tool.name == "corpus_search"
    assert tool.metadata == {"swirl_tag": "search_query"}
    assert tool.invoke("Warsaw capital").startswith("Warsaw: Warsaw is the capital")
    assert CorpusSearch(FIXTURE).as_tool(name="docs").name == "docs"


def test_index_is_cached_on_disk_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    CorpusSearch(FIXTURE)
    monkeypatch.setattr(corpus_mod, "_loaded", {})  # a new process: only the disk cache is left

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr(corpus_mod, "_build_index", no_rebuild)
    assert CorpusSearch(FIXTURE).search("Warsaw")[0].title == "Warsaw"


def test_a_changed_corpus_is_reindexed(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(FIXTURE.read_text())
    assert CorpusSearch(path).search("Gdansk") == []
    with path.open("a") as f:
        f.write(json.dumps({"id": 9, "title": "Gdansk", "text": "A port city."}) + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert CorpusSearch(path).search("Gdansk")[0].title == "Gdansk"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not a JSON object"),
        ('["a list"]', "not a JSON object"),
        ('{"id": 1, "title": "T"}', "missing field 'text'"),
    ],
)
def test_malformed_line_names_its_line_number(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "title": "A", "text": "B"}\n\n' + line + "\n")
    with pytest.raises(UsageError, match=rf"bad.jsonl:3: {why}"):
        CorpusSearch(path)


def test_missing_or_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="corpus not found"):
        CorpusSearch(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UsageError, match="the corpus is empty"):
        CorpusSearch(tmp_path / "empty.jsonl")


def test_default_path_is_the_hotpotqa_corpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWIRL_DATA", str(tmp_path))
    with pytest.raises(UsageError, match="hotpotqa_dev_union_corpus.jsonl"):
        CorpusSearch()


# --- wikipedia -------------------------------------------------------------------------------


def _fake_wikipedia(monkeypatch: pytest.MonkeyPatch, search=None, summary=None) -> None:
    if search is not None:
        monkeypatch.setattr(wikipedia, "search", search)
    if summary is not None:
        monkeypatch.setattr(wikipedia, "summary", summary)


def test_wikipedia_returns_title_colon_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_wikipedia(
        monkeypatch,
        search=lambda q, results: ["Marie Curie", "Pierre Curie"][:results],
        summary=lambda title, auto_suggest: f"{title} was a  physicist.\nMore.",
    )
    tool = wikipedia_tool()
    assert tool.name == "wikipedia"
    assert tool.metadata == {"swirl_tag": "search_query"}
    assert tool.invoke("Curie") == (
        "Marie Curie: Marie Curie was a physicist. More.\n"
        "Pierre Curie: Pierre Curie was a physicist. More."
    )


def test_wikipedia_skips_missing_and_ambiguous_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    def summary(title, auto_suggest):
        if title == "Gone":
            raise wikipedia.PageError(title)
        if title == "Mercury":
            raise wikipedia.DisambiguationError(title, ["Mercury (planet)", "Mercury (element)"])
        return "The planet."

    _fake_wikipedia(
        monkeypatch,
        search=lambda q, results: ["Gone", "Mercury", "Mercury (planet)"],
        summary=summary,
    )
    assert wikipedia_tool(top_k=3).invoke("Mercury") == "Mercury (planet): The planet."


@pytest.mark.parametrize(
    ("titles", "error", "expected"),
    [
        ([], None, "No results."),
        (["Gone"], wikipedia.PageError("Gone"), "Error: no Wikipedia page for 'q'"),
        (
            ["Mercury"],
            wikipedia.DisambiguationError("Mercury", ["Mercury (planet)", "Mercury (element)"]),
            "Error: 'Mercury' is ambiguous; search for one of: Mercury (planet), Mercury (element)",
        ),
    ],
)
def test_wikipedia_nothing_usable(monkeypatch, titles, error, expected) -> None:
    def summary(title, auto_suggest):
        raise error

    _fake_wikipedia(monkeypatch, search=lambda q, results: titles, summary=summary)
    assert wikipedia_tool().invoke("q") == expected


@pytest.mark.parametrize(
    ("exc", "shown"),
    [
        (__import__("requests").ConnectionError("Max retries exceeded"), "ConnectionError"),
        (wikipedia.HTTPTimeoutError("q"), "HTTPTimeoutError"),
        (wikipedia.WikipediaException("maxlag"), "WikipediaException"),
    ],
)
def test_wikipedia_network_failures_become_results(monkeypatch, exc, shown) -> None:
    def search(q, results):
        raise exc

    _fake_wikipedia(monkeypatch, search=search)
    result = wikipedia_tool().invoke("Curie")
    assert result.startswith(f"Error: Wikipedia search failed ({shown}")


def test_wikipedia_unpatched_network_also_becomes_a_result() -> None:
    """The autouse fixture's guard raises inside the package: still a result, not an exception."""
    assert wikipedia_tool().invoke("Curie").startswith("Error: Wikipedia search failed")


def test_wikipedia_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_wikipedia(monkeypatch, search=lambda q, results: time.sleep(1) or [])
    started = time.perf_counter()
    assert wikipedia_tool(timeout_s=0.05).invoke("Curie") == (
        "Error: Wikipedia did not answer within 0.05 s"
    )
    assert time.perf_counter() - started < 0.5


def test_wikipedia_empty_query() -> None:
    assert wikipedia_tool().invoke("  ") == "Error: the query is empty"


async def test_wikipedia_async(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_wikipedia(
        monkeypatch, search=lambda q, results: ["A"], summary=lambda t, auto_suggest: "B"
    )
    assert await wikipedia_tool().ainvoke("A") == "A: B"


# --- load_tools ------------------------------------------------------------------------------


def test_load_tools_by_name() -> None:
    tools = load_tools(["calculator", "corpus"], corpus_path=FIXTURE)
    assert [t.name for t in tools] == ["calculator", "corpus_search"]
    assert [t.metadata["swirl_tag"] for t in tools] == ["math_exp", "search_query"]
    assert tools[1].invoke("Vistula").startswith("Vistula: ")


def test_load_tools_accepts_a_comma_string_and_ignores_duplicates() -> None:
    tools = load_tools("calculator, wikipedia,calculator")
    assert [t.name for t in tools] == ["calculator", "wikipedia"]
    assert load_tools([]) == []


def test_load_tools_rejects_unknown_names() -> None:
    with pytest.raises(
        UsageError, match="unknown tool 'google'; choose from calculator, corpus, wikipedia"
    ):
        load_tools(["calculator", "google"])


def test_load_tools_rejects_two_search_tools() -> None:
    with pytest.raises(UsageError, match="both answer <search_query>"):
        load_tools(["corpus", "wikipedia"], corpus_path=FIXTURE)
