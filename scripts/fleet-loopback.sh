#!/usr/bin/env bash
# fleet-loopback.sh: the fleet path end to end on this one machine, from a clean clone, in one
# command: installs ansible-core and sshd (scripts/install-fleet-deps.sh), builds the static
# binary (deploy/build-static.sh), starts a throwaway sshd on 127.0.0.1 and 127.0.0.2 with a
# throwaway key, and runs deploy/ansible/fleet.yml over two inventory hosts there (loopback-a,
# loopback-b: two labelled groups with example prices), one at a time. It leaves the merged
# report in results/fleets/<fleet>/report/index.html (fleet: loopback-<scenario>) and the
# hosts' folders in target/fleet-loopback/; sshd and its keys are removed at the end.
#
#   scripts/fleet-loopback.sh [--scenario NAME|FILE] [--fleet NAME] [--parallel]
#
# Default scenario: quick (about 2 minutes per host on 2 cores). Both "hosts" are this
# machine: their figures compare the machine with itself, which is the point of a check.
# --parallel runs both at once: on one machine they then share the cores and memory
# bandwidth, and each measures the other's load (docs/fleet.md). Rerunning the same command
# resumes a host that did not finish and skips the finished one. After a new commit the
# rebuilt binary differs from the one the fleet started with and the playbook refuses to mix
# them: give a new --fleet NAME (or remove results/fleets/<fleet>).
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."
repo=$(pwd)
scenario=quick fleet="" serial=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario="$2"; shift 2 ;;
    --fleet) fleet="$2"; shift 2 ;;
    --parallel) serial=100%; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fleet-loopback.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
fleet=${fleet:-loopback-$(basename "$scenario" .toml)}
case "$scenario" in
  /*) ;;
  */*|*.toml) scenario=$(cd "$here" && realpath "$scenario") ;;   # a path: from where the command was typed
esac
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

stamp "installing what the controller needs (scripts/install-fleet-deps.sh)"
scripts/install-fleet-deps.sh
stamp "building the static binary (deploy/build-static.sh)"
bin=$(nice -n 10 deploy/build-static.sh | tail -n 1)
bin="$repo/$bin"

keys=$(mktemp -d /tmp/ternbench-loopback-sshd.XXXXXX)
cleanup() { deploy/tests/loopback-sshd.sh stop "$keys" || true; rm -rf "$keys"; }
trap cleanup EXIT
port=$(deploy/tests/loopback-sshd.sh start "$keys" 127.0.0.1,127.0.0.2)
stamp "throwaway sshd on 127.0.0.1 and 127.0.0.2, port $port"
py=$(command -v /usr/bin/python3 || command -v python3)
cat >"$keys/inventory.yml" <<INV
# Two "machines" that are both this one, over SSH on loopback. A real inventory:
# deploy/ansible/inventory.example.yml.
all:
  vars:
    ansible_port: $port
    ansible_user: $(id -un)
    ansible_ssh_private_key_file: $keys/id_ed25519
    ansible_ssh_common_args: -o UserKnownHostsFile=$keys/known_hosts -o BatchMode=yes
    ansible_python_interpreter: $py
    ternbench_remote_root: $repo/target/fleet-loopback
  children:
    ternbench:
      children:
        loopback_a:
          vars: { ternbench_label: "loopback A (this machine)", ternbench_price_per_hour: 0.085 }
          hosts:
            loopback-a: { ansible_host: 127.0.0.1 }
        loopback_b:
          vars: { ternbench_label: "loopback B (this machine)", ternbench_price_per_hour: 0.17 }
          hosts:
            loopback-b: { ansible_host: 127.0.0.2 }
INV
stamp "ansible-playbook fleet.yml: scenario $scenario, fleet $fleet, serial $serial"
set +e
(cd deploy/ansible && "$repo/.fleet-venv/bin/ansible-playbook" -i "$keys/inventory.yml" fleet.yml \
  -e ternbench_scenario="$scenario" -e ternbench_fleet="$fleet" -e ternbench_serial="$serial" \
  -e "{\"ternbench_binaries\": {\"$(uname -m)\": \"$bin\"}}" -e ternbench_build=false)
rc=$?
set -e
stamp "done (ansible-playbook exit status $rc)"
echo "fleet folder: results/fleets/$fleet/ (status.md, hosts/, report/)"
[ -f "results/fleets/$fleet/report/index.html" ] && echo "merged report: results/fleets/$fleet/report/index.html"
exit "$rc"
