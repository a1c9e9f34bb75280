"""Provisioning: a fresh server to the first verified HTTPS 200 with site.yml, and the rerun."""

from __future__ import annotations

import time

from bench.common import Json, playbook
from harness import sandbox
from harness.common import SITE_PLAYBOOK, wait_until


def provision_fresh(box: sandbox.Sandbox) -> Json:
    """A new server and Pebble, site.yml, then the first verified HTTPS 200; then the rerun."""
    started = time.monotonic()
    sandbox.create_network(box)
    sandbox.start_pebble(box)
    sandbox.start_server(box)
    sandbox.wait_for_systemd(box)
    booted = time.monotonic() - started
    site = playbook(SITE_PLAYBOOK, "provision-fresh")
    after_site = time.monotonic()
    sandbox.save_pebble_root(box)
    wait_until(lambda: sandbox.served(box), 60, interval=0.1)
    first_200 = time.monotonic()
    rerun = playbook(SITE_PLAYBOOK, "provision-rerun")
    return {
        "fresh_s": round(first_200 - started, 2),
        "boot_s": round(booted, 2),
        "site_yml_s": site.seconds,
        "first_200_after_s": round(first_200 - after_site, 2),
        "site_yml": site.summary(),
        "rerun": rerun.summary(),
    }
