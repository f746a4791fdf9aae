"""Reads for releases. Finished releases (ready or published) are public; maintainers also
see the ones building or failed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts import roles
from apps.core.caching import CachedValue, cached, site_wide
from apps.core.text import shown_number
from apps.releases.building import PRIVATE_DIR, release_folder
from apps.releases.models import (
    DEFAULT_TEST_SHARE,
    FEW_TEST_PROMPTS,
    FINISHED_STATES,
    Release,
    Split,
)


def release_list(*, user: Any = None) -> QuerySet[Release]:
    """Releases newest first: all of them for maintainers, finished ones for anyone else."""
    qs = Release.objects.select_related("previous")
    if user is None or not roles.is_maintainer(user):
        qs = qs.filter(state__in=FINISHED_STATES)
    return qs.order_by("-number")


def release_get_for_user(*, user: Any, version: str) -> Release:
    """One release by version, as ``release_list`` lets ``user`` see it; raises
    Release.DoesNotExist otherwise (a 404 to callers)."""
    if "\x00" in version:
        # No version holds a NUL, and PostgreSQL refuses one in a query (a 500, not a 404).
        raise Release.DoesNotExist
    return release_list(user=user).get(version=version)


def release_latest(*, published: bool = False) -> Release | None:
    """The newest finished release (only published ones with ``published=True``)."""
    qs = Release.objects.filter(state__in=FINISHED_STATES)
    if published:
        qs = qs.filter(state="published")
    return qs.order_by("-number").first()


def release_file_path(*, release: Release, path: str) -> Path:
    """The file ``path`` (as listed in ``release.files``) of a finished release, for
    downloads; raises FileNotFoundError for anything else."""
    listed = {entry["path"] for entry in release.files}
    if not release.is_finished or path not in listed or path.startswith(PRIVATE_DIR):
        raise FileNotFoundError(path)
    full = release_folder(release.version) / path
    if not full.is_file():
        raise FileNotFoundError(path)
    return full


# The configs a training run reads, with the kind that needs them (worker/data.py).
TRAINED_CONFIGS = ("sft", "preferences")


def _split_rows(release: Release, config: str) -> tuple[int, int]:
    splits = (release.counts or {}).get("rows", {}).get(config, {})
    return int(splits.get("train", 0)), int(splits.get("test", 0))


def release_is_trainable(*, release: Release) -> bool:
    """Whether an sft run can train and evaluate on ``release``: it is finished and its sft
    config has rows in both splits."""
    train, test = _split_rows(release, "sft")
    return release.is_finished and train > 0 and test > 0


def _test_prompts(release: Release, config: str) -> int | None:
    """The prompts in ``config``'s test split (None for a release built before the build
    counted them)."""
    splits = (release.counts or {}).get("split_prompts", {}).get(config)
    return None if splits is None else int(splits.get("test", 0))


def _empty_split(release: Release, config: str) -> str | None:
    """The split of ``config`` that got no rows while the other got some, else None."""
    train, test = _split_rows(release, config)
    if train and not test:
        return "test"
    if test and not train:
        return "train"
    return None


def release_empty_split(*, release: Release) -> str | None:
    """The split of a finished release's sft config that got no rows while the other got
    some (``"test"`` for a small release whose prompts were first released at a small test
    share: each prompt keeps the split of its first release), else None."""
    return _empty_split(release, "sft") if release.is_finished else None


def release_split_warnings(*, release: Release, with_advice: bool) -> list[str]:
    """What someone about to train on a finished release should know: each trained config
    with rows in one split but none in the other (a small filtered release whose few prompts
    all went to train, say), and the kind of run that stops. A notice, not a failure: the
    release is valid, and the other kind of run may train on it.
    ``with_advice`` (for maintainers, who cut releases) adds what can change it: prompts keep
    the split of their first release, so only the share given to prompts released for the
    first time.
    A trained config whose test split holds some prompts but fewer than FEW_TEST_PROMPTS
    gets a warning too: figures measured on so few prompts are noisy (QA: v1's reward model
    was evaluated on one prompt)."""
    if not release.is_finished:
        return []
    # Each config is read by one kind of run (apps.training.services.NEEDS_CONFIG): say which
    # one it stops. "A training run needs both" read as if no run could use the release, while
    # an SFT run trains on one whose preference pairs all went to train.
    blocked = {
        "sft": _(
            "An SFT run needs sft rows in train and test, so no SFT run can start on this "
            "release; a reward model does not read them."
        ),
        "preferences": _(
            "A reward model needs preferences rows in train and test, so no reward model can be "
            "trained on this release; an SFT run does not read them."
        ),
    }
    larger_share = _(
        "Prompts keep the split of the first release that included them; a larger test "
        "share on the next release puts more of the prompts released for the first "
        "time in test."
    )
    warnings = []
    small: list[str] = []
    for config in TRAINED_CONFIGS:
        empty = _empty_split(release, config)
        prompts = _test_prompts(release, config)
        if empty is None and prompts is not None and 0 < prompts < FEW_TEST_PROMPTS:
            small.append(
                ngettext("%(config)s: %(count)d prompt", "%(config)s: %(count)d prompts", prompts)
                % {"config": config, "count": prompts}
            )
            continue
        if empty == "test":
            what = (
                _("No %(config)s rows landed in the test split.")
                if with_advice
                else _("This release has no %(config)s test rows.")
            )
            advice = larger_share
        elif empty == "train":
            what = (
                _("No %(config)s rows landed in the train split.")
                if with_advice
                else _("This release has no %(config)s train rows.")
            )
            advice = _(
                "Prompts keep the split of the first release that included them; a smaller "
                "test share on the next release puts more of the prompts released for the "
                "first time in train."
            )
        else:
            continue
        sentences = [what % {"config": config}, blocked[config]]
        warnings.append(" ".join([*sentences, advice] if with_advice else sentences))
    if small:
        # One notice for every config so affected (QA: the same paragraph twice).
        what = _(
            "Few prompts in the test split (%(configs)s; fewer than %(minimum)d): evaluation "
            "figures measured on so few will be noisy."
        ) % {"configs": ", ".join(small), "minimum": FEW_TEST_PROMPTS}
        warnings.append(f"{what} {larger_share}" if with_advice else what)
    return warnings


def release_composition(*, release: Release) -> dict[str, Any]:
    """What a finished release's sft rows are made of, for its page: ``categories`` and
    ``languages`` as ``[(name in the current language, rows)]``, most rows first, those with
    no sft row left out, and
    ``filter``, the choices that cut it as ``[(what, chosen)]`` (only those that narrowed it),
    and ``test_percent``, its test share in percent (None for a release cut without one),
    which applied to the prompts it released for the first time."""
    from apps.collection.models import Category  # releases read the collection's words
    from apps.core.languages import language_label

    counts = release.counts or {}

    def category(code: str) -> str:
        # A release keeps the codes it was cut with; a category since dropped keeps its code.
        return str(Category(code).label) if code in Category.values else code

    def by_rows(found: dict[str, dict[str, int]], name: Any) -> list[tuple[str, int]]:
        # A language or category can have prompts in the release and no sft row (no answer
        # of theirs is in it): the sft chart drew "French 0", as if French rows were in it.
        rows = [(str(name(key)), int(value.get("sft", 0))) for key, value in found.items()]
        return sorted((row for row in rows if row[1] > 0), key=lambda row: (-row[1], row[0]))

    categories = by_rows(counts.get("categories", {}), category)
    flt = release.filter or {}
    chosen: list[tuple[str, str]] = []
    # Names and numbers as the rest of the page writes them: "Inglés" as on the chart's bars,
    # 0,5 beside the 0,74 of a Spanish page (an f-string wrote 0.5 in every language).
    if flt.get("languages"):
        chosen.append((_("Languages"), ", ".join(language_label(t) for t in flt["languages"])))
    if flt.get("categories"):
        chosen.append((_("Categories"), ", ".join(map(category, flt["categories"]))))
    if flt.get("min_agreement") is not None:
        chosen.append(
            (
                _("Minimum agreement (Kendall's W) for preference pairs"),
                shown_number(float(flt["min_agreement"])),
            )
        )
    if flt.get("include_model_written"):
        chosen.append((_("Model-written answers"), _("included")))
    share = flt.get("test_share")
    return {
        "categories": categories,
        "languages": by_rows(counts.get("languages", {}), language_label),
        "filter": chosen,
        "test_percent": None if share is None else shown_number(100 * float(share)),
    }


# The test split a release form suggests holds about this many prompts at least: at the
# default share a small collection (the demo's few dozen prompts) often gets none, and a
# release without test rows cannot be trained on.
SUGGESTED_TEST_PROMPTS = 10


def suggested_test_share() -> float:
    """The release form's test share, which applies to prompts released for the first time
    (the others keep their split): the default, or, while fewer than about
    SUGGESTED_TEST_PROMPTS accepted prompts would be in test, the share of the accepted
    prompts never released that makes up the difference (at most a half). While no ranked
    prompt is in test yet and only a few are new, at least the share that puts one of them
    there (``_share_for_a_ranked_test_prompt``): a reward model needs preferences test rows,
    and ten new ranked prompts all land in train at 0.2 about one time in ten."""
    from apps.collection.models import ACCEPTED_PROMPT_STATES, Prompt, PromptState

    ranked = Q(state=PromptState.COMPLETE, hidden_at__isnull=True)
    found = Prompt.objects.filter(
        state__in=ACCEPTED_PROMPT_STATES, withdrawn_at__isnull=True
    ).aggregate(
        new=Count("id", filter=Q(release_split__isnull=True)),
        test=Count("id", filter=Q(release_split__split=Split.TEST)),
        ranked_test=Count("id", filter=ranked & Q(release_split__split=Split.TEST)),
        ranked_train=Count("id", filter=ranked & Q(release_split__split=Split.TRAIN)),
    )
    new, wanted = found["new"], SUGGESTED_TEST_PROMPTS - found["test"]
    share = DEFAULT_TEST_SHARE
    if new and wanted > 0 and new * DEFAULT_TEST_SHARE < wanted:
        share = min(0.5, math.ceil(100 * wanted / new) / 100)
    if not found["ranked_test"]:
        share = max(share, _share_for_a_ranked_test_prompt(has_train=bool(found["ranked_train"])))
    return share


# How long the releases page keeps the form's suggested test share (suggested_test_share_shown).
SUGGESTED_SHARE_CACHE_SECONDS = 60


def suggested_test_share_shown() -> float:
    """``suggested_test_share``, as the releases page shows it to maintainers on every visit:
    at most SUGGESTED_SHARE_CACHE_SECONDS old, and counted again as soon as a release is cut
    or its build ends (builds give prompts their splits). Counting reads every accepted
    prompt and its split: 0.17 to 0.3 s at 36,000 prompts, on each visit before."""
    share, _computed = cached(*_suggested_share_value())
    return share


def _suggested_share_value() -> CachedValue[float]:
    newest = Release.objects.order_by("-number").values_list("number", "state").first()
    number, state = newest or (0, "")
    key = f"releases:suggested-test-share:{number}:{state}"
    return CachedValue(key, SUGGESTED_SHARE_CACHE_SECONDS, suggested_test_share)


@site_wide
def _site_wide_values() -> list[CachedValue[Any]]:
    """The releases page's suggested test share, kept warm by beat (``caching.site_wide``)."""
    return [_suggested_share_value()]


