#!/usr/bin/env bash
# Install or upgrade Broadcast on a Debian 12 / Ubuntu 22.04+ VM: the `broadcast` user, a virtualenv in
# /opt/broadcast/venv, /etc/broadcast/broadcast.env (created once, with random secrets), PostgreSQL's role,
# database and tuning, the schema, three systemd units, the Caddy site and /usr/local/bin/broadcast.
#
#   sudo deploy/install.sh [SITE]     e.g. sudo deploy/install.sh pbgdpl.camau.gov.vn
#
# Run it again after `git pull` to upgrade: the package is reinstalled, migrations run once, and the units that
# were running are restarted. It never overwrites broadcast.env, nor a Caddyfile that imports broadcast.caddy
# (the province's edits stay); any other Caddyfile (Debian's default) is replaced and kept as Caddyfile.orig.
#
# DESTDIR=/some/dir installs every file under that prefix and skips what acts on the running system (the user,
# file owners, PostgreSQL, migrations, systemctl). INSTALL_PYTHON=no keeps the virtualenv as it is (an offline VM
# whose venv was filled from a wheelhouse).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
SITE=${1:-}
DESTDIR=${DESTDIR:-}
INSTALL_PYTHON=${INSTALL_PYTHON:-yes}
OPT=$DESTDIR/opt/broadcast
VENV=$OPT/venv
ETC=$DESTDIR/etc/broadcast
ENV_FILE=$ETC/broadcast.env
STATE=$DESTDIR/var/lib/broadcast
UNITS=(broadcast-serve broadcast-worker broadcast-scheduler)

say() { echo "==> $*"; }
live() { [ -z "$DESTDIR" ]; }
owner() { if live; then echo "-o $1 -g $2"; fi; }  # install(1) owner options, only on the real system
setting() { sed -n "s|^$1=||p" "$ENV_FILE" | tail -1; }

if live && [ "$(id -u)" != 0 ]; then echo "run as root (sudo $0 $*)" >&2; exit 1; fi
if [ -n "$SITE" ] && ! [[ $SITE =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]]; then
  echo "SITE must be a host name such as pbgdpl.camau.gov.vn, not '$SITE'" >&2; exit 1
fi

if live && ! id broadcast >/dev/null 2>&1; then
  say "creating the system user broadcast"
  useradd --system --home-dir /var/lib/broadcast --no-create-home --shell /usr/sbin/nologin broadcast
fi
# shellcheck disable=SC2046  # owner() expands to separate words on purpose
{
  install -d -m 0755 "$OPT"
  install -d -m 0750 $(owner broadcast broadcast) "$STATE" "$STATE/media"
  install -d -m 0750 $(owner root broadcast) "$ETC"
}

if [ "$INSTALL_PYTHON" = yes ]; then
  say "installing the package into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "$SRC"                                       # dependencies
  "$VENV/bin/pip" install --quiet --no-deps --force-reinstall "$SRC"           # this version's code, always
fi

if [ ! -e "$ENV_FILE" ]; then
  say "creating $ENV_FILE with random secrets"
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
  fernet=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
  dbpass=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  tmp=$(mktemp)
  sed -e "s|^SECRET_KEY=REPLACE-ME\$|SECRET_KEY=$secret|" \
      -e "s|^DATA_ENCRYPTION_KEY=REPLACE-ME\$|DATA_ENCRYPTION_KEY=$fernet|" \
      -e "s|^DATABASE_URL=postgresql://broadcast:REPLACE-ME@|DATABASE_URL=postgresql://broadcast:$dbpass@|" \
      "$SRC/deploy/broadcast.env.example" >"$tmp"
  if [ -n "$SITE" ]; then sed -i "s|^PUBLIC_BASE_URL=.*|PUBLIC_BASE_URL=https://$SITE|" "$tmp"; fi
  # shellcheck disable=SC2046
  install -m 0640 $(owner root broadcast) "$tmp" "$ENV_FILE"
  rm -f "$tmp"
fi
ln -sfn /etc/broadcast/broadcast.env "$STATE/.env"  # what `broadcast …` reads in the units' working directory
# shellcheck disable=SC2046
install -D -m 0755 "$SRC/deploy/broadcast-cli.sh" "$DESTDIR/usr/local/bin/broadcast"

pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$pg_version" ]; then
  conf_dir=$DESTDIR/etc/postgresql/$pg_version/main/conf.d
  if ! cmp -s "$SRC/deploy/postgresql/broadcast.conf" "$conf_dir/broadcast.conf"; then
    say "PostgreSQL $pg_version settings: $conf_dir/broadcast.conf"
    install -D -m 0644 "$SRC/deploy/postgresql/broadcast.conf" "$conf_dir/broadcast.conf"
    if live && systemctl is-active --quiet postgresql; then systemctl restart postgresql; fi
  fi
  url=$(setting DATABASE_URL)
  if live && [[ $url =~ ^postgresql://broadcast:([0-9a-f]+)@(127\.0\.0\.1|localhost)(:5432)?/broadcast$ ]]; then
    password=${BASH_REMATCH[1]}
    psql_postgres() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }
    if [ "$(psql_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'broadcast'")" != 1 ]; then
      say "creating the PostgreSQL role and database broadcast"
      psql_postgres -c "CREATE ROLE broadcast LOGIN PASSWORD '$password'"
    fi
    if [ "$(psql_postgres -c "SELECT 1 FROM pg_database WHERE datname = 'broadcast'")" != 1 ]; then
      psql_postgres -c "CREATE DATABASE broadcast OWNER broadcast ENCODING 'UTF8' TEMPLATE template0"
    fi
  fi
fi

if live; then
  say "migrating the database"
  (cd /var/lib/broadcast && runuser -u broadcast -- "$VENV/bin/broadcast" db upgrade)
  if [[ $(setting DATABASE_URL) == postgresql://* ]] && id postgres >/dev/null 2>&1; then
    database=$(setting DATABASE_URL | sed 's|.*/||; s|?.*||')
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -d "$database" -f "$SRC/deploy/postgresql/broadcast-tables.sql"
  fi
fi

say "systemd units"
for unit in "${UNITS[@]}"; do
  install -D -m 0644 "$SRC/deploy/systemd/$unit.service" "$DESTDIR/etc/systemd/system/$unit.service"
done
if live && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --quiet "${UNITS[@]}"
  for unit in "${UNITS[@]}"; do
    if systemctl is-active --quiet "$unit"; then systemctl restart "$unit"; fi  # an upgrade: run the new code
  done
fi

caddyfile=$DESTDIR/etc/caddy/Caddyfile
install -D -m 0644 "$SRC/deploy/caddy/broadcast.caddy" "$DESTDIR/etc/caddy/broadcast.caddy"
if ! grep -qs '^[[:space:]]*import broadcast.caddy' "$caddyfile"; then
  site=$(setting PUBLIC_BASE_URL | sed 's|^https://||; s|/.*||')
  say "Caddy site $site in $caddyfile"
  if [ -e "$caddyfile" ] && [ ! -e "$caddyfile.orig" ]; then cp -p "$caddyfile" "$caddyfile.orig"; fi
  sed "s|^pbgdpl.example.gov.vn {|$site {|" "$SRC/deploy/caddy/Caddyfile" >"$caddyfile"
fi
if live && [ -d /run/systemd/system ] && systemctl is-active --quiet caddy; then systemctl reload caddy; fi

say "done. Next: put the Twilio credentials in /etc/broadcast/broadcast.env, then"
echo "    sudo systemctl start ${UNITS[*]} && sudo broadcast check"
