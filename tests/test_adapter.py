"""Low-rank adapters: extract one from a fine-tuned model, merge it back, load it as smollm2."""

from __future__ import annotations

import pytest
from trainer_fixtures import tiny_model_dir

torch = pytest.importorskip("torch")


def _tuned(base_dir, out_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    q = model.model.layers[0].self_attn.q_proj.weight
    torch.manual_seed(1)
    with torch.no_grad():  # a rank-2 change to one matrix, and a changed norm
        q += torch.randn(q.shape[0], 2) @ torch.randn(2, q.shape[1]) * 0.1
        model.model.norm.weight += 0.5
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)
    return model


def test_extract_then_merge_gives_back_the_tuned_weights(tmp_path):
    from safetensors.torch import load_file

    from swirl_agents.models.adapter import merge_adapter
    from trainer.adapter import extract_adapter

    base = tiny_model_dir(tmp_path / "base")
    _tuned(base, tmp_path / "tuned")
    figures = extract_adapter(base, tmp_path / "tuned", tmp_path / "adapter", rank=4)
    assert figures["tensors"] == 3  # q_proj's A and B, and the norm in full
    assert figures["delta_energy_kept"] == pytest.approx(1.0, abs=1e-4)  # rank 2 <= rank 4
    merged = merge_adapter(base, tmp_path / "adapter", tmp_path / "merged")
    want, got = (
        load_file(f"{tmp_path}/tuned/model.safetensors"),
        load_file(f"{merged}/model.safetensors"),
    )
    for name, w in want.items():
        torch.testing.assert_close(got[name], w, atol=2e-3, rtol=1e-2)
    # merging again is a no-op (the stamp matches), and the checkpoint loads and generates
    assert merge_adapter(base, tmp_path / "adapter", tmp_path / "merged") == merged
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(merged)


def test_a_low_rank_adapter_keeps_the_top_directions(tmp_path):
    from trainer.adapter import extract_adapter

    base = tiny_model_dir(tmp_path / "base")
    _tuned(base, tmp_path / "tuned")
    figures = extract_adapter(base, tmp_path / "tuned", tmp_path / "a1", rank=1)
    assert 0.2 < figures["delta_energy_kept"] < 1.0


def test_smollm2_is_the_base_plus_the_shipped_adapter(tmp_path, monkeypatch):
    import swirl_agents.models as models
    import swirl_agents.models.adapter as adapter
    import swirl_agents.models.embedded as embedded
    from trainer.adapter import extract_adapter

    base = tiny_model_dir(tmp_path / "base")
    _tuned(base, tmp_path / "tuned")
    extract_adapter(base, tmp_path / "tuned", tmp_path / "shipped", rank=4)
    monkeypatch.setattr(embedded, "embedded_model_path", lambda: base)
    monkeypatch.setattr(adapter, "SHIPPED", tmp_path / "shipped")
    monkeypatch.setenv("SWIRL_CACHE", str(tmp_path / "cache"))
    assert models.local_model_path("smollm2-base") == base
    merged = models.local_model_path("smollm2")
    assert merged != base and (merged / "adapter.json").is_file()
    monkeypatch.setattr(adapter, "SHIPPED", tmp_path / "none")  # nothing shipped: the base
    assert models.local_model_path("smollm2") == base


def test_the_shipped_adapter_is_small_and_says_what_it_is():
    import hashlib
    import json

    from swirl_agents.models.adapter import CONFIG, SHIPPED, WEIGHTS, has_adapter

    if not has_adapter():
        pytest.skip("no adapter shipped")
    weights = (SHIPPED / WEIGHTS).read_bytes()
    meta = json.loads((SHIPPED / CONFIG).read_text())
    assert len(weights) <= 16 * 2**20  # the one set of weights in git stays small
    assert meta["sha256"] == hashlib.sha256(weights).hexdigest()  # what the merge cache keys on
    source = meta["source"]
    assert (
        source["command"].startswith("swirl train") and "--model smollm2-base" in source["command"]
    )
    assert (
        "test" not in source["data"].split("(")[0]
    )  # trained on a training pool, never a test split
