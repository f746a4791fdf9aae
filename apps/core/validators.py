"""Validators shared by models, forms and API fields (migrations name them by this path)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _


@deconstructible
class InRange(MaxValueValidator):
    """A number from ``low`` to ``high``, both included, with one message that names both
    ends, so that whoever set it out of range learns the whole range at once.

    A MaxValueValidator so that a model's IntegerField adds no maximum of its database's
    beside it: PostgreSQL's 32767 for a small integer would only be a second message for the
    same mistake, and SQLite's 2**63 − 1 no limit at all."""

    message = _("From %(low)d to %(high)d.")
    code = "out_of_range"

    def __init__(self, low: int, high: int) -> None:
        super().__init__(high)
        self.low = low
        self.high = high

    def __call__(self, value: Any) -> None:
        # ``not (…)`` so that NaN, which compares false with everything, is out of range too.
        if not (self.low <= value <= self.high):
            raise ValidationError(
                self.message,
                code=self.code,
                params={"low": self.low, "high": self.high, "value": value},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InRange) and (self.low, self.high, self.message, self.code) == (
            other.low,
            other.high,
            other.message,
            other.code,
        )

    def __hash__(self) -> int:
        return hash((self.low, self.high))
