"""Offline search over a local JSONL corpus (``{"id", "title", "text"}`` per line) with BM25.

The index is built with `bm25s <https://github.com/xhluca/bm25s>`_ and cached on disk under
``cache_dir()/corpus_index/``, keyed by the corpus file's resolved path, size and mtime, so the
19k-paragraph HotPotQA corpus is indexed once and loads in a fraction of a second afterwards.
A file lock lets several processes start at once: one builds, the others wait and load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.tools import BaseTool, StructuredTool

from swirl_agents.errors import UsageError
from swirl_agents.paths import cache_dir, data_root

MAX_PASSAGE_CHARS = 600  # per passage in a tool result: contexts stay small for a 135M model
TITLE_WEIGHT = 3  # the title is indexed this many times: searching a title finds its passage
_INDEX_VERSION = f"bm25s-en-title{TITLE_WEIGHT}/1"  # bump when tokenisation or fields change


def default_corpus_path() -> Path:
    """The HotPotQA dev union corpus in the offline data root."""
    return data_root() / "hotpotqa" / "hotpotqa_dev_union_corpus.jsonl"


@dataclass(frozen=True)
class Hit:
    """One retrieved passage."""

    id: str  # the passage's id in the corpus (as text)
    title: str  # the passage's title
    text: str  # the full passage text
    score: float  # BM25 score (higher is better)

    def render(self, max_chars: int = MAX_PASSAGE_CHARS) -> str:
        """The passage as one ``Title: text`` line, cut at a word boundary."""
        return f"{self.title}: {truncate_text(' '.join(self.text.split()), max_chars)}"


class CorpusSearch:
    """BM25 search over a JSONL corpus, with an on-disk index cache.

    Args:
        path: the corpus, one ``{"id", "title", "text"}`` object per line; default: the HotPotQA
            dev union corpus in ``data_root()``.
        k: how many passages a search returns by default.
        max_chars: the most characters of each passage a tool result shows.
    """

    def __init__(
        self, path: str | Path | None = None, *, k: int = 3, max_chars: int = MAX_PASSAGE_CHARS
    ) -> None:
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        self.path = Path(path) if path is not None else default_corpus_path()
        if not self.path.is_file():
            raise UsageError(f"corpus not found: {self.path}")
        self.k = k
        self.max_chars = max_chars
        self.docs, self._retriever = _load(self.path)

    def __len__(self) -> int:
        return len(self.docs)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first; passages sharing no word are left out."""
        import bm25s

        k = self.k if k is None else k
        tokens = bm25s.tokenize(query, stopwords="en", return_ids=False, show_progress=False)[0]
        ids = self._retriever.get_tokens_ids(tokens)
        if not ids or k < 1:
            return []
        scores = self._retriever.get_scores(ids)
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(*self.docs[i], float(scores[i])) for i in top if scores[i] > 0]

    def format(self, query: str, k: int | None = None) -> str:
        """A search as tool-result text: one ``Title: text`` line per passage."""
        hits = self.search(query, k)
        if not hits:
            return "No results."
        return "\n".join(hit.render(self.max_chars) for hit in hits)

    def as_tool(self, name: str = "corpus_search") -> BaseTool:
        """This search as a LangChain tool answering to ``<search_query>``."""
        return StructuredTool.from_function(
            self.format,
            name=name,
            description=f"Search {self.path.name} ({len(self)} passages); returns the best "
            f"{self.k} as 'Title: text' lines.",
            metadata={"swirl_tag": "search_query"},
        )


def _read_corpus(path: Path) -> Iterator[tuple[str, str, str]]:
    """(id, title, text) per line; a malformed line is an error naming its line number."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield str(record["id"]), str(record["title"]), str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                why = f"missing field {exc}" if isinstance(exc, KeyError) else "not a JSON object"
                raise UsageError(f"{path}:{number}: {why} (expected id, title, text)") from None


def _index_dir(path: Path) -> Path:
    stat = path.stat()
    key = f"{_INDEX_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "corpus_index" / f"{path.stem}-{digest}"


_loaded: dict[Path, tuple[list[tuple[str, str, str]], Any]] = {}  # per process and corpus version
_loaded_lock = threading.Lock()


def _load(path: Path) -> tuple[list[tuple[str, str, str]], Any]:
    """The corpus's (id, title, text) rows and its BM25 index, built once and cached on disk."""
    from filelock import FileLock

    target = _index_dir(path)
    with _loaded_lock:
        if target not in _loaded:
            docs = list(_read_corpus(path))
            if not docs:
                raise UsageError(f"{path}: the corpus is empty")
            target.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(target) + ".lock"):
                if not target.is_dir():
                    _build_index(docs, target)
            import bm25s

            _loaded[target] = docs, bm25s.BM25.load(str(target), show_progress=False)
        return _loaded[target]


def _build_index(docs: list[tuple[str, str, str]], target: Path) -> None:
    import bm25s

    # Build in a temporary directory, then rename: a half-written index is never seen.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        corpus_tokens = bm25s.tokenize(
            [f"{title} " * TITLE_WEIGHT + text for _, title, text in docs],
            stopwords="en",
            return_ids=False,
            show_progress=False,
        )
        retriever = bm25s.BM25()
        retriever.index(corpus_tokens, show_progress=len(docs) > 1000)
        retriever.save(str(tmp), show_progress=False)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def truncate_text(text: str, max_chars: int) -> str:
    """``text`` cut at a word boundary to at most ``max_chars`` (plus " ...")."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return cut.rstrip(" ,;:") + " ..."
