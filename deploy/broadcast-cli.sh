#!/bin/sh
# /usr/local/bin/broadcast (installed by deploy/install.sh): `broadcast …` as the units run it — as the broadcast
# user, in /var/lib/broadcast, whose .env is /etc/broadcast/broadcast.env — so `sudo broadcast check` checks the
# very configuration, files and permissions the service has.
cd /var/lib/broadcast || exit 1
if [ "$(id -u)" = 0 ]; then
	exec runuser -u broadcast -- /opt/broadcast/venv/bin/broadcast "$@"
fi
exec /opt/broadcast/venv/bin/broadcast "$@"
