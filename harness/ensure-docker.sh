#!/usr/bin/env bash
# Makes sure a Docker engine answers. A fresh machine of this kind has the docker CLI but no
# engine, and no systemd to start one: install Debian's docker.io and start dockerd by hand.
# Quiet and quick when an engine already answers.
set -euo pipefail

engine_answers() { docker info >/dev/null 2>&1; }

engine_answers && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing Debian's docker.io" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
fi

engine_answers && exit 0

echo "ensure-docker: starting dockerd" >&2
log=/var/log/dockerd.log
setsid nohup dockerd >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  engine_answers && exit 0
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2
exit 1
