#!/usr/bin/env bash
# The whole test suite: every fast test (on SQLite, and on PostgreSQL where the database matters), then the slow
# reliability and volume tests once, on PostgreSQL, one at a time. The fixtures start a private PostgreSQL cluster when
# TEST_DATABASE_URL is not set. Tests run in parallel, one pytest-xdist worker per CPU (TEST_WORKERS=0: in this
# process). Extra arguments go to both pytest runs (e.g. -k dispatch, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
workers=(-n "${TEST_WORKERS:-auto}")
set +e
.venv/bin/python -m pytest "${workers[@]}" --durations=10 "$@"
fast=$?
if [ $fast -eq 5 ]; then
  echo "!! pytest collected no tests: failing on purpose" >&2
  exit 1
fi
# The slow tests each start several real processes (serve, workers, simulators, PostgreSQL clusters) and wait on
# them in real time: run side by side on two cores they starve each other into timeouts. One at a time.
.venv/bin/python -m pytest -n 0 -m slow --durations=0 "$@"
slow=$?
set -e
[ $slow -eq 5 ] && slow=0  # the arguments selected no slow test
[ $fast -ne 0 ] && exit $fast
exit $slow
