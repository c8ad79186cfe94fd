#!/usr/bin/env bash
# The whole test suite on SQLite and PostgreSQL (the fixtures start a private PostgreSQL cluster
# when TEST_DATABASE_URL is not set).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ $code -eq 5 ]; then
  echo "!! pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit $code
