"""Guidance shown on the Write page, one entry per Dolly category."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apps.collection.models import CONTEXT_REQUIRED, Category


@dataclass(frozen=True)
class Guidance:
    category: str
    label: Promise | str
    guidance: Promise
    example_instruction: Promise
    example_context: Promise | str
    example_response: Promise
    context_required: bool


def _g(
    category: Category,
    guidance: Promise,
    instruction: Promise,
    context: Promise | str,
    response: Promise,
) -> Guidance:
    return Guidance(
        category=category.value,
        label=category.label,
        guidance=guidance,
        example_instruction=instruction,
        example_context=context,
        example_response=response,
        context_required=category in CONTEXT_REQUIRED,
    )


GUIDANCE: list[Guidance] = [
    _g(
        Category.OPEN_QA,
        _("A question anyone might ask, answered from general knowledge. No reference text."),
        _("Why do onions make people cry when they are cut?"),
        "",
        _(
            "Cutting an onion breaks its cells and releases enzymes that turn sulfur compounds into a gas (syn-propanethial-S-oxide). The gas reaches the eyes, forms a mild acid with the tears and irritates nerve endings, so the eyes water to wash it away."
        ),
    ),
    _g(
        Category.GENERAL_QA,
        _("A broader question where a good answer may explain, compare or advise."),
        _("How should I prepare for my first half marathon?"),
        "",
        _(
            "Give yourself 10–14 weeks. Run three or four times a week, with one long run that grows by about a kilometre a week, mostly at an easy pace. Add one faster session, rest well, and practise eating and drinking on long runs so race day holds no surprises."
        ),
    ),
    _g(
        Category.CLOSED_QA,
        _("A question answered only from the reference text you paste in the context."),
        _("According to the text, when did the bridge open to traffic?"),
        _(
            "The Øresund Bridge, linking Copenhagen and Malmö, was completed in 1999 and opened to traffic on 1 July 2000."
        ),
        _("It opened to traffic on 1 July 2000."),
    ),
    _g(
        Category.CLASSIFICATION,
        _("Ask to sort items into classes, or to label each one. List the classes."),
        _("Classify each as a fruit or a vegetable: apple, carrot, pear, leek, plum."),
        "",
        _("Fruit: apple, pear, plum. Vegetable: carrot, leek."),
    ),
    _g(
        Category.BRAINSTORMING,
        _("Ask for ideas: several options, not one right answer."),
        _("Give me ideas for a rainy Saturday with two children under ten."),
        "",
        _(
            "- Build a blanket fort and read inside it\n- Bake and decorate biscuits\n- A treasure hunt with clues around the house\n- Paint with watercolours\n- Visit the library or a museum"
        ),
    ),
    _g(
        Category.INFORMATION_EXTRACTION,
        _("Ask to pull specific facts out of the reference text in the context."),
        _("List the ingredients mentioned in the text."),
        _(
            "Mix 200 g of flour with two eggs and a pinch of salt, then add 300 ml of milk slowly while whisking."
        ),
        _("Flour, eggs, salt and milk."),
    ),
    _g(
        Category.SUMMARIZATION,
        _("Ask to summarise the reference text in the context."),
        _("Summarise this paragraph in one sentence."),
        _(
            "The town council met on Tuesday to discuss the new cycle lanes. After two hours of debate, members voted to build the first section on the high street next spring, with a review after six months."
        ),
        _(
            "The council voted to build the first cycle-lane section on the high street next spring and to review it after six months."
        ),
    ),
    _g(
        Category.CREATIVE_WRITING,
        _("Ask for a poem, story, letter or other original writing."),
        _("Write a four-line poem about the first frost of winter."),
        "",
        _(
            "The lawn wears silver overnight,\nEach blade a needle, sharp and bright;\nThe garden holds its breath and waits,\nWhile frost writes lace on iron gates."
        ),
    ),
]

GUIDANCE_BY_CATEGORY = {g.category: g for g in GUIDANCE}
