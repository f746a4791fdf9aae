"""Task entry points for GPU nodes: thin, take a JSON spec, return a JSON result."""

from __future__ import annotations

import platform
import socket
from typing import Any

from worker.celery import app


@app.task(name="worker.describe")
def describe() -> dict[str, Any]:
    """Report what this node offers; torch is imported here, never at module import."""
    info: dict[str, Any] = {"host": socket.gethostname(), "python": platform.python_version()}
    try:
        import torch
    except ImportError:
        info["torch"] = None
        return info
    info["torch"] = torch.__version__
    info["cuda_devices"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return info
