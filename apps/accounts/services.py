"""Writes for accounts: licence consent, profile, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from typing import Any

import langcodes
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from apps.accounts import roles
from apps.accounts.models import (
    MODEL_AUTHOR_EMAIL,
    ApiToken,
    LicenceAcceptance,
    User,
    display_name_key,
)
from apps.core.confusables import skeleton
from apps.core.text import is_printable_name

TOKEN_PREFIX = "hearth_"
MAX_LANGUAGES = 20


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_language(tag: object, *, field: str = "language") -> str:
    """Return the canonical BCP-47 form of ``tag`` (``pt-br`` -> ``pt-BR``) or refuse it."""
    if not isinstance(tag, str) or not tag.strip():
        raise ValidationError({field: [_("Give a language as a BCP-47 tag, e.g. en or pt-BR.")]})
    raw = tag.strip()
    if len(raw) > 35:
        # Not echoed: the message would carry whatever was pasted, up to the body limit.
        raise ValidationError(
            {
                field: [
                    _(
                        "A language tag has at most 35 characters, this one %(n)d; "
                        "give a BCP-47 tag, e.g. en or pt-BR."
                    )
                    % {"n": len(raw)}
                ]
            }
        )
    # Quoted as typed, less what cannot be shown (a control character is a replacement mark).
    shown = "".join(c if c.isprintable() else "\ufffd" for c in raw)
    if not langcodes.tag_is_valid(raw):
        raise ValidationError(
            {
                field: [
                    _("“%(tag)s” is not a valid BCP-47 language tag (e.g. en, de, pt-BR).")
                    % {"tag": shown}
                ]
            }
        )
    canonical = langcodes.standardize_tag(raw)
    if langcodes.Language.get(canonical).language in (None, "und"):
        raise ValidationError({field: [_("“%(tag)s” names no language.") % {"tag": shown}]})
    return canonical


def check_languages(tags: object) -> list[str]:
    if isinstance(tags, str):
        tags = [t for t in tags.replace(" ", ",").split(",") if t]
    if not isinstance(tags, list):
        raise ValidationError({"languages": [_("Give a list of BCP-47 tags.")]})
    if len(tags) > MAX_LANGUAGES:
        raise ValidationError(
            {"languages": [_("Pick at most %(n)d languages.") % {"n": MAX_LANGUAGES}]}
        )
    result: list[str] = []
    for tag in tags:
        canonical = check_language(tag, field="languages")
        if canonical not in result:
            result.append(canonical)
    return result


def check_not_banned(*, user: User) -> None:
    """Refuse new or changed work from a suspended account (a moderator's ban): it would
    reach other volunteers' review queues. Withdrawing one's own work stays open."""
    if user.banned_at is not None:
        raise PermissionDenied(
            _("Your account is suspended from contributing: %(reason)s")
            % {"reason": user.ban_reason or _("contact the moderators.")}
        )


def check_may_add_email(*, user: User) -> None:
    """Refuse a new e-mail address, or another confirmation e-mail, to a suspended account:
    each one sends Hearth's mail to an address of the account's choosing."""
    if user.banned_at is not None:
        raise PermissionDenied(
            _(
                "Your account is suspended: it cannot add email addresses or have confirmations "
                "sent."
            )
        )


def check_may_contribute_now(*, user: User) -> None:
    """``check_not_banned`` on the account as it is now rather than as the request found it,
    and refuse a deleted account: the row is read under a lock that waits for a ban or an
    account deletion being committed. Without it, a request that signed in a moment before
    its person deleted their account could add live work under the deleted account, and a
    later release would carry it. (The dispatcher needs no such read: it holds the task,
    which a ban or a deletion releases first.)"""
    now = (
        User.objects.select_for_update(no_key=True)
        .filter(pk=user.pk)
        .values_list("banned_at", "ban_reason", "deleted_at")
    )
    if transaction.get_connection().in_atomic_block:
        found = now.first()  # locked until the caller's transaction ends
    else:
        with transaction.atomic():  # a lock needs a transaction; the wait is what counts
            found = now.first()
    if found is not None:
        user.banned_at, user.ban_reason, user.deleted_at = found
    if user.deleted_at is not None:
        raise PermissionDenied(_("This account has been deleted."))
    check_not_banned(user=user)


def user_setup_volunteer(*, user: User) -> None:
    """Give a new user the volunteer role."""
    group, _ = Group.objects.get_or_create(name=roles.VOLUNTEER)
    user.groups.add(group)


def model_author() -> User:
    """The one account of model-written answers: created on first use, inactive, with no
    password and off the leaderboard. One live answer per author and prompt (a constraint),
    so a prompt holds at most one model-written answer."""
    user, created = User.objects.get_or_create(
        email=MODEL_AUTHOR_EMAIL,
        defaults={"display_name": "Hearth model", "is_active": False, "on_leaderboard": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def licence_accept(*, user: User, version: str | None = None) -> LicenceAcceptance:
    """Record consent to the current licence version; accepting twice changes nothing."""
    acceptance, _ = LicenceAcceptance.objects.get_or_create(
        user=user, version=version or settings.HEARTH_LICENCE_VERSION
    )
    if acceptance.version == settings.HEARTH_LICENCE_VERSION:
        user.licence_accepted_cache = True  # type: ignore[attr-defined]
    return acceptance


# Words a display name may not hold, since readers would take the person for staff or for the
# site itself: names are shown with no role marker (leaderboard, prompt pages, the API's
# author_name). Compared as whole words of the name's skeleton, so "M0derator" and "Ｈearth"
# count too; the role labels below are added in every language the site speaks.
RESERVED_NAME_WORDS = (
    "admin",
    "admins",
    "administrator",
    "administrators",
    "moderator",
    "moderators",
    "maintainer",
    "maintainers",
    "staff",
    "hearth",
)
_ROLE_LABELS = (
    gettext_noop("Admin"),
    gettext_noop("Administrator"),
    gettext_noop("Moderator"),
    gettext_noop("Maintainer"),
)
# How pages name a person without a display name (User.public_name).
_NAMELESS = gettext_noop("Volunteer #%(id)s")
# The same words as people, in each language (verification: "Moderador" and "Voluntario #3"
# passed, since the labels above translate as the roles' names, "Moderación"): a translator
# lists a language's words, comma-separated, every form (singular, plural, each gender).
_PERSON_WORDS = pgettext_lazy(
    "display names refused: role words, comma-separated",
    "admin, admins, administrator, administrators, moderator, moderators, maintainer, "
    "maintainers, staff",
)
_VOLUNTEER_WORDS = pgettext_lazy(
    "display names refused: the word of 'Volunteer #12', comma-separated", "volunteer"
)


def _listed_in_every_language(words: Any) -> list[str]:
    """The comma-separated ``words`` (a lazy translation) in every language the site speaks."""
    found = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            found += [w.strip() for w in str(words).split(",") if w.strip()]
    return found


def _words(text: str) -> str:
    """The words of ``text``'s skeleton, one space apart, for matching whole words."""
    return " ".join(re.findall(r"\w+", skeleton(text)))


def _in_every_language(message: str) -> list[str]:
    found = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            found.append(_(message))
    return found


def check_display_name(*, user: User, name: str) -> None:
    """Refuse a new display name that would pass for someone else: one that looks the same as
    another account's name (after NFKC, casefolding and the confusable skeleton), one of the
    form pages give people without a name ("Volunteer #12", in any language the site speaks),
    or one that holds a role word ("Moderator", "Maintainer", "Admin", "Hearth"). ``name`` is
    already collapsed and checked for unprintable characters."""
    words = f" {_words(name)} "
    labels = [label for message in _ROLE_LABELS for label in _in_every_language(message)]
    people = _listed_in_every_language(_PERSON_WORDS)
    for reserved in (*RESERVED_NAME_WORDS, *labels, *people):
        if f" {_words(reserved)} " in words:
            raise ValidationError(
                {
                    "display_name": [
                        _(
                            "A display name cannot hold “%(word)s”: readers would take you "
                            "for one of Hearth's roles. Choose another name."
                        )
                        % {"word": reserved}
                    ]
                }
            )
    compact = "".join(skeleton(name).split())
    volunteer = {_words(w) for w in _listed_in_every_language(_VOLUNTEER_WORDS)}
    # "Voluntario #3", "volunteer 12": a word of the list, then a number (the skeleton would
    # read 0 and 1 as letters).
    plain = " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", name).casefold()))
    numbered = re.fullmatch(r"(.+?) ?(\d+)", plain)
    if (numbered and _words(numbered.group(1)) in volunteer) or any(
        compact.startswith("".join(skeleton(nameless.split("%(id)s")[0]).split()))
        for nameless in _in_every_language(_NAMELESS)
    ):
        raise ValidationError(
            {
                "display_name": [
                    _(
                        "Names such as “%(example)s” are how Hearth shows people who have "
                        "not chosen one. Choose another name."
                    )
                    % {"example": _(_NAMELESS) % {"id": user.pk}}
                ]
            }
        )
    if User.objects.filter(display_name_key=display_name_key(name)).exclude(pk=user.pk).exists():
        raise ValidationError(
            {
                "display_name": [
                    _(
                        "Someone else already goes by this name, or by one that looks the same. "
                        "Choose another."
                    )
                ]
            }
        )


