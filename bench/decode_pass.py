"""Where one decode pass of the embedded model spends its time, for 1 row and for N rows.

    .venv/bin/python bench/decode_pass.py [--rows 1 16] [--context 300] [--threads 2]

The engine's batched speed-up is bounded by how much one forward pass of N rows costs against one
of 1 row. This times that pass alone (the engine's in-place key/value layers, a cache of
``--context`` tokens per row, the best of ``--repeats``) and splits it with torch's profiler into
the matrix products of the projections and MLPs, the vocabulary projection (lm_head),
attention, and the rest. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import DynamicCache

from swirl_agents.models import load_chat_model
from swirl_agents.models.engine import _BufferLayer


def make_cache(model: Any, rows: int, context: int) -> torch.Tensor:
    """A zeroed key/value tensor of ``rows`` x ``context`` tokens, its pages already touched."""
    cfg = model.config
    dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return torch.zeros(cfg.num_hidden_layers, 2, rows, cfg.num_key_value_heads, context + 1, dim)


def decode_pass(model: Any, kv: torch.Tensor) -> float:
    """Seconds of one forward pass of one token per row over the cached tokens in ``kv``."""
    rows, context = kv.shape[2], kv.shape[4] - 1
    cache = DynamicCache()
    cache.layers = [_BufferLayer(k, v, start=0, used=context) for k, v in kv.unbind(0)]
    inputs = {
        "input_ids": torch.ones(rows, 1, dtype=torch.long),
        "attention_mask": torch.ones(rows, context + 1, dtype=torch.long),
        "position_ids": torch.full((rows, 1), context),
    }
    started = time.perf_counter()
    with torch.inference_mode():
        model(**inputs, past_key_values=cache, use_cache=True)
    return time.perf_counter() - started


def split(model: Any, kv: torch.Tensor) -> dict[str, float]:
    """Milliseconds per pass by kind of work, from torch's profiler."""
    vocab = model.config.vocab_size
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        decode_pass(model, kv)
    parts = {"matmul": 0.0, "lm_head": 0.0, "attention": 0.0, "other": 0.0}
    for event in prof.key_averages(group_by_input_shape=True):
        ms = event.self_cpu_time_total / 1e3
        if event.key in ("aten::mm", "aten::addmm", "aten::bmm"):
            shapes = str(event.input_shapes)
            parts["lm_head" if str(vocab) in shapes else "matmul"] += ms
        elif "attention" in event.key:
            parts["attention"] += ms
        else:
            parts["other"] += ms
    return {k: round(v, 1) for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 16], help="batch sizes")
    parser.add_argument("--context", type=int, default=300, help="cached tokens per row")
    parser.add_argument("--repeats", type=int, default=5, help="passes timed (best kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_chat_model("smollm2").hf_model
    figures: dict[str, Any] = {"bench": "decode_pass", "context": args.context}
    figures["torch_threads"] = torch.get_num_threads()
    for rows in args.rows:
        kv = make_cache(model, rows, args.context)
        decode_pass(model, kv)  # warm-up
        best = min(decode_pass(model, kv) for _ in range(args.repeats))
        figures[f"rows_{rows}"] = {
            "ms": round(best * 1e3, 1),
            "split_ms": split(model, kv),
        }
        print(f"{rows} rows: {best * 1e3:.1f} ms per pass", flush=True)
    one, most = figures[f"rows_{args.rows[0]}"]["ms"], figures[f"rows_{args.rows[-1]}"]["ms"]
    # The decode-only ceiling of the batched speed-up: N tokens per pass at this cost, vs 1.
    figures["decode_ceiling"] = round(args.rows[-1] * one / most, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
