#!/usr/bin/env bash
# Start the service with demo data on the embedded defaults: SQLite, offline TTS, the Twilio simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=0 scripts/bootstrap.sh
exec .venv/bin/broadcast demo "$@"
