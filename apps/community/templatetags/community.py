"""The charts of the Your impact panel and the Progress view: drawn on the server as inline SVG,
no script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from apps.community.selectors import Day
from apps.community.selectors.progress import ProgressDay
from apps.core.templatetags.hearth import svg_coordinate

register = template.Library()

BAR_WIDTH, BAR_GAP, CHART_HEIGHT = 8, 2, 60
# A day with one contribution still gets a bar you can see next to a busy day's.
MIN_BAR_HEIGHT = 3


@dataclass(frozen=True)
class Bar:
    day: Day
    x: int
    y: int
    height: int


@register.inclusion_tag("community/_activity_chart.html")
def activity_chart(days: list[Day], summary_id: str) -> dict[str, Any]:
    """Bars of ``days``' counts, the tallest at full height; days without any get no bar
    (the baseline shows them). ``summary_id`` is the element that describes the chart."""
    busiest = max((day.count for day in days), default=0)
    bars = []
    for index, day in enumerate(days):
        if not day.count:
            continue
        height = max(MIN_BAR_HEIGHT, round(CHART_HEIGHT * day.count / busiest))
        x = index * (BAR_WIDTH + BAR_GAP)
        bars.append(Bar(day, x, CHART_HEIGHT - height, height))
    return {
        "bars": bars,
        "width": len(days) * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
        "view_height": CHART_HEIGHT + 1,
        # A string: a float would be localised ("60,5") in a language with a decimal comma.
        "baseline_y": f"{CHART_HEIGHT + 0.5}",
        "bar_width": BAR_WIDTH,
        "first": days[0] if days else None,
        "last": days[-1] if days else None,
        "summary_id": summary_id,
    }


# --- the Progress view ------------------------------------------------------------------------

PROGRESS_BAR_WIDTH, PROGRESS_BAR_GAP, PROGRESS_CHART_HEIGHT = 8, 2, 80
# The stacked kinds, bottom up, with the CSS class that colours each.
PROGRESS_KINDS = ("prompts", "answers", "reviews", "rankings")


@dataclass(frozen=True)
class Segment:
    kind: str
    y: str
    height: str


@dataclass(frozen=True)
class StackedBar:
    day: ProgressDay
    x: int
    segments: list[Segment]


@register.inclusion_tag("community/_progress_chart.html")
def progress_chart(days: list[ProgressDay], summary_id: str) -> dict[str, Any]:
    """Per day, one bar of the four kinds stacked (prompts at the bottom), the busiest day at
    full height; days without any get no bar. ``summary_id`` names what describes the chart."""
    busiest = max((day.total for day in days), default=0)
    scale = PROGRESS_CHART_HEIGHT / busiest if busiest else 0
    bars = []
    for index, day in enumerate(days):
        if not day.total:
            continue
        top = float(PROGRESS_CHART_HEIGHT)
        segments = []
        for kind in PROGRESS_KINDS:
            count = getattr(day, kind)
            if count:
                height = count * scale
                top -= height
                segments.append(Segment(kind, svg_coordinate(top), svg_coordinate(height)))
        bars.append(StackedBar(day, index * (PROGRESS_BAR_WIDTH + PROGRESS_BAR_GAP), segments))
    return {
        "bars": bars,
        "width": len(days) * (PROGRESS_BAR_WIDTH + PROGRESS_BAR_GAP) - PROGRESS_BAR_GAP,
        "view_height": PROGRESS_CHART_HEIGHT + 1,
        "baseline_y": svg_coordinate(PROGRESS_CHART_HEIGHT + 0.5),
        "bar_width": PROGRESS_BAR_WIDTH,
        "first": days[0] if days else None,
        "summary_id": summary_id,
    }
