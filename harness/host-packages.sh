#!/usr/bin/env bash
# Debian packages the harness needs on this machine (not on the servers it provisions):
# debootstrap for the base image, a Docker engine, Chromium for the browser test, and QEMU with
# the tools that make the VM's disk and cloud-init seed (harness/vm.py), and PostgreSQL's and
# Redis' servers for the demo app's unit tests (tests/app starts throwaway ones of its own).
set -euo pipefail
needed=(debootstrap chromium chromium-driver curl qemu-system-x86 qemu-utils genisoimage postgresql redis-server)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "host-packages: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
exec "$(dirname "$0")/ensure-docker.sh"
