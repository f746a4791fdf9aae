"""Run a training job, sleeping after every step, so a test can kill it mid-run.

Usage: python -m tests.worker.train_slowly {sft|reward} SPEC.json SECONDS_PER_STEP
"""

from __future__ import annotations

import json
import sys
import time

from worker import jobs
from worker.progress import ProgressEvent


def main() -> None:
    kind, spec_file, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def slow(event: ProgressEvent) -> None:
        if event.get("phase") == "train" and "loss" in event:  # after each step
            time.sleep(delay)

    with open(spec_file) as handle:
        jobs.RUNNERS[kind](json.load(handle), slow)


if __name__ == "__main__":
    main()