# Above this many new ranked prompts, any suggested share puts some in test.
FEW_RANKED_PROMPTS = 200


def _share_for_a_ranked_test_prompt(*, has_train: bool) -> float:
    """The smallest share in hundredths, at most a half, that puts one of the few ranked
    (complete) prompts never released in test and leaves one in train (or one there
    already: ``has_train``); 0 when there are none, many, or no share does. Splits hash
    prompt ids (``layout.prompt_split``), so this reads their ids, a few hundred at most."""
    from apps.collection.models import Prompt, PromptState
    from apps.releases.building.layout import hash_position, test_threshold

    ids = Prompt.objects.filter(
        state=PromptState.COMPLETE,
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        release_split__isnull=True,
    ).values_list("id", flat=True)[: FEW_RANKED_PROMPTS + 1]
    positions = sorted(hash_position(prompt_id) for prompt_id in ids)
    if not positions or len(positions) > FEW_RANKED_PROMPTS:
        return 0.0
    share = math.ceil(100 * (positions[0] + 1) / 2**64) / 100
    while test_threshold(share) <= positions[0]:  # float rounding at the boundary
        share = round(share + 0.01, 2)
    in_test = sum(position < test_threshold(share) for position in positions)
    if share > 0.5 or not (has_train or in_test < len(positions)):
        return 0.0
    return share
