"""Reward-model training on a release's ``preferences`` or ``rankings`` config.

The model is the base model as a sequence classifier with one output
(``AutoModelForSequenceClassification``, ``num_labels=1``); causal and encoder bases both work.
Each prompt's K ranked responses give every strictly ordered pair (better, worse) that a
majority of its rankers agreed on (``min_margin``, see RewardConfig: ties and pairs most
rankers ordered the other way are left out by default); the loss, as in Open-Assistant's
reward training, is the Bradley–Terry one per pair::

    -log σ(r_better − r_worse − margin_scale · (rank_worse − rank_better))

averaged over the prompt's pairs and then over the step's prompts, plus ``score_l2 · mean(r²)``
to keep scores near zero. Test-split metrics: pairwise accuracy over the kept pairs and
Kendall's tau against the consensus order, averaged over prompts (with ``eval_pairs`` and
``eval_prompts``, the counts they were computed on).

The model scores the prompt as formatted for training (``prompt_format``) followed by the
response's raw tokens: no end marker, end-of-turn or EOS token (worker.data.tokenize_group).

For decoder bases the prompt is encoded once and each response is a branch after it (one
packed row, see worker.data.collate_groups_shared), so a K-way group costs prompt + ΣK
response tokens instead of K × (prompt + response); micro-batches are filled by tokens.

Several GPUs of one node, same entry point::

    torchrun --standalone --nproc-per-node=8 -m worker.jobs reward spec.json
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from worker.config import RewardConfig
from worker.data import (
    PackedBatch,
    TokenizedGroup,
    collate_groups_padded,
    collate_groups_shared,
    load_ranked_prompts,
    pack_by_tokens,
    tokenize_group,
)
from worker.evaluate import ranking_metrics
from worker.loop import Launched, StepLoop, train_to_output
from worker.masks import attention_mask
from worker.progress import ProgressCallback, StopCheck, never_stop, no_progress
from worker.runtime import (
    RunPaths,
    Runtime,
    Timer,
    apply_lora,
    cast_parameters,
    compile_layers,
    load_model,
    load_tokenizer,
    make_optimizer,
    make_scheduler,
    optimizer_step,
    resolve_attention,
    resolve_compile,
    result_from,
    resume,
    seed_everything,
    setup_runtime,
    step_lr,
    to_device,
    unwrap_hf,
)

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_groups(
    config: RewardConfig, tokenizer: Any, split: str, limit: int | None = None
) -> list[TokenizedGroup]:
    """Tokenize a split's ranked prompts (prompt_id order), the pairs ``min_margin`` refuses
    left out."""
    groups = load_ranked_prompts(config.release, config.config_name, split, config.min_margin)
    groups = groups[:limit]
    return [
        tokenize_group(
            tokenizer,
            g,
            max_prompt_len=config.max_prompt_len,
            max_response_len=config.max_response_len,
            fmt=config.prompt_format,
        )
        for g in groups
    ]


def group_cost(group: TokenizedGroup, shared: bool) -> int:
    """Tokens a group occupies in a micro-batch."""
    if shared:
        return group.n_tokens
    return sum(len(group.prompt) + len(r) for r in group.responses)


def plan_steps(
    groups: list[TokenizedGroup], config: RewardConfig, world: int, shared: bool
) -> list[list[list[int]]]:
    """For each optimizer step, its micro-batches (lists of group indices), all processes'.

    Every epoch shuffles the groups with its own seed and fills micro-batches by tokens in
    that order. Each step has ``grad_accum_steps × world`` micro-batches; an epoch's last step
    may have fewer, always a multiple of ``world`` (the remainder is dropped) so that every
    process runs the same number of passes.
    """
    per_step = config.grad_accum_steps * world
    costs = [group_cost(g, shared) for g in groups]
    steps: list[list[list[int]]] = []
    epoch = 0
    while epoch < config.num_epochs or (config.max_steps and len(steps) < config.max_steps):
        order = list(range(len(groups)))
        random.Random(f"{config.seed}/{epoch}").shuffle(order)
        runs = pack_by_tokens([costs[i] for i in order], config.micro_batch_tokens)
        micro = [[order[i] for i in run] for run in runs]
        micro = micro[: len(micro) - len(micro) % world]
        steps.extend(micro[i : i + per_step] for i in range(0, len(micro), per_step))
        epoch += 1
        if not micro:
            raise ValueError("too few ranked prompts for one micro-batch per process")
    return steps[: config.max_steps] if config.max_steps else steps


def passes_of(micro_batch: list[int], config: RewardConfig, runtime: Runtime) -> list[list[int]]:
    """The forward and backward passes of one micro-batch (group indices): the whole
    micro-batch, or each prompt's group on its own on a CPU without compile.

    Groups cannot see each other and the step's loss is a sum over groups (normalised by the
    step's counts, not the pass's), so group by group gives the same gradients. On a CPU that
    cuts the peak memory and the time (SmolLM2-135M, 4,096-token micro-batches: 8.2 GB against
    4.0 GB, at twice the speed); an accelerator is faster with whole micro-batches, and a
    compiled model keeps one shape.
    """
    if runtime.device.type == "cpu" and not resolve_compile(config.compile, runtime):
        return [[index] for index in micro_batch]
    return [micro_batch]


def collate(
    groups: list[TokenizedGroup],
    indices: list[int],
    shared: bool,
    pad_id: int,
    min_length: int = 0,
) -> PackedBatch:
    """One micro-batch of groups plus the pair tensors the loss needs (in ``extra``).

    Shared rows are padded to at least ``min_length`` tokens (a compiled model then sees one
    shape: rows are filled up to ``micro_batch_tokens``)."""
    chosen = [groups[i] for i in indices]
    batch = (
        collate_groups_shared(chosen, pad_id=pad_id, min_length=min_length)
        if shared
        else collate_groups_padded(chosen, pad_id=pad_id)
    )
    better, worse, weight, gap = [], [], [], []
    offset = 0
    for group in chosen:
        pairs = group.pairs()
        for i, j in pairs:
            better.append(offset + i)
            worse.append(offset + j)
            weight.append(1.0 / len(pairs))
            gap.append(group.ranks[j] - group.ranks[i])
        offset += len(group.responses)
    batch.extra.update(
        pair_better=torch.tensor(better, dtype=torch.long),
        pair_worse=torch.tensor(worse, dtype=torch.long),
        pair_weight=torch.tensor(weight),
        pair_gap=torch.tensor(gap),
        n_groups=len(chosen),
        n_responses=offset,
    )
    return batch


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def is_decoder_classifier(model: nn.Module) -> bool:
    """True for transformers' decoder classifiers (a ``score`` head over the last token)."""
    hf = unwrap_hf(model)
    return hasattr(hf, "score") and not getattr(hf.config, "is_encoder_decoder", False)


