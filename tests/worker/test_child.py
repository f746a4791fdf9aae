"""worker.child.TrainingProcess: what a run's page shows of its training process's output."""

from __future__ import annotations

import sys

from worker.child import TrainingProcess, child_env

# A child that writes as transformers does while it loads a GGUF file: a tqdm bar redrawn
# after carriage returns on stderr, then its progress as JSON lines on stdout.
CHILD = r"""
import sys, json
for percent in range(0, 101, 5):
    sys.stderr.write(f"\rConverting and de-quantizing GGUF tensors: {percent:3d}%|")
    sys.stderr.flush()
sys.stderr.write("\n")
sys.stderr.flush()
sys.stderr.buffer.write(b"caf\xc3\xa9 \xff\n")
sys.stderr.buffer.flush()
sys.stdout.write(json.dumps({"phase": "train", "step": 1}) + "\n")
sys.stdout.write("plain line\r\n")
sys.stdout.flush()
"""


def test_a_progress_bar_is_one_line_of_the_tail_as_a_terminal_shows_it() -> None:
    child = TrainingProcess([sys.executable, "-c", CHILD], child_env())
    assert child.process.wait(timeout=60) == 0
    child.join(timeout=10)

    lines = child.tail().splitlines()

    bars = [line for line in lines if "GGUF" in line]
    assert bars == ["Converting and de-quantizing GGUF tensors: 100%|"]
    assert "plain line" in lines
    assert "caf\u00e9 \ufffd" in lines  # a byte that is not UTF-8 does not stop the reading
    assert child.messages.get(timeout=5) == {"phase": "train", "step": 1}
