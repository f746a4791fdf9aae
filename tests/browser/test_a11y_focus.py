"""The focus ring, which axe-core does not check: every control reached with Tab on the
Write page shows a ring at least 2px wide that stands out 3:1 or more from what surrounds
it (WCAG 1.4.11), in the light theme and the dark one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

# The focused element's ring (its own outline, or its card's where the card draws it) and the
# colour behind the ring: the nearest background, from the ring's element outwards.
FOCUS_RING = """
() => {
  let el = document.activeElement;
  if (el === document.body) return null;
  const ring = e => { const s = getComputedStyle(e); return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0; };
  if (!ring(el)) {
    const card = el.closest(".category-card, .label-option, .scale-option");
    if (card && ring(card)) el = card;
  }
  const s = getComputedStyle(el);
  let behind = el.parentElement, bg = "rgb(255, 255, 255)";
  while (behind) {
    const c = getComputedStyle(behind).backgroundColor;
    if (c && c !== "transparent" && !/, 0\\)$/.test(c)) { bg = c; break; }
    behind = behind.parentElement;
  }
  return {what: el.outerHTML.slice(0, 80), style: s.outlineStyle, width: parseFloat(s.outlineWidth),
          colour: s.outlineColor, behind: bg};
}
"""


def luminance(colour: str) -> float:
    channels = [int(n) / 255 for n in re.findall(r"\d+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    lighter, darker = sorted((luminance(a), luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_control_reached_with_tab_shows_a_ring_that_stands_out(
    page: Page, login, volunteer, scheme
):
    page.emulate_media(color_scheme=scheme)
    login(page, volunteer)
    page.goto("/write/")
    weak = []
    seen = 0
    for _ in range(30):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring is None:  # past the last control
            break
        seen += 1
        ratio = contrast(ring["colour"], ring["behind"])
        if ring["style"] == "none" or ring["width"] < 2 or ratio < 3:
            weak.append(
                f"{ring['what']}: {ring['width']}px {ring['colour']} on {ring['behind']}, {ratio:.2f}:1"
            )
    assert seen > 20
    assert not weak, "\n".join(weak)
