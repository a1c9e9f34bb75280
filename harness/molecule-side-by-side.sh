#!/usr/bin/env bash
# Runs the Molecule scenarios named as arguments side by side, each on a /24 of its own
# (FD_SCENARIO_NET: 172.28.198, .199, ...; .config/molecule/config.yml) and into a log of its
# own, then prints each log and an account of each (harness/ci_digest.py: steps, failures, the
# slowest tests) and fails when any scenario failed. The scenarios wait on Ansible,
# on their servers and on the tests' load windows far more than they use the CPU.
set -euo pipefail

scenarios=("$@")
logs=.cache/molecule-logs
mkdir -p "$logs"
pids=()
net=198
for scenario in "${scenarios[@]}"; do
  echo "molecule: $scenario on 172.28.$net.0/24, log in $logs/$scenario.log"
  rm -f "$logs/$scenario-junit.xml"
  FD_SCENARIO_NET="172.28.$net" molecule test -s "$scenario" > "$logs/$scenario.log" 2>&1 &
  pids+=("$!")
  net=$((net + 1))
  # The first steps (the collections' dependency check, creating the containers) one at a time.
  if [ "$scenario" != "${scenarios[-1]}" ]; then sleep 30; fi
done

failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${scenarios[$i]}")
done
for scenario in "${scenarios[@]}"; do
  echo "=================== molecule test -s $scenario ==================="
  cat "$logs/$scenario.log"
done
python -m harness.ci_digest "${scenarios[@]}" || true
if [ "${#failed[@]}" -gt 0 ]; then
  echo "molecule: failed: ${failed[*]}" >&2
  exit 1
fi
echo "molecule: passed: ${scenarios[*]}"
