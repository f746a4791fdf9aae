"""An account's activity for moderators (spam QA, findings 5 and 6): the People page linked
each account to nothing but two counts, so judging a suspected spammer meant guessing. Its
page (and API) shows every kind of work, review, ranking and report, with what became of
them, in a bounded number of queries; the People page filters by ban, so a cleanup keeps a
page of people still to ban."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from apps.accounts.services import model_author
from apps.feedback.models import Ranking, Review
from apps.moderation import selectors
from apps.moderation.models import Flag
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.query_counts import assert_flat, queries, web

pytestmark = pytest.mark.django_db


def add_activity(person: Any, n: int) -> dict[str, list[Any]]:
    """``n`` of each kind for ``person``: prompts (every third hidden), answers to others'
    prompts, reviews of others' prompts and answers in turn (spam-labelled), rankings (every
    other retired), reports on others' work (every other resolved), and reports by others
    on their prompts."""
    made: dict[str, list[Any]] = {k: [] for k in ("p", "a", "r", "k", "fr", "fa")}
    now = timezone.now()
    for i in range(n):
        prompt = PromptFactory(author=person, hidden_at=now if i % 3 == 0 else None)
        made["p"].append(prompt)
        made["a"].append(ResponseFactory(author=person))
        if i % 2:
            target: dict[str, Any] = {"prompt": PromptFactory(state="rejected")}
        else:
            target = {"response": ResponseFactory(state="review")}
        made["r"].append(Review.objects.create(reviewer=person, spam=True, quality=1, **target))
        made["k"].append(
            Ranking.objects.create(
                ranker=person,
                prompt=PromptFactory(state="complete"),
                order=[],
                unusable=True,
                retired_at=now if i % 2 else None,
            )
        )
        made["fr"].append(
            Flag.objects.create(
                reporter=person,
                reason="spam",
                prompt=PromptFactory(),
                resolved_at=now if i % 2 else None,
            )
        )
        made["fa"].append(Flag.objects.create(reporter=UserFactory(), reason="pii", prompt=prompt))
    return made


def test_the_page_shows_each_kind_of_item_with_links_and_outcomes(moderator):
    spammer = UserFactory(display_name="Deals9", email="deals9@spam.example")
    made = add_activity(spammer, 2)
    html = web(moderator).get(f"/moderation/people/{spammer.pk}/").content.decode()
    assert '<h1><span dir="auto">Deals9</span></h1>' in html
    assert "deals9@spam.example" in html and "Not banned" in html
    for kind, n in [("prompt", 2), ("answer", 2), ("review", 2), ("ranking", 2)]:
        assert f"{n} {kind}s" in html, kind
    assert "2 reports sent" in html and "2 reports on their work" in html
    section = {
        name: re.search(rf'data-testid="person-{name}">(.*?)</table>', html, re.S).group(1)
        for name in ("prompts", "answers", "reviews", "rankings", "flags-raised", "flags-against")
    }
    for prompt in made["p"]:
        assert f'href="/prompts/{prompt.pk}/"' in section["prompts"]
    assert section["prompts"].count(">Hidden<") == 1
    for answer in made["a"]:
        assert f'href="/prompts/{answer.prompt_id}/#response-{answer.pk}"' in section["answers"]
        assert f'href="/prompts/{answer.prompt_id}/"' in section["answers"]
    # Reviews: the target, its author (linked to their own page), labels, quality, outcome.
    rejected, in_review = made["r"][1].prompt, made["r"][0].response
    assert f'href="/prompts/{rejected.pk}/"' in section["reviews"]
    assert f'href="/prompts/{in_review.prompt_id}/#response-{in_review.pk}"' in section["reviews"]
    assert f'href="/moderation/people/{rejected.author_id}/"' in section["reviews"]
    assert "spam" in section["reviews"] and "1 of 5" in section["reviews"]
    assert ">Rejected<" in section["reviews"] and ">In review<" in section["reviews"]
    for ranking in made["k"]:
        assert f'href="/prompts/{ranking.prompt_id}/"' in section["rankings"]
    assert ">Retired<" in section["rankings"] and "Counted" in section["rankings"]
    for flag in made["fr"]:
        assert f'href="/prompts/{flag.prompt_id}/"' in section["flags-raised"]
    assert ">Open<" in section["flags-raised"] and "Resolved on" in section["flags-raised"]
    for flag in made["fa"]:
        assert f'href="/moderation/people/{flag.reporter_id}/"' in section["flags-against"]
        assert "Personal information" in section["flags-against"]
    # The People page's Ban form, coming back here.
    assert f'action="/moderation/user/{spammer.pk}/ban/"' in html
    assert '<input type="hidden" name="back" value="person">' in html


def test_a_quiet_account_says_so_in_every_list(moderator):
    quiet = UserFactory()
    html = web(moderator).get(f"/moderation/people/{quiet.pk}/").content.decode()
    for said in ("No prompt.", "No answer.", "No review.", "No ranking.", "No report sent."):
        assert said in html


def test_a_ban_from_the_page_comes_back_to_it_and_shows_the_ban(moderator):
    spammer = UserFactory(display_name="Deals9")
    add_activity(spammer, 1)
    client = web(moderator)
    page = f"/moderation/people/{spammer.pk}/"
    refused = client.post(f"/moderation/user/{spammer.pk}/ban/", {"back": "person"})
    assert refused.status_code == 400
    assert "Deals9" in refused.content.decode() and 'id="action-error"' in refused.content.decode()
    r = client.post(
        f"/moderation/user/{spammer.pk}/ban/", {"reason": "spam ring", "back": "person"}
    )
    assert r.status_code == 302 and r["Location"] == page
    html = client.get(page).content.decode()
    assert "Deals9 is banned; it is in the audit log." in html
    status = re.search(r'data-testid="person-status">(.*?)</li>', html, re.S).group(1)
    assert "Banned" in status and "since" in status and "spam ring" in status
    assert f'action="/moderation/user/{spammer.pk}/unban/"' in html
    # A banned ranker's rankings are out of the consensus, a banned reviewer's reviews out of
    # every decision (verification QA: the page did not say so of reviews).
    assert "Not counted: the ranker is banned" in html
    assert 'data-testid="person-reviews-void"' in html
    assert (
        'data-testid="person-reviews-void"'
        not in client.get(f"/moderation/people/{moderator.pk}/").content.decode()
    )


def test_older_items_beyond_the_lists_are_counted(moderator, monkeypatch):
    monkeypatch.setattr(selectors, "PERSON_ITEMS_SHOWN", 2)
    spammer = UserFactory()
    add_activity(spammer, 3)
    html = web(moderator).get(f"/moderation/people/{spammer.pk}/").content.decode()
    assert html.count("And 1 older one, not shown.") == 6
    assert html.count("<tr>") == 6 * (1 + 2)  # each table's head row and two items


def test_only_moderators_open_it_and_only_for_listed_accounts(moderator, volunteer):
    spammer = UserFactory()
    address = f"/moderation/people/{spammer.pk}/"
    assert web(volunteer).get(address).status_code == 403
    r = web(None).get(address)
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert web(moderator).get("/moderation/people/999999/").status_code == 404
    assert web(moderator).get(f"/moderation/people/{model_author().pk}/").status_code == 404
    spammer.deleted_at = timezone.now()
    spammer.save()
    assert web(moderator).get(address).status_code == 404


def test_the_page_runs_as_many_queries_with_30_items_of_each_kind_as_with_2(moderator):
    spammer = UserFactory()
    client = web(moderator)
    assert_flat(
        lambda: client.get(f"/moderation/people/{spammer.pk}/"),
        lambda n: add_activity(spammer, n),
        few=2,
        many=30,
    )


# --- The People page: a link to each account, and a ban filter --------------------------------


def names(html: str) -> list[str]:
    return re.findall(
        r'data-testid="person">\s*<p class="row">\s*<strong dir="auto">([^<]+)<', html
    )


def test_each_person_on_the_people_page_links_to_their_activity(moderator):
    spammer = UserFactory(display_name="Deals9")
    html = web(moderator).get("/moderation/people/", {"q": "Deals9"}).content.decode()
    assert f'href="/moderation/people/{spammer.pk}/" data-testid="person-activity"' in html


def test_the_people_page_filters_by_ban_and_keeps_the_filter_through_bans(moderator):
    spammers = [UserFactory(display_name=f"Deals{i}") for i in range(3)]
    banned = UserFactory(display_name="Banned Already", banned_at=timezone.now())
    client = web(moderator)
    everyone = names(client.get("/moderation/people/").content.decode())
    assert "Banned Already" in everyone and "Deals0" in everyone  # All: the default
    active = names(client.get("/moderation/people/?status=not_banned").content.decode())
    assert "Banned Already" not in active and {"Deals0", "Deals1", "Deals2"} <= set(active)
    assert names(client.get("/moderation/people/?status=banned").content.decode()) == [
        banned.public_name
    ]
    nonsense = names(client.get("/moderation/people/?status=zzz").content.decode())
    assert nonsense == everyone
    # The filter and the search go together, each link keeping the other.
    html = client.get("/moderation/people/?q=deals&status=not_banned").content.decode()
    assert set(names(html)) == {"Deals0", "Deals1", "Deals2"}
    assert '<input type="hidden" name="status" value="not_banned">' in html
    assert 'href="/moderation/people/?q=deals&amp;status=banned"' in html
    assert re.search(r'href="[^"]*status=not_banned" aria-current="true"', html)
    # A ban from the filtered list comes back to it, and the banned account has left it.
    r = client.post(
        f"/moderation/user/{spammers[0].pk}/ban/?q=deals&status=not_banned",
        {"reason": "spam ring", "back": "people"},
    )
    assert r["Location"] == "/moderation/people/?q=deals&status=not_banned"
    assert set(names(client.get(r["Location"]).content.decode())) == {"Deals1", "Deals2"}
    empty = client.get("/moderation/people/?q=Already&status=not_banned").content.decode()
    assert "No account matches" in empty


# --- The API ------------------------------------------------------------------------------------

COUNTS = {"prompts", "answers", "reviews", "rankings", "flags_raised", "flags_against"}


def test_the_api_answers_the_documented_shape(moderator):
    spammer = UserFactory(display_name="Deals9", banned_at=timezone.now(), ban_reason="ring")
    made = add_activity(spammer, 2)
    r = client_for(moderator).get(f"/api/v1/moderation/people/{spammer.pk}/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["id"] == spammer.pk and body["name"] == "Deals9" and body["role"] == "volunteer"
    assert body["banned"] is True and body["ban_reason"] == "ring"
    assert body["counts"] == dict.fromkeys(COUNTS, 2)
    assert body["shown"] == selectors.PERSON_ITEMS_SHOWN
    assert [p["id"] for p in body["prompts"]] == [p.pk for p in reversed(made["p"])]
    assert [p["hidden"] for p in body["prompts"]] == [False, True]
    assert {a["prompt"] for a in body["answers"]} == {a.prompt_id for a in made["a"]}
    review = {r["kind"]: r for r in body["reviews"]}
    assert review["prompt"]["labels"] == ["spam"] and review["prompt"]["quality"] == 1
    assert review["prompt"]["target_state"] == "rejected"
    assert review["response"]["target"] == made["r"][0].response_id
    assert review["response"]["prompt"] == made["r"][0].response.prompt_id
    assert review["response"]["target_state"] == "review"
    # The ranker is banned: no ranking of theirs counts.
    assert [k["counted"] for k in body["rankings"]] == [False, False]
    assert sorted(k["retired"] for k in body["rankings"]) == [False, True]
    assert sorted(f["open"] for f in body["flags_raised"]) == [False, True]
    against = body["flags_against"][0]
    assert against["reporter_banned"] is False and against["reason"] == "pii"
    assert {f["reporter"] for f in body["flags_against"]} == {f.reporter_id for f in made["fa"]}

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/moderation/people/{user_id}/"]["get"]
    assert operation["operationId"] == "moderation_person"
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
    document = {"$ref": "#/components/schemas/PersonOut", "components": schema["components"]}
    assert [e.message for e in Draft202012Validator(document).iter_errors(body)] == []
    assert set(schema["components"]["schemas"]["PersonOut"]["required"]) == set(body)


def test_the_api_refuses_unknown_parameters_non_moderators_and_unknown_accounts(
    moderator, volunteer
):
    spammer = UserFactory()
    address = f"/api/v1/moderation/people/{spammer.pk}/"
    r = client_for(moderator).get(address, {"author": spammer.pk})
    assert r.status_code == 400
    assert r.json() == {"author": ["This request takes no query parameters."]}
    assert client_for(volunteer).get(address).status_code == 403
    assert client_for(None).get(address).status_code == 401
    assert client_for(moderator).get("/api/v1/moderation/people/999999/").status_code == 404


def test_the_api_runs_as_many_queries_with_30_items_of_each_kind_as_with_2(moderator):
    spammer = UserFactory()
    api = client_for(moderator)
    add_activity(spammer, 2)
    address = f"/api/v1/moderation/people/{spammer.pk}/"
    api.get(address)
    few = queries(lambda: api.get(address))
    add_activity(spammer, 28)
    assert queries(lambda: api.get(address)) == few
    assert api.get(address).json()["counts"]["reviews"] == 30
