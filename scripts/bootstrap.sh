#!/usr/bin/env bash
# Prepare a machine for the project: system packages (when missing and we are root), then the venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then want_system+=(postgresql); fi
if [ "${WITH_BROWSER:-1}" = 1 ] && [ ! -x /usr/bin/chromium ]; then want_system+=(chromium); fi
# npm installs axe-core for the accessibility tests (tests/web/axe/package-lock.json).
if [ "${WITH_BROWSER:-1}" = 1 ] && ! command -v npm >/dev/null; then want_system+=(npm); fi
# Caddy fronts `serve` in production (deploy/caddy/); the production topology test runs it with its internal CA.
if ! command -v caddy >/dev/null; then want_system+=(caddy); fi
if [ ${#want_system[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install ${want_system[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${want_system[@]}" >/dev/null
  else
    echo "!! missing system packages: ${want_system[*]} (install them to run every test)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "==> installing Python dependencies"
  .venv/bin/pip install -q -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# axe-core, pinned by its lock file, for tests/web/test_accessibility.py (injected into Chromium by Playwright).
axe=tests/web/axe
axe_stamp=$axe/node_modules/.installed-$(sha1sum $axe/package-lock.json | cut -c1-12)
if [ "${WITH_BROWSER:-1}" = 1 ] && command -v npm >/dev/null && [ ! -f "$axe_stamp" ]; then
  echo "==> npm ci (axe-core)"
  (cd $axe && npm ci --no-audit --no-fund --loglevel=error)
  touch "$axe_stamp"
fi
