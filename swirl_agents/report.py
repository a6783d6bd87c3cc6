"""Evaluation reports: per-question results (JSONL), a markdown summary and matplotlib plots.

``write_report(report, out_dir)`` writes ``results.jsonl``, ``summary.json``, ``summary.md``,
``accuracy.png`` (accuracy with its 95% interval), ``steps.png`` (steps per question) and
``actions.png`` (actions by kind). ``plot_accuracy`` and ``markdown_table`` also take several
summaries, to compare models side by side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swirl_agents.evaluate import EvalReport

ACTION_KINDS = ("search", "math", "answer", "invalid")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _label(summary: dict[str, Any]) -> str:
    return str(summary.get("label") or summary.get("model") or "?")


def plot_accuracy(summaries: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """A bar per summary: accuracy with its 95% Wilson interval as error bars."""
    plt = _pyplot()
    labels = [_label(s) for s in summaries]
    acc = [s["accuracy"] for s in summaries]
    lows = [a - s["accuracy_ci95"][0] for a, s in zip(acc, summaries, strict=True)]
    highs = [s["accuracy_ci95"][1] - a for a, s in zip(acc, summaries, strict=True)]
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(labels) + 2), 3.5))
    ax.bar(labels, acc, yerr=[lows, highs], capsize=6, color="tab:blue")
    for x, a, s in zip(range(len(acc)), acc, summaries, strict=True):
        ax.annotate(f"{a:.1%}\nn={s['n']}", (x, a), ha="center", va="bottom", fontsize=8,
                    xytext=(12, 2), textcoords="offset points")  # fmt: skip
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.set_ylim(0, max(0.05, *(s["accuracy_ci95"][1] for s in summaries)) * 1.25)
    ax.set_title(title or "accuracy")
    return _save(fig, plt, path)


def plot_steps(results: Sequence[Any], path: str | Path) -> Path:
    """A histogram of the steps (model calls) each question took, answered vs not."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    most = max([r.steps for r in results] + [1])
    bins = [x - 0.5 for x in range(most + 2)]
    answered = [r.steps for r in results if r.outcome == "answered"]
    other = [r.steps for r in results if r.outcome != "answered"]
    ax.hist([answered, other], bins=bins, stacked=True, label=["answered", "no answer / failed"])
    ax.set_xlabel("steps (model calls)")
    ax.set_ylabel("questions")
    ax.set_title("steps per question")
    ax.legend()
    return _save(fig, plt, path)


def plot_actions(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Grouped bars: the share of steps of each action kind, per summary."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(summaries) + 4), 3.5))
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        total = sum(s["actions"].values()) or 1
        shares = [s["actions"].get(k, 0) / total for k in ACTION_KINDS]
        xs = [k + i * width for k in range(len(ACTION_KINDS))]
        ax.bar(xs, shares, width=width, label=_label(s))
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(ACTION_KINDS))], ACTION_KINDS)
    ax.set_ylabel("share of steps")
    ax.set_title("actions by kind")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def markdown_table(summaries: Sequence[dict[str, Any]]) -> str:
    """One row per summary: accuracy with its interval, valid actions, steps (and F1, recall@5)."""
    qa = any(s.get("task") == "qa" for s in summaries)
    head = ["model", "dataset", "n", "accuracy", "95% CI", "valid actions", "mean steps"]
    head += ["F1", "recall@5"] if qa else []
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        low, high = s["accuracy_ci95"]
        cells = [
            _label(s),
            f"{s.get('dataset')}/{s.get('split')}",
            str(s["n"]),
            _pct(s["accuracy"]),
            f"{low:.1%}–{high:.1%}",
            _pct(s["valid_action_rate"]),
            f"{s['mean_steps']:.2f}",
        ]
        if qa:
            cells += [_pct(s.get("f1")), _pct(s.get("recall_at_5"))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write the results, the summary (JSON and markdown) and the three plots into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = report.summary
    paths = {
        "results": out / "results.jsonl",
        "summary_json": out / "summary.json",
        "summary_md": out / "summary.md",
    }
    with paths["results"].open("w", encoding="utf-8") as f:
        for r in report.results:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    paths["summary_json"].write_text(json.dumps(s, indent=2, default=str) + "\n", encoding="utf-8")
    paths["accuracy"] = plot_accuracy(
        [s], out / "accuracy.png", f"{s.get('dataset')}/{s.get('split')}"
    )
    paths["steps"] = plot_steps(report.results, out / "steps.png")
    paths["actions"] = plot_actions([s], out / "actions.png")
    actions = ", ".join(f"{k} {v}" for k, v in s["actions"].items()) or "none"
    wrong = [r for r in report.results if not r.correct][:5]
    lines = [
        f"# Evaluation: {s.get('model')} on {s.get('dataset')}/{s.get('split')}",
        "",
        markdown_table([s]),
        "",
        f"- answered: {_pct(s['answered_rate'])}; failed runs: {s['n_failed']}; "
        f"unknown verdicts: {s['n_unknown']} (counted wrong)",
        f"- actions: {actions}",
        f"- step budget {s.get('max_steps')}, concurrency {s.get('concurrency')}, "
        f"wall time {s.get('wall_s', 0):.1f} s",
        "",
        "![accuracy](accuracy.png) ![steps](steps.png) ![actions](actions.png)",
        "",
        "## First wrong answers",
        "",
        *(f"- `{r.question_id}`: gold `{r.gold}`, got `{r.answer}` ({r.outcome})" for r in wrong),
    ]
    paths["summary_md"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
