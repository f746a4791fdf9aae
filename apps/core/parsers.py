"""The API's JSON parser: DRF's, with bodies nested too deeply for Python's decoder refused as
a parse error (400) instead of escaping as a RecursionError (500). A 2 KB body of a thousand
nested brackets is enough to reach the decoder's limit, far below the body-size limit."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested too deeply.")) from None
