"""Small weight deltas that travel with the package: a low-rank adapter on top of a base checkpoint.

An adapter directory holds ``adapter.safetensors`` and ``adapter.json``. For every weight matrix W
of the base (linear layers and embeddings) it stores ``<name>.lora_A`` [r, in] and
``<name>.lora_B`` [out, r] with W' = W + B @ A, and for small tensors (norms) the full tuned value
``<name>.full``. :func:`merge_adapter` writes W' into a plain Hugging Face
checkpoint that every local backend loads; ``trainer.adapter.extract_adapter`` makes adapters.

The embedded default ``smollm2`` is SmolLM2-135M-Instruct with the adapter shipped in
``swirl_agents/models/adapters/smollm2-swirl`` (when one is shipped), merged once into the cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from filelock import FileLock

SHIPPED = Path(__file__).parent / "adapters" / "smollm2-swirl"
WEIGHTS, CONFIG = "adapter.safetensors", "adapter.json"


def has_adapter(path: Path | None = None) -> bool:
    """Whether ``path`` (default: the shipped adapter) holds an adapter."""
    path = path or SHIPPED
    return (path / WEIGHTS).is_file() and (path / CONFIG).is_file()


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Write base + adapter into ``out_dir`` as a plain checkpoint (once; guarded by a file lock)."""
    from safetensors.torch import load_file, save_file

    out_dir = Path(out_dir)
    meta = json.loads((adapter_dir / CONFIG).read_text())
    stamp = out_dir / ".merged"
    with FileLock(str(out_dir) + ".lock"):
        if stamp.is_file() and stamp.read_text() == meta["sha256"]:
            return out_dir
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(base_dir, tmp)
        weights = load_file(str(base_dir / "model.safetensors"))
        delta = load_file(str(adapter_dir / WEIGHTS))
        for name, w in weights.items():
            if f"{name}.full" in delta:
                weights[name] = delta[f"{name}.full"].to(w.dtype)
            elif f"{name}.lora_A" in delta:
                a, b = delta[f"{name}.lora_A"].float(), delta[f"{name}.lora_B"].float()
                weights[name] = (w.float() + b @ a).to(w.dtype)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2))
        (tmp / ".merged").write_text(meta["sha256"])
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    return out_dir


def shipped_model_path() -> Path | None:
    """The embedded base with the shipped adapter merged (cached), or None when none is shipped."""
    if not has_adapter():
        return None
    from swirl_agents.models.embedded import embedded_model_path
    from swirl_agents.paths import cache_dir

    return merge_adapter(embedded_model_path(), SHIPPED, cache_dir() / "smollm2-135m-swirl")
