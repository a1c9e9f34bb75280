# The two commands of the README: `make demo` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SCENARIOS ?= default traefik

.PHONY: demo test setup images sandbox sandbox-down lint unit harness-test molecule

demo: images sandbox ## Fresh machine -> local sandbox server serving the demo app over HTTPS

test: images lint unit harness-test molecule ## Lint, unit tests, harness tests and Molecule scenarios

setup: ## Host packages, Docker engine, Python tools and collections
	harness/host-packages.sh
	harness/setup.sh

images: setup ## Build the local images (each only when its inputs changed)
	python harness/images.py

sandbox: ## Bring the sandbox up and provision it with site.yml
	python harness/sandbox.py up

sandbox-down: ## Remove the sandbox
	python harness/sandbox.py down

lint: setup
	yamllint -s .
	ansible-lint --profile production
	ruff check .
	ruff format --check .

unit: setup
	pytest -q tests/app tests/roles

harness-test: images
	pytest -q tests/harness

molecule: images
	for scenario in $(SCENARIOS); do molecule test -s "$$scenario"; done
