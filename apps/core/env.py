"""Typed readers for settings from the environment.

Each helper refuses a value it cannot parse instead of falling back silently: a typo in
production configuration should stop the process at start-up, with a message that names the
variable and says what it takes, not surface later as a 500 on some page.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured, ValueError):
    """An environment variable holds a value Hearth cannot use."""


def _redacted(url: str) -> str:
    """``url`` with the password of its user part starred, for a message that ends up in logs."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:)[^/]*@", r"\1***@", url)


def envstr(name: str, default: str = "", *, max_length: int | None = None) -> str:
    """The variable's value; unset or empty means the default (``FOO=`` in an env file).
    ``max_length``: for values stored in a column of that size."""
    value = os.environ.get(name) or default
    if max_length is not None and len(value) > max_length:
        raise ConfigError(
            f"{name}={value!r} is {len(value)} characters long; use at most {max_length}"
        )
    return value


def envbool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false, yes/no, on/off or 1/0)")


def envint(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum of {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum of {maximum}")
    return value


def envlist(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def envchoice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(sorted(choices))}")
    return value


# DRF's rate syntax, requests per period. DRF itself reads only the period's first letter (so
# "5/mango" is five a minute) and fails on the first request for anything else.
_RATE = re.compile(r"[1-9][0-9]*/(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)")


def envrate(name: str, default: str) -> str:
    """A rate limit in DRF's syntax: requests per second, minute, hour or day (``120/min``)."""
    value = os.environ.get(name) or default
    if not _RATE.fullmatch(value):
        raise ConfigError(
            f"{name}={value!r} is not a rate: use a number of requests per second, minute, "
            "hour or day, such as 120/minute"
        )
    return value


def envurl(name: str, default: str, *, origin: bool = False) -> str:
    """An absolute http:// or https:// address, without its trailing slash. ``origin``: only
    a scheme, host and port, for the site's own address (links are built by appending paths).
    """
    value = os.environ.get(name) or default
    example = "https://hearth.example.org" if origin else "https://hearth.example.org/path"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is what refuses "host:eighty"
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or any(c.isspace() for c in value)
    ):
        raise ConfigError(
            f"{name}={value!r} is not an http:// or https:// address, such as {example}"
        )
    if origin and parts.path not in {"", "/"}:
        raise ConfigError(
            f"{name}={value!r} has a path; Hearth is served from the root of its host, so give "
            f"the scheme and host only, such as {example}"
        )
    return value.rstrip("/")


def envtextfile(name: str) -> str:
    """The absolute path of a UTF-8 text file, read once here so that a missing, unreadable
    or binary file stops start-up instead of failing the pages that show it. Unset: ""."""
    raw = os.environ.get(name)
    if not raw:
        return ""
    path = os.path.abspath(raw)
    try:
        with open(path, encoding="utf-8") as fh:
            fh.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{name}={raw!r}: no such file; give the path of a UTF-8 text file"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{name}={raw!r} is a folder; give the path of a UTF-8 text file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}={raw!r} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(
            f"{name}={raw!r} cannot be read ({exc.strerror}); give the path of a UTF-8 text "
            "file that this process may read"
        ) from None
    return path


def check_order(lower: tuple[str, int], upper: tuple[str, int], *, strictly: bool = False) -> None:
    """Refuse two limits set the wrong way round (a shortest length above the longest), naming
    both: each may be fine alone. ``strictly``: they may not be equal either."""
    (lower_name, low), (upper_name, high) = lower, upper
    if low > high or (strictly and low == high):
        relation = "below" if strictly else "at most"
        raise ConfigError(f"{lower_name}={low} must be {relation} {upper_name}={high}")


# The databases Hearth runs on (its settings set options for PostgreSQL and SQLite only).
_DATABASE_ENGINES = frozenset({"django.db.backends.postgresql", "django.db.backends.sqlite3"})
_DATABASE_EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:////absolute/path.sqlite3"


def envdatabase(name: str, default: str, *, conn_max_age: int) -> dict[str, Any]:
    """A database URL, parsed into Django's DATABASES entry (dj_database_url): PostgreSQL or
    SQLite. dj_database_url's own errors ("Scheme '://' is unknown") name no variable."""
    import dj_database_url

    value = os.environ.get(name) or default
    refused = f"{name}={_redacted(value)!r} is not a database URL: use {_DATABASE_EXAMPLE}"
    try:
        config = dict(dj_database_url.parse(value, conn_max_age=conn_max_age))
    except (ValueError, dj_database_url.UnknownSchemeError, dj_database_url.ParseError):
        raise ConfigError(refused) from None
    engine = config.get("ENGINE")
    if engine not in _DATABASE_ENGINES:
        raise ConfigError(f"{refused} (Hearth runs on PostgreSQL or SQLite only)")
    if not config.get("NAME"):
        raise ConfigError(f"{refused} (it names no database)")
    return config


REDIS_SCHEMES = ("redis://", "rediss://")
_REDIS_CERT_REQS = {"required", "optional", "none"}


def envredisurl(name: str) -> str:
    """A Redis URL for the cache, Celery's broker and its results, or "" when unset.
    redis:// or rediss://: Celery takes no unix:// (a socket would be redis+socket:// to
    Celery but unix:// to the cache, so one URL cannot serve both), and its result backend
    refuses a rediss:// URL without ``ssl_cert_reqs``."""
    value = os.environ.get(name) or ""
    if not value:
        return ""
    example = "redis://HOST:6379/0, or rediss://HOST:6380/0?ssl_cert_reqs=required for TLS"
    shown = _redacted(value)
    if value.startswith("unix://"):
        raise ConfigError(
            f"{name}={shown!r}: Celery cannot use a Unix socket given as unix://; "
            f"reach Redis over TCP: {example}"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is what refuses "host:port" with a word
        database = parts.path.strip("/")
    except ValueError:
        parts, database = None, ""
    if (
        parts is None
        or not value.startswith(REDIS_SCHEMES)
        or any(c.isspace() for c in value)
        or (database and not database.isdigit())
    ):
        raise ConfigError(
            f"{name}={shown!r} is not a Redis URL (redis:// or rediss://), such as {example}"
        )
    if parts.scheme == "rediss":
        cert_reqs = parse_qs(parts.query).get("ssl_cert_reqs", [""])[-1]
        if cert_reqs not in _REDIS_CERT_REQS:  # lower case: the cache's redis-py needs it
            raise ConfigError(
                f"{name}={shown!r}: a rediss:// URL needs ?ssl_cert_reqs=required (or "
                "optional, or none), which Celery's result backend insists on"
            )
    return value
