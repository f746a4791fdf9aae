#!/usr/bin/env bash
# Download into .whl/ the wheels that tests/bench/bench_train_offline.sh installs on a GPU
# machine that has PyTorch but no network: transformers, datasets, peft and TRL at the versions
# pyproject.toml pins, liger-kernel, and the pure or compiled dependencies such a machine was
# found to lack. PYTHON_VERSION is the GPU machine's Python (default 3.12); its own
# huggingface_hub (1.x there) is kept, since 2.x needs an HTTP client it lacks.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${PYTHON_VERSION:-3.12}
pins=$(python3 - <<'PY'
import tomllib

extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
wanted = {"transformers", "datasets", "peft", "trl"}
print(" ".join(p for p in extras["worker"] + extras["bench"] if p.split("==")[0] in wanted))
PY
)
# shellcheck disable=SC2086  # the pins are separate words
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $pins liger_kernel==0.8.5 regex==2026.11.19 \
    fsspec==2026.9.0 dill==0.4.1 multiprocess==0.70.19
ls .whl
