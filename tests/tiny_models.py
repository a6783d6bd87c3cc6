"""The tiny random causal LM every model test builds (no download: a config in the test tree)."""

from __future__ import annotations

from typing import Any


def tiny_llama(tokenizer: Any) -> Any:
    """A 2-layer, 32-wide Llama with seeded random weights, sized to ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config).eval()
