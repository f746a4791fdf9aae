"""A release's Dolly JSONL files imported into a Hearth with none of its prompts: what comes
back (data QA: re-importing a release's own Dolly file made every prompt English and kept
under half of its lines)."""

from __future__ import annotations

import io

from apps.collection.importing import check_import_options, prompts_import_jsonl
from apps.collection.models import Prompt, Response
from apps.releases.building import SPLITS
from tests.factories import PromptFactory, ResponseFactory
from tests.releases.helpers import all_rows, build, folder_of


def test_a_releases_dolly_files_import_back_as_its_prompts_in_their_languages(world, maintainer):
    """Every prompt comes back once, with its context, category and language (the lines now
    carry ``language``), whichever split file it is in, and every answer with it: a prompt's
    further answers, further lines, are added to it (data QA: they were reported as
    duplicates and lost, the importing maintainer being allowed one answer per prompt)."""
    u = world.users
    for language, instruction in (
        ("es", "¿Por qué el cielo es azul?"),
        ("fr", "Pourquoi le ciel est-il bleu ?"),
        ("ar", "لماذا السماء زرقاء؟"),
    ):
        ResponseFactory(
            prompt=PromptFactory(author=u["ken"], instruction=instruction, language=language),
            author=u["ada"],
        )
    release = build(test_share=0.5)
    files = {split: folder_of(release) / "dolly" / f"{split}.jsonl" for split in SPLITS}
    sft = all_rows(release, "sft")
    answered = {row["prompt_id"] for row in sft}
    released = {
        (row["instruction"], row["context"], row["category"], row["language"])
        for row in all_rows(release, "prompts")
        if row["id"] in answered
    }
    answers: dict[tuple[str, str], list[str]] = {}
    for row in sft:
        answers.setdefault((row["instruction"], row["context"]), []).append(row["response"])

    Prompt.objects.all().delete()
    assert not Response.objects.exists()
    options = check_import_options(source="hearth-v1", language="en")
    reports = [
        prompts_import_jsonl(io.BytesIO(path.read_bytes()), author=maintainer, options=options)
        for path in files.values()
    ]

    back = {(p.instruction, p.context, p.category, p.language) for p in Prompt.objects.all()}
    assert back == released
    assert {language for *_, language in back} == {"en", "de", "es", "fr", "ar"}
    assert sum(report.imported for report in reports) == len(released)
    assert sum(report.rejected for report in reports) == 0
    assert sum(report.answers_added for report in reports) == len(sft) - len(released)
    assert sum(report.duplicates for report in reports) == 0
    back_answers: dict[tuple[str, str], list[str]] = {}
    for r in Response.objects.select_related("prompt"):
        back_answers.setdefault((r.prompt.instruction, r.prompt.context), []).append(r.text)
    assert {key: sorted(texts) for key, texts in back_answers.items()} == {
        key: sorted(texts) for key, texts in answers.items()
    }
    # Written in Hearth ("hearth" in the file): this import's source here.
    assert set(Prompt.objects.values_list("origin", flat=True)) == {"hearth-v1"}
