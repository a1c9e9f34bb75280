# The commands of the README: `make demo`, `make test` and `make bench`. Everything else is a step of them.
# `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SCENARIOS ?= default traefik
# Role READMEs: one template and one config for every role, the same for role-docs and lint.
AAR_DOC := aar-doc --config-file .aar_doc.yml
.DEFAULT_GOAL := demo

.PHONY: help demo test test-vm test-swarm bench bench-smoke setup checks images demo-images vm-image sandbox sandbox-down vm vm-down lint role-docs unit harness-test molecule

help: ## This list of targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'

demo: demo-images sandbox ## Fresh machine -> local sandbox server serving the demo app over HTTPS

test: checks images harness-test molecule ## Lint and unit tests first, then images, harness tests and Molecule scenarios

test-vm: images vm-image ## The Molecule scenario on a cloud-like VM under QEMU (about 17 min under emulation; its own CI stage)
	harness/molecule-side-by-side.sh vm

test-swarm: images ## The Molecule scenario on a Docker Swarm of three servers (its own CI stage, after the VM's)
	harness/molecule-side-by-side.sh swarm

# The sub-make of `checks` runs after its caller's setup: once is enough.
ifeq ($(SETUP_DONE),1)
setup: ;
else
setup: ## Host packages, Docker engine, Python tools and collections
	harness/host-packages.sh
	harness/setup.sh
endif

images: setup ## Build the local images (each only when its inputs changed)
	python -m harness.images

# The sandbox's own: its server, Pebble, and the stand-ins for the images its site.yml runs (Caddy,
# the app's Python base, PostgreSQL). The tests' other images come with `make images`.
demo-images: setup ## Build the images the sandbox needs, and no other
	python -m harness.images server pebble caddy python postgres

sandbox: ## Bring the sandbox up and provision it with site.yml
	python -m harness.sandbox up

sandbox-down: ## Remove the sandbox
	python -m harness.sandbox down

vm-image: setup ## Build the VM's disk image from Debian's packages (once per inputs, cached in ~/.cache/fastapi-deploy/vm)
	python -m harness.vm image

vm: vm-image ## Boot a cloud-like Debian 13 VM (QEMU) from the cached image; SSH on 127.0.0.1
	python -m harness.vm up

vm-down: ## Power the VM off and remove its overlay
	python -m harness.vm down

bench: images ## Measure the toolkit against its targets on a fresh sandbox: table, .cache/bench/
	python -m bench $(BENCH_ARGS)

bench-smoke: images ## The same benchmark with short measurements (checks that it still runs)
	python -m bench --smoke $(BENCH_ARGS)

role-docs: setup ## Regenerate each role README's generated part from its meta/argument_specs.yml (template: .aar_doc.yml)
	for role in roles/*/; do $(AAR_DOC) "$$role" markdown > /dev/null; done

# Neither needs the other nor any image, and each keeps about one core busy: on CI's two cores,
# side by side, both take about as long as the unit tests alone (docs/results.md). Each one's
# output is printed whole when it ends (--output-sync).
checks: setup ## Lint and unit tests side by side (no images needed)
	$(MAKE) --no-print-directory -j2 --output-sync=target lint unit SETUP_DONE=1

lint: setup ## yamllint, ansible-lint, ruff, role READMEs against their specs (no images needed)
	yamllint -s .
	ansible-lint --profile production
	ruff check .
	ruff format --check .
	# Each role README's variables must be what its spec generates.
	drift=$$(mktemp -d) && cp -r roles galaxy.yml "$$drift/" \
	  && for role in "$$drift"/roles/*/; do $(AAR_DOC) "$$role" markdown > /dev/null; done \
	  && { diff -ru roles "$$drift/roles" || { echo "lint: a role README drifted from its meta/argument_specs.yml: run make role-docs" >&2; rm -rf "$$drift"; exit 1; }; } \
	  && rm -rf "$$drift"

unit: setup ## Unit tests of the app, the plugins, the bench and the load generator; the collection's build (no images needed)
	pytest -q tests/app tests/plugins tests/roles tests/bench tests/loadgen tests/ci tests/collection tests/playbooks

harness-test: images ## Tests of the harness: images, sandbox, bad input, VM (two modules at a time, each its own server)
	pytest -q --durations=15 -n 2 --dist loadfile tests/harness

molecule: images ## The Molecule scenarios in SCENARIOS, side by side on their own subnets (logs printed at the end)
	harness/molecule-side-by-side.sh $(SCENARIOS)
