#!/bin/sh
# The subset of the official redis image's entrypoint that the redis role uses (see the
# Dockerfile): `redis-server <config file> [options]`, as the redis user.
set -eu

# A first argument that is an option or a configuration file: the server's arguments.
if [ "${1#-}" != "${1:-}" ] || [ "${1%.conf}" != "${1:-}" ]; then
  set -- redis-server "$@"
fi

# Started as root: /data to the redis user, then run as it (the role starts it as 999 already).
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$(umask)" = 0022 ]; then
  umask 0077
fi

exec "$@"
