"""The Your impact panel's bar chart: drawn on the server as inline SVG, no script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from apps.community.selectors import Day

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
