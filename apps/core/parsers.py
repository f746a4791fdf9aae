"""The API's JSON parser: DRF's, stricter and plainer-spoken.

- A body nested too deeply for Python's decoder is refused as a parse error (400) instead of
  escaping as a RecursionError (500). A 2 KB body of a thousand nested brackets is enough to
  reach the decoder's limit, far below the body-size limit.
- A string holding half of a UTF-16 pair (JSON can escape one, ``"\\ud800"``) is refused the
  same way: it is no character, and neither PostgreSQL nor the JSON renderer can encode it, so
  a service that stored it or an error message that quoted it back answered 500.
- A key twice in one object is refused: Python's decoder keeps the last, where another reader
  of the same request (a proxy that checked it, a log) may keep the first, so the request
  would mean two things.
- NaN, Infinity, 1e400 (which Python reads as infinity) and integers too long for Python to
  read are refused in words of their own; DRF passed on Python's ("Out of range float values
  are not JSON compliant", "use sys.set_int_max_str_digits() to increase the limit")."""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Longer keys are cut in the message that names one.
_KEY_SHOWN_CHARS = 60
# CPython's default limit on int(str): converting longer digit strings takes quadratic time.
_MAX_INT_DIGITS = 4300


class _Refused(ValueError):
    """Raised from the decoder's hooks with the message the client gets."""


def _holds_surrogate(data: Any) -> bool:
    # A loop, not recursion: the body may nest as deep as the decoder allowed.
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                shown = key if len(key) <= _KEY_SHOWN_CHARS else key[:_KEY_SHOWN_CHARS] + "…"
                raise _Refused(
                    _(
                        "The key %(key)s appears more than once in one JSON object; send each "
                        "key once."
                    )
                    # json.dumps quotes it and escapes what could not be shown (a half pair).
                    % {"key": json.dumps(shown)}
                )
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise _Refused(
        _("Not valid JSON: %(name)s is not a JSON number; send a number such as 0.5.")
        % {"name": name}
    )


def _int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > _MAX_INT_DIGITS:
        raise _Refused(
            _("A number in the JSON is %(digits)d digits long; no field takes one that long.")
            % {"digits": digits}
        )
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python reads it as infinity
        raise _Refused(_("A number in the JSON is too large to read (beyond about 1.8e308)."))
    return value


def _encoding(parser_context: Any) -> str:
    """The body's charset, from the Content-Type header (Django drops one it does not know).
    One that is no text encoding is refused, as DRF does: through bz2_codec a small body
    would expand past the size limit that was checked on it."""
    encoding = str((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
    try:
        "".encode(encoding)  # unlike codecs.getreader, refuses codecs from bytes to bytes
    except (LookupError, UnicodeError):
        raise ParseError(
            _("The charset “%(charset)s” in the Content-Type header is not a text encoding.")
            % {"charset": encoding}
        ) from None
    return encoding


# What Python's JSON decoder says (its messages are English only), in the reader's language.
_JSON_ERRORS = {
    "Expecting value": gettext_lazy("a value was expected"),
    "Expecting property name enclosed in double quotes": gettext_lazy(
        "a field name in double quotes was expected"
    ),
    "Expecting ',' delimiter": gettext_lazy("a comma was expected"),
    "Expecting ':' delimiter": gettext_lazy("a colon was expected"),
    "Unterminated string starting at": gettext_lazy("a string is not closed"),
    "Invalid control character at": gettext_lazy(
        "a control character (such as a tab or a line break) is inside a string"
    ),
    "Extra data": gettext_lazy("more follows the end of the JSON value"),
    "Invalid \\escape": gettext_lazy("a backslash escape is not valid"),
    "Invalid \\uXXXX escape": gettext_lazy("a \\u escape is not valid"),
    "Illegal trailing comma before end of object": gettext_lazy(
        "a comma comes before the closing brace"
    ),
    "Illegal trailing comma before end of array": gettext_lazy(
        "a comma comes before the closing bracket"
    ),
}


def json_reason(exc: json.JSONDecodeError) -> str:
    """Why the decoder refused a JSON text, in the reader's language."""
    return str(_JSON_ERRORS.get(exc.msg, exc.msg))


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # DRF's JSONParser.parse, with the decoder's hooks above and its errors worded.
        reader = codecs.getreader(_encoding(parser_context))
        try:
            data = json.load(
                reader(stream),
                object_pairs_hook=_object,
                parse_constant=_constant,
                parse_int=_int,
                parse_float=_float,
            )
        except RecursionError:
            raise ParseError(_("JSON nested too deeply.")) from None
        except _Refused as exc:
            raise ParseError(str(exc)) from None
        except UnicodeDecodeError as exc:
            # (Not where: the decoder reads the body in chunks, and counts within one.)
            raise ParseError(
                _("The body is not UTF-8 text: it holds the byte 0x%(byte)02x. Send UTF-8.")
                % {"byte": exc.object[exc.start]}
            ) from None
        except json.JSONDecodeError as exc:
            raise ParseError(
                _("Not valid JSON: %(reason)s at line %(line)d, column %(col)d.")
                % {"reason": json_reason(exc), "line": exc.lineno, "col": exc.colno}
            ) from None
        except ValueError as exc:  # another the decoder raised
            raise ParseError(_("Not valid JSON: %(e)s.") % {"e": exc}) from None
        if _holds_surrogate(data):
            raise ParseError(
                _(
                    "JSON text holds half of a UTF-16 surrogate pair (such as \\ud800 alone), "
                    "which is not a character; remove it."
                )
            )
        return data