class GroupScorer(nn.Module):
    """Wraps a sequence classifier: forward returns one score per response of a micro-batch.

    Decoders run their backbone with the packed mask and read the score head at each
    response's last token; other models run as usual with a padding mask.
    """

    def __init__(self, model: nn.Module, attention: str) -> None:
        super().__init__()
        self.model = model
        self.attention = attention
        self.decoder = is_decoder_classifier(model)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        doc: torch.Tensor,
        segment: torch.Tensor,
        score_row: torch.Tensor,
        score_index: torch.Tensor,
    ) -> torch.Tensor:
        hf = unwrap_hf(self.model)
        if not self.decoder:
            logits = hf(input_ids=input_ids, attention_mask=(doc >= 0).long()).logits
            return logits[:, 0].float()
        batch = PackedBatch(input_ids, position_ids, doc, segment, doc)
        backbone = getattr(hf, hf.base_model_prefix)
        hidden = backbone(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask(batch, self.attention, hf.dtype),
            use_cache=False,
        ).last_hidden_state
        return hf.score(hidden[score_row, score_index]).squeeze(-1).float()  # type: ignore[no-any-return]


def scorer_inputs(batch: PackedBatch, device: torch.device) -> tuple[torch.Tensor, ...]:
    moved = batch.to(device)
    return (
        moved.input_ids,
        moved.position_ids,
        moved.doc,
        moved.segment,
        moved.extra["score_row"],
        moved.extra["score_index"],
    )


def pair_loss(scores: torch.Tensor, batch: PackedBatch, config: RewardConfig) -> torch.Tensor:
    """Summed per-prompt-mean Bradley–Terry loss of a micro-batch (divide by the step's prompts)."""
    extra = batch.extra
    device = scores.device
    diff = scores[extra["pair_better"].to(device)] - scores[extra["pair_worse"].to(device)]
    diff = diff - config.margin_scale * extra["pair_gap"].to(device)
    weight = extra["pair_weight"].to(device)
    return (-nn.functional.logsigmoid(diff) * weight).sum()


