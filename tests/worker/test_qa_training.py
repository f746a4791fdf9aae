"""An ML practitioner's QA of the training engine, end to end on the tiny model: the phases the
run page is told, the learning rate each step logs, the result's train loss, what the output
folder holds (its tokenizer's chat template, no path of the machine) and which reward pairs
are trained and scored on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer

from tests.worker import helpers
from tests.worker.test_reward import reward_spec
from tests.worker.test_sft import sft_spec
from worker import jobs
from worker.config import RewardConfig, SFTConfig
from worker.data import dolly_prompt
from worker.progress import ProgressEvent
from worker.runtime import (
    TRAIN_LOSS_KEY,
    TRAIN_LOSS_STEPS,
    RunPaths,
    list_checkpoints,
    make_scheduler,
    optimizer_step,
    output_chat_template,
    recent_train_loss,
)

STEPS = 4


class Run:
    """A finished run: its spec, result, progress events and the learning rate each
    optimizer step applied (read from the optimizer as the step was taken)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.output = Path(spec["output_dir"])
        self.events: list[ProgressEvent] = []
        self.applied: list[float] = []
        self.result: dict[str, Any] = {}

    def train(self, module: str, run: Any) -> Run:
        def recording(model: Any, optimizer: Any, scheduler: Any, max_norm: float) -> Any:
            self.applied.append(optimizer.param_groups[0]["lr"])
            return optimizer_step(model, optimizer, scheduler, max_norm)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(f"worker.{module}.optimizer_step", recording)
            self.result = run(self.spec, progress=self.events.append)
        return self

    @property
    def train_log(self) -> list[dict[str, Any]]:
        return helpers.read_json(self.output / "metrics.json")["train_log"]  # type: ignore[no-any-return]


