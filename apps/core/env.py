"""Typed readers for settings from the environment.

Each helper refuses a value it cannot parse instead of falling back silently: a typo in
production configuration should stop the process at start-up, with a message that names the
variable and says what it takes, not surface later as a 500 on some page.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value Hearth cannot use."""


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
