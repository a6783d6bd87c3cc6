"""SWiRL (GRPO with a judge reward): states as prompts, cut-and-judge rewards, a few real steps."""

from __future__ import annotations

import json

import pytest
from trainer_fixtures import GOOD_MATH, GOOD_QA, tiny_model_dir

from trainer.checkpoints import load_base
from trainer.judges import RuleProcessJudge
from trainer.swirl import SwirlConfig, judge_reward, state_rows, train_swirl

torch = pytest.importorskip("torch")


def test_state_rows_are_conversational_prompts():
    rows = state_rows([GOOD_MATH])
    assert len(rows) == 3
    assert [m["role"] for m in rows[2]["prompt"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert rows[2]["prompt"][-1]["content"] == "48+24 -> 72"
    assert len(json.loads(rows[2]["history"])) == 2 and rows[2]["task"] == "math"


def test_reward_cuts_after_the_first_closed_tag_and_never_trusts_invented_results():
    rows = state_rows([GOOD_MATH])
    reward = judge_reward(RuleProcessJudge())
    final = rows[2]  # context: 48/2 -> 24, 48+24 -> 72
    completions = [
        [
            {
                "role": "assistant",
                "content": "So <answer>72</answer> trailing junk <math_exp>1/0</math_exp>",
            }
        ],
        # An invented result after the tag is cut away, so the answer is still unsupported.
        [{"role": "assistant", "content": "<answer>99</answer>\n99 -> 99"}],
        [{"role": "assistant", "content": "<math_exp>48+24"}],  # cut by the token cap: invalid
    ]
    batch = {k: [final[k]] * 3 for k in ("question", "history", "task")}
    assert reward(prompts=[final["prompt"]] * 3, completions=completions, **batch) == [
        1.0,
        0.0,
        0.0,
    ]


class _HasE:
    """A judge whose verdicts vary on a random model, so the group advantage is not zero."""

    name = "has-e"

    def judge_steps(self, contexts):
        return ["good" if "e" in c.action else "bad" for c in contexts]


def test_swirl_trains_a_few_steps(tmp_path):
    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    config = SwirlConfig(
        max_steps=2,
        num_generations=4,
        prompts_per_step=2,
        max_completion_length=8,
        learning_rate=1e-2,
    )
    trained, figures = train_swirl(model, tokenizer, [GOOD_MATH, GOOD_QA], _HasE(), config)
    assert figures["optimizer_steps"] == 2 and figures["states"] == 5
    assert len(figures["rewards"]) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, trained.parameters(), strict=True))


def test_swirl_trains_a_few_steps_on_trl(tmp_path):
    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    config = SwirlConfig(
        max_steps=1,
        num_generations=2,
        prompts_per_step=2,
        max_completion_length=4,
        backend="trl",
    )
    _, figures = train_swirl(model, tokenizer, [GOOD_MATH], _HasE(), config)
    assert figures["optimizer_steps"] == 1 and len(figures["rewards"]) == 1


def _prompts(tokenizer):
    rows = state_rows([GOOD_MATH])
    texts = tokenizer.apply_chat_template(
        [r["prompt"] for r in rows], tokenize=False, add_generation_prompt=True
    )
    return tokenizer(texts, add_special_tokens=False)["input_ids"]  # three lengths


def test_shared_prompt_sampling_is_what_generate_samples(tmp_path):
    from trainer.swirl import sample_actions

    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    prompts = _prompts(tokenizer)
    assert len({len(p) for p in prompts}) == 3  # left padding is exercised
    # near-zero temperature: the sampler is greedy, so it must match generate row by row
    got = sample_actions(model, tokenizer, prompts, 2, max_new_tokens=6, temperature=1e-6)
    for r, prompt in enumerate(prompts):
        want = model.generate(
            torch.tensor([prompt]), max_new_tokens=6, do_sample=False, pad_token_id=0
        )[0, len(prompt) :].tolist()
        eos = tokenizer.eos_token_id
        want = want[: want.index(eos)] if eos in want else want
        assert got[2 * r] == got[2 * r + 1] == want[: len(got[2 * r])]


