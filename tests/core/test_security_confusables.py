"""apps.core.confusables.skeleton: texts a reader takes for the same one have one skeleton
(QA security #3 and #6: "Grаce" with a Cyrillic а passed for "Grace")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.core.confusables import LOOKALIKES, skeleton


@pytest.mark.parametrize(
    ("original", "look_alike"),
    [
        ("Grace", "Grаce"),  # Cyrillic а
        ("Grace", "GRACE"),
        ("Moderator", "Ｍｏｄｅｒａｔｏｒ"),  # fullwidth
        ("Moderator", "𝐌𝐨𝐝𝐞𝐫𝐚𝐭𝐨𝐫"),  # mathematical bold
        ("Moderator", "M0derator"),
        ("Paul", "Pau1"),
        ("Helen", "Ηelen"),  # Greek capital Eta
        ("Neo", "Νeo"),  # Greek capital Nu
        ("ADMIN", "АDМIN"),  # Cyrillic А and М
        ("Ivan", "Іvan"),  # Cyrillic capital І, drawn as a Latin I
        ("Grace", "Gr\u200bace"),  # a zero-width space
        ("Grace", "Gra\u00adce"),  # a soft hyphen
        ("Zoë", "Zoё"),  # Cyrillic ё
        ("Zoë", "Zoe\u0308"),  # decomposed
    ],
)
def test_look_alikes_share_a_skeleton(original, look_alike):
    assert original != look_alike
    assert skeleton(look_alike) == skeleton(original)


@pytest.mark.parametrize(
    ("one", "other"),
    [("Grace", "Grade"), ("Neo", "νeo"), ("Zoë", "Zoe"), ("Ana", "Anna"), ("Admin", "Admln")],
)
def test_texts_that_look_different_keep_different_skeletons(one, other):
    assert skeleton(one) != skeleton(other)


def test_every_look_alike_folds_to_its_latin_letter_in_lower_case():
    for target, sources in LOOKALIKES.items():
        for source in sources:
            assert skeleton(source) == target.casefold(), (source, target)


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_a_skeleton_is_its_own_skeleton(text):
    assert skeleton(skeleton(text)) == skeleton(text)
