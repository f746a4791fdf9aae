"""The dataset card names where its rows came from: this site, or each imported data set with
its prompts, answers and licences, as CC BY-SA's attribution asks."""

from __future__ import annotations

from apps.collection.models import Prompt, Response
from tests.releases.helpers import build, folder_of
from tests.releases.test_cards import COUNTS, card


def rows(release, config):
    return sum(release.counts["rows"][config].values())


def test_the_card_credits_each_imported_source_with_its_rows_and_licences(world, settings):
    """An import of Dolly's data kept `origin` and `licence` on every row, but the card never
    named Dolly: the release published CC BY-SA work without its attribution."""
    prompt = world.prompts["p2"]
    Prompt.objects.filter(pk=prompt.pk).update(origin="databricks-dolly-15k")
    imported = Response.objects.filter(prompt=prompt)
    imported.update(origin="databricks-dolly-15k")
    Response.objects.filter(pk=world.responses["p2.1"].pk).update(licence="Apache-2.0")
    answers = imported.count()

    release = build()

    own = settings.HEARTH_LICENCE_NAME
    sources = release.counts["sources"]
    assert sources == {
        "databricks-dolly-15k": {
            "prompts": 1,
            "sft": answers,
            "licences": sorted([own, "Apache-2.0"]),
        },
        "hearth": {
            "prompts": rows(release, "prompts") - 1,
            "sft": rows(release, "sft") - answers,
            "licences": [own],
        },
    }
    text = (folder_of(release) / "README.md").read_text()
    assert "## Sources\n" in text
    section = text.split("## Sources\n", 1)[1].split("\n## ", 1)[0]
    assert (
        f"| this site (Hearth) | {rows(release, 'prompts') - 1} | "
        f"{rows(release, 'sft') - answers} | {own} |"
    ) in section
    assert (
        f"| databricks-dolly-15k | 1 | {answers} | {', '.join(sorted([own, 'Apache-2.0']))} |"
    ) in section


def test_a_release_built_before_sources_were_counted_has_no_sources_section():
    assert "## Sources" not in card(counts=COUNTS)


def test_source_names_are_escaped_and_this_site_comes_first():
    counts = {
        **COUNTS,
        "sources": {
            "a|b_set": {"prompts": 2, "sft": 3, "licences": ["CC BY 4.0"]},
            "hearth": {"prompts": 1200, "sft": 4000, "licences": ["CC BY-SA 3.0"]},
        },
    }
    section = card(counts=counts).split("## Sources\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[2:] == [
        "| this site (Hearth) | 1,200 | 4,000 | CC BY-SA 3.0 |",
        "| a\\|b\\_set | 2 | 3 | CC BY 4.0 |",
    ]
