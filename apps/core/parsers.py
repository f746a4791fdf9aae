"""The API's JSON parser: DRF's, with bodies nested too deeply for Python's decoder refused as
a parse error (400) instead of escaping as a RecursionError (500). A 2 KB body of a thousand
nested brackets is enough to reach the decoder's limit, far below the body-size limit.

A string holding half of a UTF-16 pair (JSON can escape one, ``"\\ud800"``) is refused the
same way: it is no character, and neither PostgreSQL nor the JSON renderer can encode it, so a
service that stored it or an error message that quoted it back answered 500."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_SURROGATE = re.compile(r"[\ud800-\udfff]")


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


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested too deeply.")) from None
        except ParseError as exc:
            # DRF words every failure "JSON parse error - <Python's message>"; say which.
            cause = exc.__context__
            if isinstance(cause, UnicodeDecodeError):
                # (Not where: the decoder reads the body in chunks, and counts within one.)
                raise ParseError(
                    _("The body is not UTF-8 text: it holds the byte 0x%(byte)02x. Send UTF-8.")
                    % {"byte": cause.object[cause.start]}
                ) from None
            if isinstance(cause, json.JSONDecodeError):
                raise ParseError(_("Not valid JSON: %(e)s.") % {"e": cause}) from None
            raise
        if _holds_surrogate(data):
            raise ParseError(
                _(
                    "JSON text holds half of a UTF-16 surrogate pair (such as \\ud800 alone), "
                    "which is not a character; remove it."
                )
            )
        return data