def test_shared_prompt_logprobs_equal_separate_forward_passes(tmp_path):
    from trainer.swirl import action_logprobs

    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    prompts = _prompts(tokenizer)
    completions = [[5, 6, 7], [8], [9, 10], [], [11, 12, 13], [14, 15]]
    logp, mask = action_logprobs(model, prompts, completions, 2, 0)
    for row, c in enumerate(completions):
        prompt = prompts[row // 2]
        assert mask[row].sum().item() == len(c)
        if not c:
            continue
        ids = torch.tensor([prompt + c])
        full = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        want = full[len(prompt) - 1 : -1].gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
        torch.testing.assert_close(logp[row, : len(c)], want, atol=1e-4, rtol=1e-4)


def test_the_loss_raises_the_better_action_and_pays_for_drift():
    from trainer.swirl import group_advantages, swirl_loss

    advantages = group_advantages(torch.tensor([1.0, 0.0]), 2)
    assert advantages[0] > 0 > advantages[1]
    logp = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]], requires_grad=True)
    mask = torch.ones(2, 2)
    loss, stats = swirl_loss(logp, logp.detach(), advantages, mask, beta=0.1)
    loss.backward()
    assert stats["kl"] == 0.0 and abs(loss.item()) < 1e-6  # centred advantages, no drift yet
    assert (logp.grad[0] < 0).all() and (logp.grad[1] > 0).all()  # descent raises row 0
    drifted = torch.tensor([[-0.5, -0.5]], requires_grad=True)
    loss, stats = swirl_loss(drifted, torch.tensor([[-1.0, -1.0]]), torch.zeros(1), mask[:1], 0.1)
    assert stats["kl"] > 0 and loss.item() > 0


def test_a_group_with_one_reward_has_no_advantage():
    from trainer.swirl import group_advantages

    assert group_advantages(torch.tensor([1.0, 1.0, 0.0, 1.0]), 2).tolist()[:2] == [0.0, 0.0]


def test_finished_samples_leave_the_batch_and_the_rest_decode_unchanged(tmp_path, monkeypatch):
    import trainer.swirl as swirl

    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    prompts = _prompts(tokenizer)
    greedy = [model.generate(torch.tensor([p]), max_new_tokens=8, do_sample=False,
                             pad_token_id=0)[0, len(p):].tolist() for p in prompts]  # fmt: skip
    others = set(greedy[1]) | set(greedy[2])
    stop = next(t for t in greedy[0] if t not in others)  # row 0 ends early, the others go on
    monkeypatch.setattr("swirl_agents.models.engine.eos_ids", lambda _model, _tok: {stop})
    got = swirl.sample_actions(model, tokenizer, prompts, 1, max_new_tokens=8, temperature=1e-6)
    for prompt, sample in zip(prompts, got, strict=True):
        want = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                              pad_token_id=0, eos_token_id=stop)[0, len(prompt):].tolist()  # fmt: skip
        assert sample == [t for t in want if t != stop][: len(sample)]
        assert len(sample) == len([t for t in want if t != stop])
    assert len(got[0]) < 8 and all(len(s) == 8 for s in got[1:])