@transaction.atomic
def profile_update(
    *,
    user: User,
    display_name: Any = None,
    languages: Any = None,
    attribution: Any = None,
    on_leaderboard: Any = None,
) -> User:
    fields: list[str] = []
    if display_name is not None:
        if not isinstance(display_name, str):
            raise ValidationError({"display_name": [_("The display name must be text.")]})
        name = " ".join(display_name.split())
        if len(name) > 60:
            raise ValidationError({"display_name": [_("Use at most 60 characters.")]})
        if not is_printable_name(name):
            raise ValidationError(
                {"display_name": [_("The display name has unprintable characters.")]}
            )
        if name and name != user.display_name:  # a name given before the check stays
            check_display_name(user=user, name=name)
        user.display_name = name
        user.display_name_key = display_name_key(name)
        fields += ["display_name", "display_name_key"]
    if languages is not None:
        user.languages = check_languages(languages)
        fields.append("languages")
    if attribution is not None:
        if not isinstance(attribution, bool):
            raise ValidationError({"attribution": [_("Must be true or false.")]})
        user.attribution = attribution
        fields.append("attribution")
    if on_leaderboard is not None:
        if not isinstance(on_leaderboard, bool):
            raise ValidationError({"on_leaderboard": [_("Must be true or false.")]})
        user.on_leaderboard = on_leaderboard
        fields.append("on_leaderboard")
    # Written only while the account exists: an edit sent just as its person deleted the
    # account would otherwise put a name or languages back on the erased row. (The UPDATE
    # waits for a deletion being committed, then finds the account deleted.)
    if fields and not User.objects.filter(pk=user.pk, deleted_at__isnull=True).update(
        **{name: getattr(user, name) for name in fields}
    ):
        raise PermissionDenied(_("This account has been deleted."))
    return user


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret, which is never retrievable again."""
    name = " ".join((name or "").split())
    if not name or len(name) > 60:
        raise ValidationError(
            {"name": [_("Name the token (1–60 characters), e.g. 'laptop script'.")]}
        )
    if not is_printable_name(name):
        # Shown on the profile page, where a right-to-left override would turn the line.
        raise ValidationError({"name": [_("The token name has unprintable characters.")]})
    # Counted under the person's row lock, so two requests at once cannot make a 21st token
    # (a banned person may still make one: withdrawing their work stays open to them).
    live = User.objects.select_for_update(no_key=True).filter(pk=user.pk, deleted_at__isnull=True)
    if not live.values_list("pk", flat=True).first():
        raise PermissionDenied(_("This account has been deleted."))
    if user.api_tokens.filter(revoked_at__isnull=True).count() >= 20:
        raise ValidationError({"name": [_("You have 20 active tokens; revoke one first.")]})
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(key)
    )
    return token, key


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every live token of ``user`` (a new password, a deleted account); returns how
    many were live."""
    return user.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


