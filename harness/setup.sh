#!/usr/bin/env bash
# One setup command: a virtualenv with the pinned tools in .venv, and the collections of
# requirements.yml in ./collections. Galaxy is unreachable here, so the collections are taken
# from the `ansible` wheel on PyPI, which bundles them; `ansible-galaxy collection install -r
# requirements.yml` then finds them installed and has nothing to do. Does nothing the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
ansible_bundle=ansible==12.3.0   # bundles community.docker 4.8.5, community.general 11.4.2, ansible.posix 2.1.0
collections=(community/docker community/library_inventory_filtering_v1 community/general ansible/posix)
stamp_dir=.cache/stamps
mkdir -p "$stamp_dir"

inputs_hash() { cat requirements-dev.txt requirements.yml "$0" | sha256sum | cut -c1-16; }
stamp="$stamp_dir/setup-$(inputs_hash)"
# The checkout is itself the collection fastapi_deploy.toolkit: linked into ./collections, the
# playbooks and roles find it by its full name, as they do where users install it.
link_checkout() {
  mkdir -p collections/ansible_collections/fastapi_deploy
  ln -sfn ../../.. collections/ansible_collections/fastapi_deploy/toolkit
}
if [ -f "$stamp" ] && [ -x "$venv/bin/ansible-playbook" ]; then
  link_checkout
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv" >&2
  python3 -m venv "$venv"
fi
echo "setup: installing Python tools (requirements-dev.txt)" >&2
"$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt 2> >(grep -v '^WARNING: Location' >&2)

echo "setup: unpacking collections from the $ansible_bundle wheel into ./collections" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/pip" download -q --no-deps --disable-pip-version-check -d "$tmp" "$ansible_bundle" 2> >(grep -v '^WARNING: Location' >&2)
rm -rf collections/ansible_collections
mkdir -p collections
"$venv/bin/python" - "$tmp"/ansible-*.whl collections "${collections[@]}" <<'PY'
import sys, zipfile
wheel, dest, *wanted = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{name}/" for name in wanted)
with zipfile.ZipFile(wheel) as archive:
    archive.extractall(dest, [n for n in archive.namelist() if n.startswith(prefixes)])
PY

"$venv/bin/ansible-galaxy" collection install -r requirements.yml -p collections | tail -n 1 >&2
link_checkout
rm -f "$stamp_dir"/setup-*
touch "$stamp"
