"""Model-written answers: a finished SFT run answers the prompts its spec sends, the spec's
answer section is checked before anything runs, and the reports count the prompts answered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.worker import helpers
from worker import jobs
from worker.answers import (
    MOST_ANSWER_CHARS,
    AnswerPrompt,
    AnswerSpec,
    clean_answer,
    journal_path,
    read_journal,
)
from worker.progress import ProgressEvent, Stopped
from worker.reports import Reporter, ReportRoute, SpecError
from worker.runs import check_spec, remove_leftovers

REPO = Path(__file__).resolve().parents[2]
ROUTE = ReportRoute(7, 1, "training.report", "default", interval_s=2.0, heartbeat_s=30.0)


def prompts(n: int, first_id: int = 1) -> list[dict[str, Any]]:
    """Prompts in the tiny release's words, every other one with a context."""
    return [
        {
            "id": first_id + i,
            "instruction": f"what colour is the {thing} ?",
            "context": f"the {thing} is red ." if i % 2 else "",
        }
        for i, thing in enumerate((helpers.THINGS * 60)[:n])
    ]


@pytest.fixture(scope="module")
def sft_spec(release: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A short SFT run on the tiny release that answers ten prompts (two batches)."""
    return {
        "kind": "sft",
        "run_id": 7,
        "release": f"file://{release}",
        "base_model": str(tiny_model),
        "output_dir": str(tmp_path_factory.mktemp("answers") / "sft-run"),
        "max_seq_len": 256,
        "micro_batch_size": 2,
        "max_steps": 12,
        "learning_rate": 3e-3,
        "eval_every": 0,
        "answer": {"prompts": prompts(10), "max_new_tokens": 12},
    }


# ---------------------------------------------------------------------------------------------
# Answering
# ---------------------------------------------------------------------------------------------


def test_a_finished_sft_run_answers_its_prompts_and_answers_them_the_same_again(
    sft_spec: dict[str, Any],
) -> None:
    events: list[ProgressEvent] = []
    result = jobs.run_sft(sft_spec, progress=events.append)

    assert result["status"] == "succeeded" and result["steps"] == 12
    answers = result["answers"]
    sent = [p["id"] for p in sft_spec["answer"]["prompts"]]
    ids = [a["prompt_id"] for a in answers]
    assert answers and ids == [i for i in sent if i in ids]  # the spec's order, none invented
    assert all(set(a) == {"prompt_id", "text"} for a in answers)
    assert all(isinstance(a["text"], str) and a["text"] == a["text"].strip() for a in answers)
    assert all(0 < len(a["text"]) <= MOST_ANSWER_CHARS for a in answers)
    assert result["timings"]["answer"] > 0 and result["timings"]["train"] > 0

    phases = [e["phase"] for e in events]
    assert phases.index("done") < phases.index("answer")  # answered once the model is written
    answering = [e for e in events if e["phase"] == "answer"]
    assert answering == [
        {"phase": "answer", "answered": 0, "to_answer": 10},
        {"phase": "answer", "answered": 8, "to_answer": 10},
        {"phase": "answer", "answered": 10, "to_answer": 10},
    ]

    # Sent again (a redelivery): nothing trains, and the same answers come out.
    again: list[ProgressEvent] = []
    repeated = jobs.run_sft(sft_spec, progress=again.append)
    assert repeated["answers"] == answers
    assert {e["phase"] for e in again} == {"answer"}

    # Answered afresh (no journal), the model writes the same answers again.
    journal = journal_path(sft_spec["output_dir"])
    assert len(read_journal(journal)) == 10
    journal.unlink()
    assert jobs.run_sft(sft_spec)["answers"] == answers


def test_a_run_stopped_while_answering_resumes_with_the_answers_it_had_written(
    sft_spec: dict[str, Any],
) -> None:
    """Each batch's answers are kept once written: a run sent again after a stop (or a crash)
    answers only the rest, and ends with the answers an uninterrupted run writes."""
    journal = journal_path(sft_spec["output_dir"])
    journal.unlink(missing_ok=True)
    uninterrupted = jobs.run_sft(sft_spec)["answers"]
    journal.unlink()

    events: list[ProgressEvent] = []

    def after_the_first_batch() -> bool:
        return [e["phase"] for e in events].count("answer") > 1

    with pytest.raises(Stopped, match="stopped after answering 8 of 10 prompts"):
        jobs.run_sft(sft_spec, progress=events.append, should_stop=after_the_first_batch)
    kept = journal.read_text()
    assert len(kept.splitlines()) == 8
    # A crash in the middle of the next batch's write tears its line; that line is left out.
    journal.write_text(kept + '{"key": "0a1b", "te')

    resumed: list[ProgressEvent] = []
    result = jobs.run_sft(sft_spec, progress=resumed.append)
    assert result["answers"] == uninterrupted
    assert [e.get("answered") for e in resumed] == [8, 10]  # only the last batch was written

    # Another length limit is another answer: nothing of the journal is taken.
    shorter = sft_spec | {"answer": {**sft_spec["answer"], "max_new_tokens": 3}}
    fresh: list[ProgressEvent] = []
    jobs.run_sft(shorter, progress=fresh.append)
    assert [e.get("answered") for e in fresh] == [0, 8, 10]


def test_a_cancelled_run_leaves_no_answers_behind(tmp_path: Path) -> None:
    run = check_spec(run_spec(answer={"prompts": prompts(2)}), ROUTE, tmp_path)
    journal = journal_path(run.output)
    journal.write_text('{"key": "k", "text": "an answer"}\n')
    assert read_journal(journal) == {"k": "an answer"}
    remove_leftovers(run)
    assert not journal.exists()


def test_the_answer_section_is_no_config_field(sft_spec: dict[str, Any]) -> None:
    result = jobs.run_sft({k: v for k, v in sft_spec.items() if k != "answer"})
    assert "answers" not in result and "answer" not in result["timings"]
    config = helpers.read_json(Path(sft_spec["output_dir"]) / "training_config.json")
    assert "answer" not in config


def test_a_stop_asked_while_answering_stops_between_batches(sft_spec: dict[str, Any]) -> None:
    journal_path(sft_spec["output_dir"]).unlink(missing_ok=True)
    events: list[ProgressEvent] = []

    def after_the_first_batch() -> bool:
        return [e["phase"] for e in events].count("answer") > 1

    with pytest.raises(Stopped, match="stopped after answering 8 of 10 prompts"):
        jobs.run_sft(sft_spec, progress=events.append, should_stop=after_the_first_batch)
    assert [e["phase"] for e in events].count("answer") == 2


def test_a_bad_answer_section_stops_the_job_before_training(
    sft_spec: dict[str, Any], tmp_path: Path
) -> None:
    spec = sft_spec | {"output_dir": str(tmp_path / "never"), "answer": {"prompts": []}}
    with pytest.raises(ValueError, match=r"answer\.prompts must be a list of 1 to 500"):
        jobs.run_sft(spec)
    assert not (tmp_path / "never").exists()


def test_an_answer_is_cut_at_dollys_end_marker_stripped_and_kept_short() -> None:
    written = "  the car is red .\n\n### End\n\n### Instruction:\nwhat colour is the sky ?"
    assert clean_answer(written, "dolly") == "the car is red ."
    assert clean_answer("\n\n### End", "dolly") == ""
    assert clean_answer(" the car ### End ", "chat_template") == "the car ### End"
    assert clean_answer(" " + "x" * (MOST_ANSWER_CHARS + 5), "dolly") == "x" * MOST_ANSWER_CHARS


def test_the_prompt_is_what_sft_trained_on_cut_from_the_left(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from worker.answers import prompt_ids
    from worker.config import SFTConfig
    from worker.data import tokenize_sft

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    config = SFTConfig.from_spec({"release": "file:///x", "base_model": "m", "output_dir": "x"})
    prompt = AnswerPrompt(3, "what colour is the car ?", "the car is very red .")
    row = {"instruction": prompt.instruction, "context": prompt.context, "response": "red ."}
    trained = tokenize_sft(tokenizer, row, max_seq_len=config.max_seq_len)
    assert trained is not None
    ids = prompt_ids(tokenizer, prompt, config)
    assert ids == trained.input_ids[: trained.n_prompt]

    short = SFTConfig.from_spec({**config.to_dict(), "max_seq_len": 12})
    assert prompt_ids(tokenizer, prompt, short) == ids[-12:]
    assert tokenizer.decode(ids[-12:]).endswith("# # # Response :")


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


def run_spec(kind: str = "sft", **extra: Any) -> dict[str, Any]:
    base = {"kind": kind, "output_name": "run-7", "publish": None}
    train = {"release": "file:///x", "base_model": "m"}
    if kind == "reward":
        train["config_name"] = "preferences"
    return base | {"train": train} | extra


def check(answer: Any, kind: str = "sft") -> Any:
    return check_spec(run_spec(kind, answer=answer), ROUTE, Path("/models"))


def test_a_valid_answer_section_goes_to_the_child_and_not_into_the_fingerprint() -> None:
    plain = check_spec(run_spec(), ROUTE, Path("/models"))
    assert plain.answer is None and "answer" not in plain.child_spec()
    assert check(None).answer is None

    run = check({"prompts": prompts(3, first_id=40)})
    assert run.answer == AnswerSpec(
        (
            AnswerPrompt(40, "what colour is the apple ?", ""),
            AnswerPrompt(41, "what colour is the car ?", "the car is red ."),
            AnswerPrompt(42, "what colour is the house ?", ""),
        ),
        max_new_tokens=256,
    )
    child = run.child_spec()
    assert child["answer"] == {"prompts": prompts(3, first_id=40), "max_new_tokens": 256}
    assert run.config.fingerprint() == plain.config.fingerprint() and run.marker == plain.marker
    assert check({"prompts": prompts(500), "max_new_tokens": 2048}).answer.max_new_tokens == 2048
    assert check(None, kind="reward").answer is None


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "answer must be null or an object"),
        ({"prompts": prompts(1), "temperature": 1.0}, "unknown answer keys: \\['temperature'\\]"),
        ({}, "answer.prompts must be a list of 1 to 500"),
        ({"prompts": []}, "answer.prompts must be a list of 1 to 500"),
        ({"prompts": prompts(501)}, "answer.prompts must be a list of 1 to 500"),
        ({"prompts": [{"id": 0, "instruction": "x", "context": ""}]}, "prompts\\[0\\].id"),
        ({"prompts": [{"id": -3, "instruction": "x", "context": ""}]}, "prompts\\[0\\].id"),
        ({"prompts": [{"id": True, "instruction": "x", "context": ""}]}, "prompts\\[0\\].id"),
        ({"prompts": [{"id": "4", "instruction": "x", "context": ""}]}, "prompts\\[0\\].id"),
        ({"prompts": [{"id": 2.0, "instruction": "x", "context": ""}]}, "prompts\\[0\\].id"),
        ({"prompts": [*prompts(2), *prompts(1, first_id=2)]}, "prompt id 2 more than once"),
        ({"prompts": [{"id": 1, "instruction": " ", "context": ""}]}, "instruction must be"),
        ({"prompts": [{"id": 1, "instruction": 5, "context": ""}]}, "instruction must be"),
        ({"prompts": [{"id": 1, "instruction": "x", "context": None}]}, "context must be"),
        ({"prompts": [{"id": 1, "instruction": "x"}]}, "exactly id, instruction and context"),
        ({"prompts": ["what colour is the car ?"]}, "exactly id, instruction and context"),
        ({"prompts": prompts(1), "max_new_tokens": 0}, "max_new_tokens must be"),
        ({"prompts": prompts(1), "max_new_tokens": 2049}, "max_new_tokens must be"),
        ({"prompts": prompts(1), "max_new_tokens": True}, "max_new_tokens must be"),
        ({"prompts": prompts(1), "max_new_tokens": "256"}, "max_new_tokens must be"),
    ],
)
def test_a_bad_answer_section_is_refused_naming_the_problem(answer: Any, message: str) -> None:
    with pytest.raises(SpecError, match=f"bad answer section: .*{message}"):
        check(answer)


def test_only_an_sft_run_answers_prompts() -> None:
    with pytest.raises(SpecError, match="answer is for sft runs only, not reward"):
        check({"prompts": prompts(1)}, kind="reward")


def test_the_web_facing_task_checks_answers_without_torch() -> None:
    code = (
        "import sys\n"
        "from worker.runs import check_spec\n"
        "from worker.answers import AnswerSpec\n"
        "AnswerSpec.from_spec({'prompts': [{'id': 1, 'instruction': 'x', 'context': ''}]})\n"
        "heavy = {'torch', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def test_answering_is_a_reported_phase_that_counts_the_prompts() -> None:
    sent: list[dict[str, Any]] = []

    def send(task: str, *, args: tuple[Any, ...], queue: str) -> None:
        sent.append(args[2])

    reporter = Reporter(ROUTE, send, clock=lambda: 0.0)
    reporter.progress({"phase": "save", "step": 12, "total": 12})
    reporter.progress({"phase": "done", "step": 12, "total": 12, "metrics": {}})
    assert len(sent) == 1 and "answered" not in sent[0] and "to_answer" not in sent[0]

    answering: list[Any] = [
        {"phase": "answer", "answered": 0, "to_answer": 10},
        {"phase": "answer", "answered": 8, "to_answer": 10},
    ]
    reporter.progress(answering[0])
    assert len(sent) == 2  # a new phase goes at once
    assert sent[-1]["phase"] == "answer" and sent[-1]["step"] == 12
    assert (sent[-1]["answered"], sent[-1]["to_answer"]) == (0, 10)
    reporter.progress(answering[1])
    assert len(sent) == 2  # throttled like any other progress
    reporter.set_phase("publish")
    assert sent[-1]["phase"] == "publish"
    assert (sent[-1]["answered"], sent[-1]["to_answer"]) == (8, 10)
    reporter.finish("succeeded", result={"answers": []})
    assert sent[-1]["phase"] == "done" and sent[-1]["answered"] == 8


def test_an_answer_event_is_logged_as_prompts_answered() -> None:
    event: Any = {"phase": "answer", "answered": 8, "to_answer": 10}
    assert jobs.describe_event(event) == "answer 8/10 prompts"
