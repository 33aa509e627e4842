#!/usr/bin/env bash
# `make integration`: teachkit against a real OpenAI-compatible server, vLLM's CPU build serving the embedded
# SmolLM2 on 127.0.0.1: a Crafter rollout held to the action enum, `sgd rubric`, one GRPO step and `sgd eval` with
# the server as the LLM judge (benchmarks/integration_vllm.py). Not part of `make test`: it installs vLLM (about
# 2 minutes, once) and its first server start compiles for about 2 minutes (cached in ~/.cache/vllm afterwards).
#   scripts/integration.sh [DRIVER OPTIONS]     e.g. --episodes 2 --max-steps 12 --samples 6
#   INTEGRATION_PORT=8000 INTEGRATION_DIR=runs/integration   (defaults: a free port, runs/integration)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/integration-setup.sh

work="${INTEGRATION_DIR:-runs/integration}"
mkdir -p "$work"
port="${INTEGRATION_PORT:-$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
model_dir="$(.venv/bin/python -c 'from teachkit.checkpoints import ensure_embedded_model
from teachkit.settings import load_settings
print(ensure_embedded_model(load_settings()))')"

echo "starting vLLM on 127.0.0.1:$port (log: $work/server.log)"
# Its own session, so that stopping it stops its engine and worker processes too.
VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}" setsid .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server \
    --model "$model_dir" --served-model-name smollm2 --host 127.0.0.1 --port "$port" --max-model-len 4096 \
    >"$work/server.log" 2>&1 &
server=$!
stop_server() {
    kill -TERM -- "-$server" 2>/dev/null || return 0
    for _ in $(seq 30); do
        kill -0 "$server" 2>/dev/null || return 0
        sleep 1
    done
    kill -KILL -- "-$server" 2>/dev/null || true
}
trap stop_server EXIT

.venv/bin/python benchmarks/integration_vllm.py --base-url "http://127.0.0.1:$port/v1" --server-pid "$server" \
    --server-log "$work/server.log" --work "$work" "$@"
