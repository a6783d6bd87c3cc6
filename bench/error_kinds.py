"""Why evaluated runs are wrong: each wrong run sorted into one kind, with the rule judge's help.

    .venv/bin/python bench/error_kinds.py --store runs/exp3/eval_traces.db [--model runs/exp3/swirl]
        [--dataset gsm8k]

Reads the ``eval`` traces that ``swirl eval --store`` or ``bench/learning.py`` wrote and sorts
every graded, wrong run into the first kind that fits:

- ``no_answer``: the step budget ran out (or the run failed);
- ``invalid_step``: a model turn that parses to no action;
- ``bad_calculation``: a calculator step the rule judge rejects: a number in neither the
  question nor an earlier result (made up or misread), an expression that fails, or a repeat;
- ``ungrounded_answer``: the answer is not a value the calculator returned;
- ``wrong_plan``: every step passes the rule judge (known numbers, grounded answer), yet the
  answer is wrong: the model computed the wrong thing.

With ``--dataset hotpotqa`` (the question's supporting titles and gold answer come from the
dataset, as the grader's do; no judge reads them) a wrong answered run is:

- ``answer_in_evidence``: the gold answer is written in the search results the run had, yet the
  model answered something else (reading, not retrieval, failed);
- ``missing_paragraph``: a supporting paragraph was never retrieved and the gold answer is not in
  the results (retrieval failed);
- ``wrong_with_evidence``: every supporting paragraph was retrieved, the gold answer is not
  written in them (a yes/no or comparison answer), and the answer is wrong.

Prints a JSON line per model.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict

from swirl_agents.grading import written_in
from swirl_agents.traces.store import open_store
from trainer.judges import RuleProcessJudge, step_contexts


def kind_of(trajectory, judge: RuleProcessJudge) -> str:
    """The first kind of error that fits a wrong run (see the module docstring)."""
    if trajectory.outcome != "answered":
        return "no_answer"
    contexts = step_contexts(trajectory)
    for step, context in zip(trajectory.steps, contexts, strict=True):
        if step.kind == "invalid":
            return "invalid_step"
        if step.kind == "math" and judge.judge(context) == "bad":
            return "bad_calculation"
    if judge.judge(contexts[-1]) == "bad":
        return "ungrounded_answer"
    return "wrong_plan"


def qa_kind_of(trajectory, gold: str, titles: set[str], titles_for) -> str:
    """The kind of error of a wrong HotPotQA run (see the module docstring)."""
    if trajectory.outcome != "answered":
        return "no_answer"
    searches = [s for s in trajectory.steps if s.kind == "search"]
    if any(s.kind == "invalid" for s in trajectory.steps):
        return "invalid_step"
    found = set().union(*(titles_for(s.argument) for s in searches)) if searches else set()
    if written_in(gold, " ".join(s.observation or "" for s in searches)):
        return "answer_in_evidence"
    return "wrong_with_evidence" if titles <= found else "missing_paragraph"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the eval trace store")
    parser.add_argument("--model", default=None, help="only runs of this model")
    parser.add_argument("--dataset", default="gsm8k", help="only runs on this dataset")
    parser.add_argument("--split", default=None, help="only runs on this split (e.g. eval)")
    args = parser.parse_args()
    judge = RuleProcessJudge()
    kinds: dict[str, Counter] = defaultdict(Counter)
    qa = args.dataset == "hotpotqa"
    if qa:
        from swirl_agents.datasets import load_questions
        from trainer.reference import corpus_titles

        titles_for, questions = corpus_titles(), {}
    store = open_store(args.store)
    try:
        for t in store.iter(source="eval", dataset=args.dataset):
            if (args.model and t.model != args.model) or t.correct is None:
                continue
            if args.split and t.split != args.split:
                continue
            kinds[t.model]["runs"] += 1
            if t.correct:
                kinds[t.model]["correct"] += 1
            elif qa:
                if t.split not in questions:
                    questions[t.split] = {q.id: q for q in load_questions("hotpotqa", t.split)}
                q = questions[t.split][t.question_id]
                titles = set(q.metadata["supporting_titles"])
                kinds[t.model][qa_kind_of(t, q.answer, titles, titles_for)] += 1
            else:
                kinds[t.model][kind_of(t, judge)] += 1
    finally:
        store.close()
    for model, counts in kinds.items():
        print(json.dumps({"model": model, "dataset": args.dataset, **counts}))


if __name__ == "__main__":
    main()
