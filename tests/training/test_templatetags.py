"""The training template tags: how a metric reads, wherever it is shown."""

from __future__ import annotations

import pytest
from django.utils import translation

from apps.training.templatetags.training import metric


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.603376, "2.6034"),  # the fifth decimal rounds the fourth up, not cut off
        (2.60334, "2.6033"),
        (0.71235, "0.7124"),
        (-0.71235, "-0.7124"),
        (0.03125, "0.0313"),  # a true tie rounds away from zero, as the chart's toFixed does
        (1.99999, "2"),
        (0.5, "0.5"),
        (13.51, "13.51"),
        (1234.56, "1234.6"),
        (12000, "12,000"),
        (3.0, "3"),
        (float("nan"), "nan"),
        (True, "True"),
        ("n/a", "n/a"),
    ],
)
def test_a_metric_is_rounded_to_four_decimals_at_most(value, text):
    assert metric(value) == text


def test_a_metric_uses_the_language_s_decimal_separator(settings):
    settings.USE_THOUSAND_SEPARATOR = False
    with translation.override("de"):
        assert metric(2.603376) == "2,6034"
