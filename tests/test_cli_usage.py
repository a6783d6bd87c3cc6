"""Careless input to the commands: one line, exit 2 (bad usage) or 1 (a failure), and no model
loaded before every argument was checked. No test here loads a model or reaches a network: the
model loader is replaced by one that fails the test when it is called."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from swirl_agents.cli import app
from swirl_agents.datasets import canonical_names, load_questions
from swirl_agents.errors import UsageError


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model load fails the test: these inputs must be refused before one."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a model was loaded: {args} {kwargs}")

    monkeypatch.setattr("swirl_agents.models.load_chat_model", refuse)


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy_math.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"6*7? #{i}", "answer": "42"}) + "\n" for i in range(3))
    )
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def one_line_error(result) -> str:
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# --- unknown tools: before the model loads (it used to load first, ~21 s) ---------------------


def test_generate_unknown_tool_before_the_model(no_model, toy, tmp_path):
    db = tmp_path / "x.db"
    result = run("generate", "--dataset", str(toy), "--tools", "search", "--store", str(db))
    assert result.exit_code == 2
    assert "unknown tool 'search'" in one_line_error(result)
    assert not db.exists()  # the store is not created for a command that was refused


def test_generate_tools_naming_no_tool(no_model, toy, tmp_path):
    result = run("generate", "--dataset", str(toy), "--tools", ",", "--store", str(tmp_path / "x"))
    assert result.exit_code == 2 and "names no tool" in one_line_error(result)


def test_ask_unknown_tool_before_the_model(no_model):
    result = run("ask", "what is 2+2?", "--tools", "nope")
    assert result.exit_code == 2 and "unknown tool 'nope'" in one_line_error(result)


# --- --model and --base-url ------------------------------------------------------------------


def _model_command(command, toy, tmp_path) -> list[str]:
    """The arguments of ``swirl ask`` or ``swirl generate`` up to the model options."""
    if command == "ask":
        return ["ask", "2+2?"]
    return ["generate", "--dataset", str(toy), "--store", str(tmp_path / "x.db")]


@pytest.mark.parametrize("command", ["ask", "generate"])
def test_a_model_typo_suggests_the_embedded_model(no_model, toy, tmp_path, command):
    args = _model_command(command, toy, tmp_path)
    result = run(*args, "--model", "smolm2")
    assert result.exit_code == 2
    assert "did you mean smollm2" in one_line_error(result)


@pytest.mark.parametrize("command", ["ask", "generate"])
def test_base_url_without_an_openai_model_is_refused(no_model, toy, tmp_path, command):
    # It used to be ignored: the embedded model loaded and answered instead of the server.
    args = _model_command(command, toy, tmp_path)
    result = run(*args, "--base-url", "http://localhost:9/v1")
    assert result.exit_code == 2
    assert "--base-url needs --model openai:NAME" in one_line_error(result)


def test_a_model_directory_that_does_not_exist(no_model):
    result = run("ask", "2+2?", "--model", "./no-such-model")
    assert result.exit_code == 2 and "no such model directory" in one_line_error(result)


def test_a_missing_api_key_is_named(monkeypatch):
    pytest.importorskip("langchain_google_genai")
    for key in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    result = run("ask", "2+2?", "--model", "google_genai:gemini-2.5-flash")
    assert result.exit_code == 2
    line = one_line_error(result)  # it used to be "1 validation error for ChatGoogleGenerativeAI"
    assert "GOOGLE_API_KEY" in line and "validation error" not in line


# --- --dataset and --split -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["eval", "generate"])
def test_a_dataset_file_that_does_not_exist(no_model, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = run(command, "--dataset", "nope.jsonl", "--store", "x.db")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line == "error: no such file: nope.jsonl"  # no data-root hint: it is the user's path
    assert not (tmp_path / "x.db").exists()


def test_a_missing_data_root_is_named(no_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SWIRL_DATA", str(tmp_path / "nowhere"))
    result = run("eval", "--dataset", "gsm8k", "--no-store")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "$SWIRL_DATA" in line and str(tmp_path / "nowhere") in line


def test_a_dataset_that_is_a_directory(no_model, tmp_path):
    result = run("eval", "--dataset", str(tmp_path), "--no-store")
    assert result.exit_code == 2 and "is a directory" in one_line_error(result)


def test_a_dataset_line_that_is_not_utf8(no_model, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"question": "1+1", "answer": "2"}\n{"question": "\xd0\xff"}\n')
    result = run("eval", "--dataset", str(path), "--no-store")
    assert result.exit_code == 2
    assert f"{path}:2: not UTF-8" in one_line_error(result)  # was: 'utf-8' codec can't decode...


def test_generate_from_annotations_refuses_before_creating_the_store(tmp_path):
    db = tmp_path / "x.db"
    result = run("generate", "--dataset", "mnist", "--from-annotations", "--store", str(db))
    assert result.exit_code == 2 and "unknown dataset" in one_line_error(result)
    assert not db.exists()


def test_generate_takes_dataset_and_split_names_in_any_case(tmp_path):
    db = tmp_path / "x.db"
    args = ["generate", "--dataset", "GSM8K", "--split", "Train", "--from-annotations"]
    result = run(*args, "--limit", "1", "--store", str(db), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    # ... and an evaluation split in capitals is still refused as training data
    args = ["generate", "--dataset", "GSM8K", "--split", "TEST", "--from-annotations"]
    result = run(*args, "--limit", "1", "--store", str(db))
    assert result.exit_code == 2 and "refusing to build training data" in one_line_error(result)


def test_load_questions_paths_and_names(tmp_path):
    other = tmp_path / "questions.json"  # an existing file is a path, whatever it is called
    other.write_text(json.dumps({"question": "1+1", "answer": "2"}) + "\n")
    assert [q.answer for q in load_questions(str(other))] == ["2"]
    assert canonical_names("GSM8K", " Test") == ("gsm8k", "test")
    assert canonical_names("My.jsonl", "X") == ("My.jsonl", "X")
    with pytest.raises(UsageError, match="not 'TEST'"):  # the loader takes only exact names
        load_questions("gsm8k", "TEST")
    with pytest.raises(UsageError, match="unknown dataset 'mnist'"):
        load_questions("mnist")
    with pytest.raises(FileNotFoundError, match="^no such file: nope.jsonl$"):
        load_questions("nope.jsonl")  # still a FileNotFoundError, and a UsageError (exit 2)
    with pytest.raises(UsageError):
        load_questions("nope.jsonl")


# --- swirl train / filter: checked before the data and the base model load --------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "bogus"], "--backend must be native or trl"),
        (["--beta", "0"], "--beta must be > 0"),
        (["--model", "smolm2"], "did you mean smollm2"),
        (["--judge", "smolm2"], "did you mean smollm2"),
        (["--judge", "rule", "--base-url", "http://localhost:9/v1"], "--base-url is for a judge"),
    ],
)
def test_train_checks_its_arguments_first(no_model, tmp_path, extra, message):
    # --data names no file: a check that ran after loading the data would report that instead
    args = ["train", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]
    result = run(*args, *extra)
    assert result.exit_code == 2 and message in one_line_error(result)


def test_train_out_that_is_a_file(no_model, tmp_path):
    out = tmp_path / "model.bin"
    out.write_text("")
    args = ["train", "--method", "sft", "--data", str(tmp_path / "none.jsonl"), "--out", str(out)]
    result = run(*args)
    assert result.exit_code == 2 and "is a file" in one_line_error(result)


def test_filter_checks_the_judge_first(no_model, tmp_path):
    args = ["filter", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "f.jsonl")]
    result = run(*args, "--judge", "smollm2", "--base-url", "http://localhost:9/v1")
    assert result.exit_code == 2 and "--base-url needs --judge openai:NAME" in one_line_error(
        result
    )


def test_filter_prefix_needs_a_process_mode(no_model, tmp_path):
    args = ["filter", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "f.jsonl")]
    result = run(*args, "--mode", "outcome", "--prefix")
    assert result.exit_code == 2 and "--prefix" in one_line_error(result)


def test_debug_shows_the_traceback_of_a_failure(no_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SWIRL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("SWIRL_DEBUG", "")  # restored after: --debug sets it for the process
    result = run("--debug", "eval", "--dataset", "gsm8k", "--no-store")
    assert result.exit_code == 1
    assert isinstance(result.exception, FileNotFoundError)  # raised, not turned into one line
    assert "error: " not in result.output


def test_swirl_data_expands_the_home_directory(monkeypatch, tmp_path):
    from swirl_agents.paths import data_root

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SWIRL_DATA", "~/data")  # quoted in a shell, ~ reaches us unexpanded
    assert data_root() == tmp_path / "data"


def test_the_default_corpus_outside_the_data_root_names_it(no_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SWIRL_DATA", str(tmp_path / "nowhere"))
    result = run("ask", "Who wrote Hamlet?", "--tools", "corpus")
    assert result.exit_code == 2
    line = one_line_error(result)  # was: "corpus not found: PATH", with no word of $SWIRL_DATA
    assert "hotpotqa_dev_union_corpus.jsonl" in line and "$SWIRL_DATA" in line


@pytest.mark.parametrize("command", ["filter", "train"])
def test_a_question_file_as_data_is_one_line(no_model, toy, tmp_path, command):
    # It used to print one "skipped ... a dataset question" line per question (1319 for GSM8K)
    args = [command, "--data", str(toy), "--out", str(tmp_path / "out")]
    result = run(*args)
    assert result.exit_code == 2
    assert "is a question/answer dataset, not trajectories" in one_line_error(result)


def test_an_os_error_is_one_line(tmp_path):
    db = str(tmp_path / "t.db")
    args = ["generate", "--dataset", "gsm8k", "--split", "train", "--from-annotations"]
    assert run(*args, "--limit", "1", "--store", db).exit_code == 0
    result = run("traces", "export", str(tmp_path), "--store", db)  # a directory, not a file
    assert result.exit_code == 1
    assert one_line_error(result) == f"error: Is a directory: {tmp_path}"  # was a traceback


# --- swirl eval: the model and grader are checked before the store is opened --------------------


def test_eval_refuses_a_model_typo_before_creating_the_store(no_model, toy, tmp_path):
    db = tmp_path / "eval.db"
    result = run("eval", "--dataset", str(toy), "--model", "smolm2", "--store", str(db))
    assert result.exit_code == 2 and "did you mean smollm2" in one_line_error(result)
    assert not db.exists()


def test_eval_refuses_base_url_without_an_openai_model(no_model, toy, tmp_path):
    db = tmp_path / "eval.db"
    result = run("eval", "--dataset", str(toy), "--base-url", "http://localhost:9/v1",
                 "--store", str(db))  # fmt: skip
    assert result.exit_code == 2 and "--base-url needs" in one_line_error(result)
    assert not db.exists()


def test_eval_refuses_a_grader_typo_before_the_model(no_model, toy, tmp_path):
    result = run("eval", "--dataset", str(toy), "--grader", "smolm2", "--no-store")
    assert result.exit_code == 2 and "--grader" in one_line_error(result)


def test_eval_takes_dataset_names_in_any_case(no_model, tmp_path):
    result = run("eval", "--dataset", "GSM8K", "--split", "Test", "--model", "smolm2")
    assert "did you mean smollm2" in one_line_error(result)  # got past the dataset check
