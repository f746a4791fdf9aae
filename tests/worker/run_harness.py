"""Run one training run as the ``worker.train_run`` task does, printing each report as a JSON
line on stdout, so that a test can watch it and kill this process.

Usage: python -m tests.worker.run_harness SPEC.json MODELS_DIR GPUS_PER_RUN
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from worker.runs import Knobs, run_training


def main() -> None:
    spec_file, models, gpus = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

    def send(task: str, args: Any, queue: str) -> None:
        print(json.dumps({"task": task, "args": args, "queue": queue}), flush=True)

    with open(spec_file) as handle:
        spec = json.load(handle)
    knobs = Knobs(models=models, gpus=gpus, cancel_grace_s=5.0)
    run_training(spec, send=send, is_aborted=lambda: False, knobs=knobs)


if __name__ == "__main__":
    main()
