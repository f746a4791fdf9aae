"""manage.py import_jsonl: who may import, what it prints, Ctrl-C."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.collection import services
from apps.collection.models import Prompt, PromptState
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def record(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "instruction": f"Suggest a name for a pet tortoise, idea {n}.",
        "context": "",
        "response": f"Sir Shellington the {n}th.",
        "category": "brainstorming",
        **changes,
    }


def write_jsonl(path: Path, *lines: Any) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def import_jsonl(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_jsonl", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.org", is_superuser=True, is_staff=True)


def test_it_imports_as_the_first_superuser_and_prints_a_summary(superuser, tmp_path):
    path = write_jsonl(tmp_path / "dolly.jsonl", record(1), record(2, language="de"))

    out, err = import_jsonl(str(path), "--source", "databricks-dolly-15k")

    assert out == (
        f"{path}: 2 imported, 0 answers added, 0 duplicates, 0 rejected (2 lines, source "
        "'databricks-dolly-15k', state accepted, as root@example.org).\n"
    )
    assert "100%" in err  # the progress bar, on stderr
    prompts = Prompt.objects.order_by("pk")
    assert [(p.author, p.origin, p.state, p.language) for p in prompts] == [
        (superuser, "databricks-dolly-15k", PromptState.COLLECTING, "en"),
        (superuser, "databricks-dolly-15k", PromptState.COLLECTING, "de"),
    ]


def test_it_lists_rejected_and_duplicate_lines_with_their_reasons(superuser, tmp_path):
    existing = PromptFactory(instruction="Suggest a name for a pet tortoise, idea 2.")
    ResponseFactory(prompt=existing, text=record(2)["response"])
    path = write_jsonl(
        tmp_path / "mixed.jsonl", record(1), record(2), "{not json", record(4, category="poem")
    )

    out, _ = import_jsonl(str(path), "--source", "mixed", "--state", "review")

    assert out.splitlines() == [
        f"line 2: duplicate of prompt #{existing.pk}",
        "line 3: rejected: line: Not valid JSON: a field name in double quotes was expected at "
        "column 2.",
        "line 4: rejected: category: Choose one of the categories: open_qa, general_qa, "
        "closed_qa, classification, brainstorming, information_extraction, summarization, "
        "creative_writing.",
        f"{path}: 1 imported, 0 answers added, 1 duplicates, 2 rejected (4 lines, source "
        "'mixed', state review, as root@example.org).",
    ]
    assert Prompt.objects.get(origin="mixed").state == PromptState.REVIEW


def test_it_writes_every_lines_outcome_to_the_report_file(superuser, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1), "[]")
    report = tmp_path / "out.jsonl"

    out, _ = import_jsonl(str(path), "--source", "s", "--report", str(report))

    prompt = Prompt.objects.get()
    assert [json.loads(line) for line in report.read_text().splitlines()] == [
        {"line": 1, "status": "imported", "prompt_id": prompt.pk},
        {
            "line": 2,
            "status": "rejected",
            "errors": {
                "line": [
                    "Each line must be a JSON object with instruction, context, response and "
                    "category; this one is an array."
                ]
            },
        },
    ]
    assert out.splitlines() == [
        f"{path}: 1 imported, 0 answers added, 0 duplicates, 1 rejected (2 lines, source 's', "
        "state accepted, "
        "as root@example.org)."
    ]


def test_it_imports_as_the_maintainer_named_with_as(superuser, maintainer, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1))

    import_jsonl(str(path), "--source", "s", "--as", maintainer.email.upper())

    assert Prompt.objects.get().author == maintainer


def test_it_refuses_to_import_as_a_volunteer(superuser, volunteer, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1))

    with pytest.raises(CommandError, match=f"{volunteer.email} is not a maintainer"):
        import_jsonl(str(path), "--source", "s", "--as", volunteer.email)
    assert not Prompt.objects.exists()


def test_it_refuses_an_email_nobody_has(superuser, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1))

    with pytest.raises(CommandError, match=r"No user has the email address ghost@example\.org"):
        import_jsonl(str(path), "--source", "s", "--as", "ghost@example.org")


def test_without_as_it_needs_a_superuser(maintainer, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1))

    with pytest.raises(CommandError, match="No superuser to import as: pass --as EMAIL"):
        import_jsonl(str(path), "--source", "s")


def test_it_fails_when_the_file_cannot_be_read(superuser, tmp_path):
    with pytest.raises(CommandError) as caught:
        import_jsonl(str(tmp_path / "missing.jsonl"), "--source", "s")

    assert str(caught.value) == (
        f"Cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"
    )
    assert caught.value.returncode == 1


def test_it_refuses_bad_options_before_reading(superuser, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", record(1))

    with pytest.raises(CommandError) as caught:
        import_jsonl(str(path), "--source", "hearth", "--language", "xx yy", "--batch-size", "0")

    assert str(caught.value) == (
        "--source: 'hearth' marks work written in Hearth; name the data set you import.; "
        "--language: “xx yy” is not a valid BCP-47 language tag (e.g. en, de, pt-BR).; "
        "--batch-size: The batch size must be a whole number of at least 1."
    )
    assert not Prompt.objects.exists()


def test_ctrl_c_reports_the_committed_batches_and_exits_130(superuser, tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "in.jsonl", *(record(n) for n in range(1, 6)))
    real_create = services.prompts_create_imported
    calls = {"n": 0}

    def ctrl_c_once_batch_2_is_written(**kwargs: Any) -> list[services.ImportedPrompt]:
        written = real_create(**kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(services, "prompts_create_imported", ctrl_c_once_batch_2_is_written)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(SystemExit) as caught:
        call_command(
            "import_jsonl", str(path), "--source", "s", "--batch-size", "2", stdout=out, stderr=err
        )

    assert caught.value.code == 130
    assert (
        "Interrupted: 1 batch(es) committed (2 lines: 2 imported, 0 answers added, 0 duplicates, "
        "0 rejected); "
        "the batch in progress was rolled back." in err.getvalue()
    )
    assert Prompt.objects.count() == 2
