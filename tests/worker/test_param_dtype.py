"""``param_dtype="bf16"``: the model trains in bf16 over fp32 master weights (MasterAdamW)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from tests.worker.helpers import read_json
from tests.worker.test_reward import reward_spec
from tests.worker.test_sft import sft_spec
from worker import jobs
from worker.config import SFTConfig
from worker.runtime import MasterAdamW, Runtime, cast_parameters, make_optimizer, optimizer_step

CPU = Runtime(torch.device("cpu"))


def tiny_causal_lm(*, tied: bool = False) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=4096,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(config)


def config_for(param_dtype: str = "bf16", **overrides: object) -> SFTConfig:
    return SFTConfig(
        release="file:///unused",
        base_model="unused",
        output_dir="/unused",
        param_dtype=param_dtype,  # type: ignore[arg-type]
        weight_decay=0.1,
        learning_rate=1e-2,
        **overrides,  # type: ignore[arg-type]
    )


def backward_on(model: torch.nn.Module, seed: int) -> None:
    ids = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(seed))
    model(input_ids=ids, labels=ids).loss.backward()


def test_only_parameters_become_bf16_and_tied_weights_stay_tied() -> None:
    model = tiny_causal_lm(tied=True)
    inv_freq = model.model.rotary_emb.inv_freq.clone()
    assert inv_freq.dtype == torch.float32

    cast_parameters(model, config_for())

    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    # A bf16 inverse frequency would turn position 3,000's angles by radians.
    assert torch.equal(model.model.rotary_emb.inv_freq, inv_freq)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert len(list(model.parameters())) == len(set(map(id, model.parameters())))


def test_fp32_param_dtype_leaves_the_model_and_optimizer_as_they_were() -> None:
    model = tiny_causal_lm()
    cast_parameters(model, config_for("fp32"))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    optimizer = make_optimizer(model, config_for("fp32"), CPU)
    assert type(optimizer) is torch.optim.AdamW


def test_the_masters_take_adamw_steps_in_fp32_and_the_model_gets_them_rounded() -> None:
    """Three clipped steps of MasterAdamW over a bf16 model equal plain AdamW over fp32
    weights fed the same (bf16) gradients, and the model holds the masters rounded."""
    model = tiny_causal_lm()
    cast_parameters(model, config_for())
    config = config_for(max_grad_norm=0.5)
    optimizer = make_optimizer(model, config, CPU)
    assert isinstance(optimizer, MasterAdamW)
    # In the masters' order, so that the clipping norm adds the same numbers in the same order.
    reference = [p.detach().float().clone().requires_grad_() for p in optimizer.model_params]
    ref_optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in reference if p.ndim >= 2], "weight_decay": 0.1},
            {"params": [p for p in reference if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=1e-2,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    by_id = dict(zip(map(id, optimizer.model_params), reference, strict=True))
    for seed in range(3):
        backward_on(model, seed)
        for param in model.parameters():
            assert param.grad is not None and param.grad.dtype == torch.bfloat16
            by_id[id(param)].grad = param.grad.float()
        ref_norm = torch.nn.utils.clip_grad_norm_(reference, 0.5)
        ref_optimizer.step()
        ref_optimizer.zero_grad()

        norm = optimizer_step(model, optimizer, scheduler, 0.5)

        assert norm.item() == pytest.approx(ref_norm.item(), rel=1e-6)
        assert all(p.grad is None for p in model.parameters())
        for param, master in zip(optimizer.model_params, optimizer.masters, strict=True):
            assert master.dtype == torch.float32
            assert torch.equal(master, by_id[id(param)].detach())
            assert torch.equal(param, master.to(torch.bfloat16))
    # The masters moved by steps too small for bf16 to see: they are not the rounded weights.
    assert any(not torch.equal(m, m.bfloat16().float()) for m in optimizer.masters)


def test_a_checkpointed_master_optimizer_resumes_from_the_masters() -> None:
    def start() -> tuple[torch.nn.Module, MasterAdamW, torch.optim.lr_scheduler.LambdaLR]:
        model = tiny_causal_lm()
        cast_parameters(model, config_for())
        optimizer = make_optimizer(model, config_for(), CPU)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)

    model, optimizer, scheduler = start()
    for seed in range(2):
        backward_on(model, seed)
        optimizer_step(model, optimizer, scheduler, 1.0)
    saved = io.BytesIO()
    torch.save(optimizer.state_dict(), saved)
    saved.seek(0)

    again, restored, again_scheduler = start()  # the base weights, as a restarted run has them
    restored.load_state_dict(torch.load(saved, weights_only=True))
    for ours, theirs in zip(optimizer.masters, restored.masters, strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    backward_on(model, 2)
    backward_on(again, 2)
    optimizer_step(model, optimizer, scheduler, 1.0)
    optimizer_step(again, restored, again_scheduler, 1.0)
    for ours, theirs in zip(optimizer.masters, restored.masters, strict=True):
        assert torch.equal(ours, theirs)


def test_sft_in_bf16_weights_trains_like_fp32_and_saves_the_masters(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    results = {}
    for dtype in ("fp32", "bf16"):
        output = tmp_path / dtype
        spec = sft_spec(release, tiny_model, output, param_dtype=dtype, save_dtype="fp32")
        results[dtype] = jobs.run_sft(spec)
        assert results[dtype]["status"] == "succeeded"
    fp32_log = read_json(tmp_path / "fp32" / "metrics.json")["train_log"]
    bf16_log = read_json(tmp_path / "bf16" / "metrics.json")["train_log"]
    # bf16 rounds every activation (about 3 significant digits): the losses follow fp32's.
    for ours, theirs in zip(bf16_log, fp32_log, strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=0.02), ours["step"]
    assert bf16_log[-1]["loss"] < 0.6 * bf16_log[0]["loss"]
    assert results["bf16"]["metrics"]["eval_loss"] == pytest.approx(
        results["fp32"]["metrics"]["eval_loss"], rel=0.02
    )

    # save_dtype fp32 writes the fp32 masters, not bf16 weights widened.
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16", dtype=torch.float32)
    widened = [torch.equal(p, p.bfloat16().float()) for p in saved.parameters()]
    assert not any(widened)


def test_bf16_weights_save_bf16_by_default_and_train_a_reward_model(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    sft_out = tmp_path / "sft"
    jobs.run_sft(sft_spec(release, tiny_model, sft_out, param_dtype="bf16", max_steps=4))
    with safe_open(str(sft_out / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}  # noqa: SIM118
    assert dtypes == {"BF16"}

    result = jobs.run_reward(reward_spec(release, tiny_model, tmp_path / "rm", param_dtype="bf16"))
    assert result["metrics"]["eval_pairwise_accuracy"] > 0.9