def _old_loss(model, reference, prompts, completions, advantages, k, beta):
    """The loss as the loop computed it before the per-state backward: one left-padded pass
    over the prompts, its cache repeated K times, one completion pass over the whole batch,
    the reference's likewise."""
    from swirl_agents.models.engine import output_cache
    from trainer.swirl import _completion_logprobs, swirl_loss

    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)

    def logprobs(m):
        out = m(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        cache = output_cache(out)
        cache.batch_repeat_interleave(k)
        prompt = (out.logits[:, -1].repeat_interleave(k, 0), cache,
                  mask.repeat_interleave(k, 0), positions[:, -1].repeat_interleave(k) + 1)  # fmt: skip
        return _completion_logprobs(m, prompt, completions, 0)

    logp, cmask = logprobs(model)
    with torch.no_grad():
        if reference is None:
            with model.disable_adapter():
                ref_logp, _ = logprobs(model)
        else:
            ref_logp, _ = logprobs(reference)
    return swirl_loss(logp, ref_logp, advantages, cmask, beta), int(cmask.sum())


@pytest.mark.parametrize("kind", ["reference", "lora"])
def test_the_per_state_backward_is_the_whole_batch_loss_and_gradient(tmp_path, kind):
    import copy

    from trainer.swirl import _run_prompts, swirl_backward

    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    torch.manual_seed(0)
    if kind == "lora":
        from peft import LoraConfig, get_peft_model

        # random B: the adapters change the model, so the KL term is not zero
        lora = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
        model, reference = get_peft_model(model, lora), None
    else:
        reference = copy.deepcopy(model).requires_grad_(False)
        with torch.no_grad():
            for p in reference.parameters():
                p.add_(0.02 * torch.randn_like(p))  # a drifted policy: KL > 0
    prompts = _prompts(tokenizer)  # three lengths: left padding is exercised
    completions = [[5, 6, 7], [8], [9, 10, 11, 12], [], [11, 12, 13], [14, 15]]
    advantages = torch.tensor([0.7, -0.7, 1.2, -1.2, -0.3, 0.3])
    params = [p for p in model.parameters() if p.requires_grad]

    (want, want_stats), want_tokens = _old_loss(
        model, reference, prompts, completions, advantages, 2, 0.1
    )
    want.backward()
    want_grads = [p.grad.clone() for p in params]
    model.zero_grad(set_to_none=True)

    passes = _run_prompts(model, prompts, 0)
    got, stats = swirl_backward(
        model, reference, passes, prompts, completions, advantages, 2, 0, 0.1
    )
    assert want_stats["kl"] > 0 and abs(want.item()) > 1e-4
    assert got == pytest.approx(want.item(), rel=1e-5, abs=1e-6)
    assert stats["kl"] == pytest.approx(want_stats["kl"], rel=1e-5, abs=1e-7)
    assert stats["tokens"] == want_tokens == sum(map(len, completions))
    for p, g in zip(params, want_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)


class _SpreadOnlyOn(_HasE):
    """Verdicts that vary (has-e) on one question's states and are all BAD on the others."""

    def __init__(self, question: str) -> None:
        self.question = question

    def judge_steps(self, contexts):
        varied = super().judge_steps(contexts)
        pairs = zip(varied, contexts, strict=True)
        return [v if c.question == self.question else "bad" for v, c in pairs]


def test_dynamic_sampling_trains_only_states_whose_rewards_differ(tmp_path, monkeypatch):
    import trainer.swirl as swirl

    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    trained_prompts = []
    real_backward = swirl.swirl_backward

    def spy(model, reference, passes, prompts, *args, **kwargs):
        trained_prompts.extend(tokenizer.decode(p) for p in prompts)
        return real_backward(model, reference, passes, prompts, *args, **kwargs)

    monkeypatch.setattr(swirl, "swirl_backward", spy)
    config = SwirlConfig(
        max_steps=3, num_generations=4, prompts_per_step=2, max_completion_length=8,
        dynamic_sampling=True, max_draws=4,
    )  # fmt: skip
    judge = _SpreadOnlyOn(GOOD_MATH.question)
    _, figures = train_swirl(model, tokenizer, [GOOD_MATH, GOOD_QA], judge, config)
    assert figures["states_trained"] == len(trained_prompts) > 0
    assert figures["states_sampled"] > figures["states_trained"]  # QA states were drawn, skipped
    assert figures["states_seen"] == figures["states_trained"]  # what the gradient saw
    assert all(GOOD_MATH.question in p and GOOD_QA.question not in p for p in trained_prompts)


def test_dynamic_sampling_without_spread_draws_its_cap_and_trains_nothing(tmp_path):
    model, tokenizer = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    config = SwirlConfig(
        max_steps=2, num_generations=2, prompts_per_step=2, max_completion_length=4,
        dynamic_sampling=True, max_draws=3,
    )  # fmt: skip
    trained, figures = train_swirl(model, tokenizer, [GOOD_MATH], _SpreadOnlyOn("none"), config)
    assert figures["states_trained"] == 0 and figures["states_sampled"] == 2 * 2 * 3
    assert figures["frac_reward_zero_std_mean"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, trained.parameters(), strict=True))


def test_a_lora_model_takes_its_cache_by_the_wrapped_models_name(tmp_path):
    from peft import LoraConfig, get_peft_model

    from swirl_agents.models.engine import cache_argument

    model, _ = load_base(str(tiny_model_dir(tmp_path / "tiny")), device="cpu")
    name = cache_argument(model)
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear"))
    assert cache_argument(wrapped) == name  # not the deprecated past_key_values of PEFT's forward


def test_the_trl_backend_names_checkpointing_as_the_installed_transformers_does(tmp_path):
    import warnings

    from trl import GRPOConfig

    from trainer.swirl import _checkpointing_argument

    name = _checkpointing_argument(GRPOConfig)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the old name warns from 5.24 on
        args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, **{name: False})
    assert getattr(args, name) is False
