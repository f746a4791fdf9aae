#!/usr/bin/env bash
# `make bench-train` on a GPU machine that has PyTorch but no network (and no project venv):
# the wheels that tests/bench/fetch_train_wheels.sh put in .whl/ (TRL, datasets, transformers,
# peft at the versions pyproject.toml pins, liger-kernel, and what such a machine was found to
# lack) are installed into /tmp/site, then
# `python3 -m worker.bench` runs with its results, per-step log and profiles in $OUT
# (default: ./bench-out). Extra arguments go to worker.bench.
set -uo pipefail
out=${OUT:-bench-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
python3 - <<'PY'
import importlib
for name in ("torch", "triton", "transformers", "trl", "datasets", "peft", "accelerate",
             "liger_kernel", "tokenizers", "huggingface_hub", "pyarrow"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "?"), end="; ")
    except Exception as error:  # report every missing piece at once
        print(name, "FAILED", repr(error), end="; ")
print()
PY
PYTHONUNBUFFERED=1 python3 -m worker.bench --json "$out/bench.json" \
    --steps-log "$out/steps.jsonl" --profile "$out" "$@" 2>&1 | tee "$out/bench.log" \
    | grep -v -E "it/s\]|examples/s\]|^\{'loss'"