DELETED_EMAIL_DOMAIN = "deleted.invalid"  # RFC 2606: never a real mailbox


@transaction.atomic
def account_delete(*, user: User) -> User:
    """Delete a person's account at their request. Idempotent.

    Their prompts and answers are withdrawn (gone from the site, never in a later release;
    published releases are immutable). Their reviews and rankings stay, attached to a row
    with no personal data left, because other volunteers' work was accepted or ranked with
    them. Everything personal is erased: e-mail, name, languages, sign-in links and e-mail
    addresses, and the notes they gave when skipping tasks; tokens are revoked, open tasks
    freed, and the password made unusable, which ends every session.
    """
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    from apps.assignments.services import assignments_release_for_user, on_gone_work_commit
    from apps.collection.models import Response
    from apps.collection.policy import policy_gate
    from apps.collection.services import author_work_withdraw

    # A prompt ranking that their answers leave with fewer than two goes back to collecting
    # with slots from the policy: the gate before any lock (see policy_gate).
    policy_gate()
    # FOR NO KEY UPDATE, as everywhere: a FOR UPDATE lock would deadlock with a submission of
    # theirs, which holds its task and then inserts a review or answer that names them (FOR
    # KEY SHARE on this row) while this waits for the task. New work stays out all the same:
    # it comes either under a task, released here first, or after check_may_contribute_now,
    # which waits for this lock and then finds the account deleted.
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if user.deleted_at is not None:
        return user
    # Free text that may say anything about them. Finished tasks only, which nobody else
    # locks; taken here, after the person and before any other task, as the lock order says.
    user.assignments.exclude(skip_reason="").update(skip_reason="")
    live_answers = Response.objects.filter(author=user, withdrawn_at__isnull=True)
    # Their tasks' rows and their work's (own and answered prompts, then their answers) locked
    # in one order, before author_work_withdraw changes them.
    assignments_release_for_user(
        user=user,
        prompts=Q(author=user, withdrawn_at__isnull=True)
        | Q(pk__in=live_answers.values("prompt_id")),
        answers=Q(author=user, withdrawn_at__isnull=True),
    )
    # In bulk: one at a time, a heavy contributor's work outlasted the request's timeout.
    author_work_withdraw(author=user)
    on_gone_work_commit(author_id=user.pk)  # other people's tasks on their work
    now = timezone.now()
    api_tokens_revoke_all(user=user)
    EmailAddress.objects.filter(user=user).delete()
    SocialAccount.objects.filter(user=user).delete()
    user.groups.clear()
    user.user_permissions.clear()
    user.email = f"deleted-{user.pk}@{DELETED_EMAIL_DOMAIN}"
    user.first_name = user.last_name = user.display_name = ""
    user.languages = []
    user.attribution = user.on_leaderboard = False
    user.is_active = user.is_staff = user.is_superuser = False
    user.set_unusable_password()
    user.deleted_at = now
    user.save()
    return user
