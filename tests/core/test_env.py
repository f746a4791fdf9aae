from __future__ import annotations

import pytest

from apps.core.env import ConfigError, envbool, envchoice, envint, envlist


def test_envbool_reads_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert envbool("X_FLAG") is expected


def test_envbool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ConfigError, match="X_FLAG='maybe' is not a boolean"):
        envbool("X_FLAG")


def test_envint_refuses_non_numbers_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("X_INT", "12k")
    with pytest.raises(ConfigError, match="not an integer"):
        envint("X_INT", 1)
    monkeypatch.setenv("X_INT", "3")
    with pytest.raises(ConfigError, match="below the minimum"):
        envint("X_INT", 10, minimum=5)
    monkeypatch.delenv("X_INT")
    assert envint("X_INT", 10) == 10


def test_envlist_and_envchoice(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    assert envlist("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_CHOICE", "sometimes")
    with pytest.raises(ConfigError, match="must be one of"):
        envchoice("X_CHOICE", "none", {"none", "optional"})


def test_settings_refuse_a_bad_value_at_start_up(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DEBUG="perhaps", HEARTH_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "apps.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr
