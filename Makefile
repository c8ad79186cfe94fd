.PHONY: demo test lint

demo:   ## start the service with demo data (http://127.0.0.1:8000)
	scripts/demo.sh

test:   ## run the whole test suite (SQLite and PostgreSQL)
	scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/mypy broadcast scheduler tests && .venv/bin/lint-imports
