"""A process that ends with its parent: Linux's parent-death signal (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def end_with_parent(signum: int) -> bool:
    """Have Linux send this process ``signum`` when its parent ends, however that one ends;
    whether it will (False elsewhere than Linux). The caller checks ``os.getppid()`` after:
    a parent that ended before this call sends nothing."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    return True
