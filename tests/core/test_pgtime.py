"""Timestamps come back from PostgreSQL through psycopg's own loader, as Django's would."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import User
from apps.core import pgtime

pytestmark = pytest.mark.django_db


def test_connections_use_the_loader_and_values_are_aware_utc(volunteer):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2020-01-02 03:04:05.123456+05:30'::timestamptz, NULL::timestamptz, "
            "'0001-01-01 00:00:00+00'::timestamptz"
        )
        row = cursor.fetchone()
    loader = connection.connection.adapters.get_loader(pgtime._TIMESTAMPTZ, 0)
    assert loader.__module__ == "apps.core.pgtime"
    assert row == (
        datetime.datetime(2020, 1, 1, 21, 34, 5, 123456, tzinfo=datetime.UTC),
        None,
        datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
    )
    assert row[0].tzinfo is datetime.UTC
    # Through the ORM too, and equal to what was saved.
    assert User.objects.get(pk=volunteer.pk).date_joined == volunteer.date_joined


def test_without_a_time_zone_values_are_naive_as_djangos_are():
    loader = pgtime.loader_for(None)(pgtime._TIMESTAMPTZ, connection.connection)
    value = loader.load(b"2020-01-02 03:04:05+00")
    assert value == datetime.datetime(2020, 1, 2, 3, 4, 5)
    assert value.tzinfo is None
    assert timezone.is_naive(value)