def build_model(config: RewardConfig, runtime: Runtime, attention: str, pad_id: int) -> nn.Module:
    """Load the base as a one-output sequence classifier, add LoRA if asked, move to device."""
    from transformers import AutoModelForSequenceClassification

    model = load_model(
        AutoModelForSequenceClassification, config, attention, num_labels=1, pad_token_id=pad_id
    )
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable(  # type: ignore[operator]
            activation_checkpointing_kwargs={"use_reentrant": False}
        )
    if config.method == "lora":
        model = apply_lora(model, config, "SEQ_CLS")
    cast_parameters(model, config)
    return model.to(runtime.device)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def train_reward(
    config: RewardConfig,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> dict[str, Any]:
    """Train, evaluate and write the output folder; return the JSON result.

    Idempotent and stoppable like worker.sft.train_sft. Preconditions: the release has the chosen config
    with train and test splits holding prompts with at least two differently ranked responses.
    """
    paths = RunPaths(config.output_dir)
    if paths.is_complete():
        return result_from(paths)
    timer = Timer()
    runtime = setup_runtime(config.precision)
    seed_everything(config.seed)
    attention = resolve_attention(config.attention, runtime)
    progress({"phase": "load"})

    # Data and model ----------------------------------------------------------------------------
    with timer("load"):
        tokenizer = load_tokenizer(config)
        pad_id = int(tokenizer.pad_token_id)
        train = load_groups(config, tokenizer, "train")
        test = load_groups(config, tokenizer, "test", config.max_eval_examples)
        if not train or not test:
            raise ValueError(f"the release's {config.config_name} config needs train and test")
        model = build_model(config, runtime, attention, pad_id)
        shared = (
            is_decoder_classifier(model) if config.share_prompt is None else config.share_prompt
        )
        if shared and not is_decoder_classifier(model):
            raise ValueError("share_prompt needs a decoder base model")
        steps = plan_steps(train, config, runtime.world, shared)
        test_runs = pack_by_tokens([group_cost(g, shared) for g in test], config.micro_batch_tokens)
        my_test_runs = test_runs[runtime.rank :: runtime.world]
        scorer = GroupScorer(model, attention)
        row_length = 0
        if resolve_compile(config.compile, runtime):
            backbone = getattr(unwrap_hf(model), unwrap_hf(model).base_model_prefix)
            # Shared rows get one fixed length; padded encoder batches vary in both dimensions.
            compile_layers(backbone, dynamic=None if shared else True)
            row_length = -(-config.micro_batch_tokens // 128) * 128
        trainer: nn.Module = scorer
        if runtime.distributed:
            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            trainer = nn.parallel.DistributedDataParallel(scorer, device_ids=ids)
        optimizer = make_optimizer(model, config, runtime)
        scheduler = make_scheduler(optimizer, len(steps), config)
        state = resume(
            paths, runtime, config, model=model, optimizer=optimizer, scheduler=scheduler
        )

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        model.eval()
        scored: list[tuple[list[float], tuple[float, ...], list[tuple[int, int]]]] = []
        loss_sum = 0.0
        with timer("eval"):
            for run in (part for runs in my_test_runs for part in passes_of(runs, config, runtime)):
                batch = collate(test, run, shared, pad_id, row_length)
                with runtime.autocast():
                    scores = scorer(*scorer_inputs(batch, runtime.device)).float()
                loss_sum += float(pair_loss(scores, batch, config))
                values = scores.cpu().tolist()
                start = 0
                for index in run:
                    k = len(test[index].responses)
                    group = test[index]
                    scored.append((values[start : start + k], group.ranks, group.pairs()))
                    start += k
            everything = [item for part in runtime.gather(scored) for item in part]
            (loss_sum,) = runtime.sum(loss_sum)
        model.train()
        return {**ranking_metrics(everything), "eval_loss": loss_sum / len(test)}

    # Loop (see worker.loop) -------------------------------------------------------------------
    def prepare(step: int) -> list[PackedBatch]:
        mine = steps[step][runtime.rank :: runtime.world]
        passes = [part for micro in mine for part in passes_of(micro, config, runtime)]
        return to_device([collate(train, i, shared, pad_id, row_length) for i in passes], runtime)

    def launch(step: int, batches: list[PackedBatch]) -> Launched:
        micro = steps[step]
        # Per-prompt means averaged over the whole step's prompts, on every process.
        step_groups = sum(len(m) for m in micro)
        step_responses = sum(len(train[i].responses) for m in micro for i in m)
        sums = []
        for a, batch in enumerate(batches):
            sync = a == len(batches) - 1 or not runtime.distributed
            context = trainer.no_sync() if not sync else nullcontext()  # type: ignore[operator]
            with context, runtime.autocast():
                scores = trainer(*scorer_inputs(batch, runtime.device)).float()
                bt = pair_loss(scores, batch, config)
                l2 = scores.pow(2).sum()
                loss = bt / step_groups + config.score_l2 * l2 / step_responses
                (loss * runtime.world).backward()
            better = scores[batch.extra["pair_better"]]
            worse = scores[batch.extra["pair_worse"]]
            sums.append(torch.stack([bt.detach(), (better > worse).sum().float()]))
        lr = step_lr(optimizer)  # this step's: optimizer_step moves on to the next
        grad_norm = optimizer_step(model, optimizer, scheduler, config.max_grad_norm)
        return Launched(
            sums=torch.stack(sums).sum(0),
            grad_norm=grad_norm,
            lr=lr,
            tokens=sum(group_cost(train[i], shared) for m in micro for i in m),
            counts={
                "groups": step_groups,
                "pairs": sum(len(train[i].pairs()) for m in micro for i in m),
            },
        )

    def describe(launched: Launched, sums: list[float], seconds: float) -> dict[str, float]:
        loss_sum, right = sums
        pairs = launched.counts["pairs"]
        return {
            "loss": loss_sum / launched.counts["groups"],
            "accuracy": right / max(1, pairs),
            "pairs": pairs,
            "pairs_per_s": pairs / seconds,
        }

    loop = StepLoop(
        config=config,
        runtime=runtime,
        paths=paths,
        state=state,
        total=len(steps),
        training=(model, optimizer, scheduler),
        timer=timer,
        progress=progress,
        should_stop=should_stop,
        prepare=prepare,
        launch=launch,
        describe=describe,
        evaluate=evaluate,
    )
    return train_to_output(
        loop,
        kind="reward",
        tokenizer=tokenizer,
        details={"attention": attention, "shared_prompt": shared},
    )