def schedule(config: SFTConfig | RewardConfig, total: int) -> list[float]:
    """The learning rate of each of ``total`` steps, as the schedule defines it."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    scheduler = make_scheduler(optimizer, total, config)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


# SmolLM2's chat template (ChatML), as the bundled base model's tokenizer carries it.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def chatml_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a ChatML chat template in its tokenizer, as SmolLM2 has."""
    import shutil

    folder = tmp_path_factory.mktemp("chatml") / "tiny-chatml"
    shutil.copytree(tiny_model, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def sft_run(release: Path, chatml_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    spec = sft_spec(
        release,
        chatml_model,
        tmp_path_factory.mktemp("qa-sft") / "run-4",
        max_steps=STEPS,
        eval_every=2,
        checkpoint_every=2,
        warmup_ratio=0.5,  # two warm-up steps of four, then the cosine
        keep_work_dir=True,
    )
    return Run(spec).train("sft", jobs.run_sft)


def ties_release(root: Path) -> tuple[Path, int]:
    """A preferences release whose prompts were each ranked by two rankers who agreed on all
    but one pair (margin 0.5: a tie the consensus broke); and the test split's prompts."""
    splits = {}
    for split, seed, n in (("train", 1, 32), ("test", 2, 8)):
        rows = helpers.preference_rows(helpers.ranked_groups(n, seed=seed))
        for row in rows:
            tie = (row["chosen_rank"], row["rejected_rank"]) == (3, 4)
            row.update(margin=0.5 if tie else 1.0, rankers=2)
        splits[split] = rows
    return helpers.write_release(root, {"preferences": splits}), 8


@pytest.fixture(scope="module")
def reward_runs(
    chatml_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, Run, int]:
    """The same reward run on a release with ties: by default, and keeping every pair."""
    root = tmp_path_factory.mktemp("qa-reward")
    release, test_prompts = ties_release(root / "release")
    runs = []
    for name, extra in (("default", {}), ("every-pair", {"min_margin": -1})):
        spec = reward_spec(
            release,
            chatml_model,
            root / name,
            max_steps=3,
            num_epochs=1,
            warmup_ratio=0.5,
            micro_batch_tokens=128,
            grad_accum_steps=1,
            **extra,
        )
        runs.append(Run(spec).train("reward", jobs.run_reward))
    return runs[0], runs[1], test_prompts


# ---------------------------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------------------------


def test_evaluations_are_reported_as_they_start_and_training_as_it_goes_on(
    sft_run: Run,
) -> None:
    """The final evaluation showed as "train" (time left 0) and one within training as
    "Evaluating" until the next step ended."""
    short = [
        (e["phase"], e.get("step"), "loss" in e, "metrics" in e)
        for e in sft_run.events
        if e["phase"] != "load"
    ]
    assert short == [
        ("train", 0, False, False),
        ("train", 1, True, False),
        ("train", 2, True, False),
        ("eval", 2, False, False),
        ("eval", 2, False, True),
        ("train", 2, False, False),
        ("train", 3, True, False),
        ("train", 4, True, False),
        ("eval", 4, False, False),
        ("eval", 4, False, True),
        ("save", 4, False, False),
        ("done", 4, False, True),
    ]
    final = {k: v for k, v in sft_run.result["metrics"].items() if k != TRAIN_LOSS_KEY}
    assert sft_run.events[-3]["metrics"] == final


# ---------------------------------------------------------------------------------------------
# Learning rate
# ---------------------------------------------------------------------------------------------


def test_each_sft_step_logs_the_learning_rate_its_update_used(sft_run: Run) -> None:
    """Step 1 logged the rate of step 2 (read after the scheduler had stepped), and the last
    step a rate no update used."""
    logged = [entry["lr"] for entry in sft_run.train_log]
    assert logged == sft_run.applied
    config = SFTConfig.from_spec(sft_run.spec)
    assert logged == pytest.approx(schedule(config, STEPS))
    assert logged[0] == pytest.approx(config.learning_rate / 3)  # warm-up: 1/3, 2/3, 1
    train_events = [e["lr"] for e in sft_run.events if e["phase"] == "train" and "loss" in e]
    assert train_events == logged


def test_each_reward_step_logs_the_learning_rate_its_update_used(
    reward_runs: tuple[Run, Run, int],
) -> None:
    run = reward_runs[0]
    logged = [entry["lr"] for entry in run.train_log]
    assert len(logged) == 3 and logged == run.applied
    assert logged == pytest.approx(schedule(RewardConfig.from_spec(run.spec), 3))


# ---------------------------------------------------------------------------------------------
# The result's train loss
# ---------------------------------------------------------------------------------------------


def test_the_train_loss_in_the_result_says_it_is_a_mean_of_the_last_steps(
    sft_run: Run,
) -> None:
    """``train_loss`` was the last step's loss, under a name that did not say so."""
    metrics = sft_run.result["metrics"]
    assert "train_loss" not in metrics
    losses = [entry["loss"] for entry in sft_run.train_log]
    assert metrics[TRAIN_LOSS_KEY] == pytest.approx(sum(losses) / len(losses))  # 4 < 10 steps
    assert TRAIN_LOSS_KEY == "train_loss_last_10_steps" and TRAIN_LOSS_STEPS == 10
    log = [{"loss": float(step)} for step in range(1, 13)]
    assert recent_train_loss(log) == pytest.approx(sum(range(3, 13)) / 10)
    assert recent_train_loss([]) is None
    # The count of what was evaluated is no result for the card, though it stays in metrics.
    assert "eval_tokens" in metrics
    assert "eval_tokens" not in (sft_run.output / "README.md").read_text()


# ---------------------------------------------------------------------------------------------
# The output folder
# ---------------------------------------------------------------------------------------------


def machine_paths(folder: Path, paths: list[Path]) -> dict[str, list[str]]:
    """Which of ``paths`` each file under ``folder`` names."""
    found: dict[str, list[str]] = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            data = file.read_bytes()
            named = [str(p) for p in paths if str(p).encode() in data]
            if named:
                found[file.relative_to(folder).as_posix()] = named
    return found


def test_no_path_of_the_machine_is_in_the_output_folder(
    sft_run: Run,
    reward_runs: tuple[Run, Run, int],
    release: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """training_config.json (published on the Hub) held base_model and output_dir as the
    training machine's paths."""
    base = tmp_path_factory.getbasetemp()
    for run in (sft_run, *reward_runs[:2]):
        model = Path(run.spec["base_model"])
        assert machine_paths(run.output, [base, release, model, run.output]) == {}
        saved = helpers.read_json(run.output / "training_config.json")
        assert saved["base_model"] == model.name
        assert saved["output_dir"] == run.output.name
        assert saved["release"] == Path(run.spec["release"].removeprefix("file://")).name
    # The checkpoints, never published, keep the full config.
    (checkpoint,) = list_checkpoints(RunPaths(sft_run.output))
    full = helpers.read_json(checkpoint / "training_config.json")
    assert full == SFTConfig.from_spec(sft_run.spec).to_dict()
    assert full["base_model"] == sft_run.spec["base_model"]


def test_the_saved_tokenizer_renders_the_prompt_the_model_learned(
    sft_run: Run, reward_runs: tuple[Run, Run, int]
) -> None:
    """The saved tokenizer kept the base model's chat template, though the model was
    fine-tuned on Dolly's prompt format."""
    examples = [
        ("what colour is the apple ?", ""),
        ("what colour is the car ?", "the car is red ."),
        ("tell me about the bird .", "a bird\n\nthat was very blue ."),
    ]
    assert AutoTokenizer.from_pretrained(sft_run.spec["base_model"]).chat_template == CHATML
    for output in (sft_run.output, reward_runs[0].output):
        tokenizer = AutoTokenizer.from_pretrained(output)
        assert tokenizer.chat_template != CHATML
        for instruction, context in examples:
            messages = [{"role": "user", "content": instruction, "context": context}]
            rendered = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            assert rendered == dolly_prompt(instruction, context)
    # A run on the tokenizer's own chat template keeps it.
    config = SFTConfig.from_spec({**sft_run.spec, "prompt_format": "chat_template"})
    own = type("Tokenizer", (), {"chat_template": "{{ messages }}"})()
    assert output_chat_template(config, own) == "{{ messages }}"


# ---------------------------------------------------------------------------------------------
# Reward pairs
# ---------------------------------------------------------------------------------------------


def test_a_reward_model_trains_and_is_scored_on_the_pairs_a_majority_agreed_on(
    reward_runs: tuple[Run, Run, int],
) -> None:
    """A tie (two rankers who disagree, margin 0.5) was trained and scored on as a strict
    preference."""
    default, every_pair, test_prompts = reward_runs
    # Each test prompt has four responses: six pairs, one of them a tie.
    assert default.result["metrics"]["eval_prompts"] == test_prompts
    assert default.result["metrics"]["eval_pairs"] == 5 * test_prompts
    assert every_pair.result["metrics"]["eval_pairs"] == 6 * test_prompts
    # Training steps count the pairs they train on: five of six per prompt.
    for run, per_prompt in ((default, 5), (every_pair, 6)):
        for entry in run.train_log:
            assert entry["pairs"] % per_prompt == 0
    assert helpers.read_json(default.output / "training_config.json")["min_margin"] == 0.5
    assert helpers.read_json(every_pair.output / "training_config.json")["min_margin"] == -1
