# The two commands of the README.
.PHONY: demo test lint

demo:
	scripts/setup.sh
	.venv/bin/teachkit doctor
	.venv/bin/teachkit quickstart --resume

test:
	scripts/setup.sh dev
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint:
	.venv/bin/ruff check src tests benchmarks
