# The two commands of the README.
.PHONY: demo test lint integration

demo:
	scripts/setup.sh
	.venv/bin/teachkit doctor
	.venv/bin/teachkit quickstart --resume

test:
	scripts/setup.sh dev
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint:
	.venv/bin/ruff check src tests benchmarks

# Against a real OpenAI-compatible server (vLLM's CPU build, installed into .venv-vllm): minutes, not in `test`.
integration:
	scripts/integration.sh
