"""One GGUF cache for a whole test run (worker.runtime.dense_base): the controller makes it
before xdist starts its workers, which inherit HEARTH_GGUF_CACHE, so SmolLM2 is dequantised
once a run, by whichever test needs it first, and never into the repository's var/."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

VARIABLE = "HEARTH_GGUF_CACHE"


def configure(config: pytest.Config) -> None:
    if VARIABLE in os.environ:
        return
    path = Path(tempfile.mkdtemp(prefix="hearth-gguf-"))
    os.environ[VARIABLE] = str(path)
    config.stash[_KEY] = path


def unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_KEY, None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(VARIABLE, None)


_KEY = pytest.StashKey[Path]()
