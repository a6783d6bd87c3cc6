"""SFT: prefix-shared loss equals the per-step loss, training moves the loss, export loads."""

from __future__ import annotations

import pytest
from trainer_fixtures import FIXTURES, GOOD_MATH, GOOD_QA, REPEAT_QA, tiny_model_dir

from swirl_agents.protocol import build_messages
from trainer.checkpoints import load_base
from trainer.sft import SFTConfig, batch_loss, chat, tokenize_trajectory, train_sft

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


def test_full_conversation_agrees_with_per_step_tokenization(tiny):
    _, tokenizer = load_base(str(tiny), device="cpu")
    (packed,) = tokenize_trajectory(tokenizer, REPEAT_QA)
    steps = REPEAT_QA.steps
    for i, (a, b) in enumerate(packed.spans):
        prompt = tokenizer.apply_chat_template(
            chat(build_messages(REPEAT_QA.system_prompt, REPEAT_QA.question, steps, upto=i)),
            tokenize=False,
            add_generation_prompt=True,
        )
        assert packed.input_ids[:a] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
        action = tokenizer.decode(packed.input_ids[a:b])
        assert action == steps[i].text + "<|im_end|>\n"


@pytest.mark.parametrize("normalize", [False, True])
def test_prefix_shared_loss_equals_mean_of_per_step_losses(tiny, normalize):
    model, tokenizer = load_base(str(tiny), device="cpu")
    trajs = [GOOD_MATH, REPEAT_QA, GOOD_QA]
    shared = [s for t in trajs for s in tokenize_trajectory(tokenizer, t, normalize=normalize)]
    separate = [
        s
        for t in trajs
        for s in tokenize_trajectory(tokenizer, t, normalize=normalize, prefix_shared=False)
    ]
    assert len(shared) == 3 and len(separate) == 3 + 3 + 2
    one_pass, step_losses = batch_loss(model, shared, pad_id=tokenizer.pad_token_id)
    # The reference: every step example on its own, then the same weighted mean.
    alone = torch.stack(
        [batch_loss(model, [s], pad_id=tokenizer.pad_token_id)[0] for s in separate]
    )
    weights = torch.tensor([w for s in separate for w in s.weights])
    reference = (weights * alone).sum() / weights.sum()
    torch.testing.assert_close(step_losses, alone.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(one_pass, reference, rtol=1e-5, atol=1e-6)
    # Gradients agree too.
    one_pass.backward()
    g_shared = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    reference = torch.stack(
        [batch_loss(model, [s], pad_id=tokenizer.pad_token_id)[0] for s in separate]
    )
    ((weights * reference).sum() / weights.sum()).backward()
    for a, b in zip(g_shared, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_max_length_drops_late_steps(tiny):
    _, tokenizer = load_base(str(tiny), device="cpu")
    (full,) = tokenize_trajectory(tokenizer, REPEAT_QA)
    cut = full.spans[1][1]
    (short,) = tokenize_trajectory(tokenizer, REPEAT_QA, max_length=cut)
    assert short.spans == full.spans[:2] and len(short.input_ids) == cut
    assert tokenize_trajectory(tokenizer, REPEAT_QA, max_length=5) == []


def test_sft_trains_and_loss_moves(tiny):
    model, tokenizer = load_base(str(tiny), device="cpu")
    config = SFTConfig(learning_rate=3e-3, max_steps=8, batch_size=4, warmup_ratio=0.0)
    figures = train_sft(model, tokenizer, FIXTURES, config)
    assert figures["optimizer_steps"] == 8 and figures["trajectories"] == len(FIXTURES)
    assert figures["loss_last"] < figures["loss_first"] * 0.9


def test_sft_runs_on_two_processes(tiny, tmp_path):
    # Two CPU processes (gloo): each trains on its own batches, gradients are averaged, and the
    # main process alone writes the model.
    import json
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from swirl_agents.traces import write_jsonl

    data, out = tmp_path / "trajs.jsonl", tmp_path / "out"
    write_jsonl(data, FIXTURES)
    bin_dir = Path(sys.executable).parent
    args = ["train", "--method", "sft", "--data", str(data), "--model", str(tiny)]
    args += ["--out", str(out), "--max-steps", "2", "--batch-size", "2", "--json"]
    with socket.socket() as free:  # a port nobody else is using for the rendezvous
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    # torchrun sets the env that Accelerator reads (accelerate launch --cpu would need mpirun)
    launch = [str(bin_dir / "torchrun"), "--nproc_per_node", "2", "--master_port", str(port)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launch, "--no-python", str(bin_dir / "swirl"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["processes"] == 2 and figures["optimizer_steps"] == 2
    assert (out / "config.json").is_file()


def test_train_cli_passes_the_lora_rank(tiny, tmp_path):
    import json

    from typer.testing import CliRunner

    from swirl_agents.cli import app
    from swirl_agents.traces import write_jsonl

    data, out = tmp_path / "trajs.jsonl", tmp_path / "out"
    write_jsonl(data, FIXTURES)
    args = ["train", "--method", "sft", "--data", str(data), "--model", str(tiny), "--lora"]
    args += ["--lora-r", "4", "--lora-alpha", "8", "--out", str(out), "--max-steps", "1", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    card = json.loads(next(out.glob("*card*.json")).read_text())
    assert (card["config"]["lora_r"], card["config"]["lora_alpha"]) == (4, 8)
