#!/usr/bin/env bash
# ansible-loopback.sh: the fleet playbook end to end on this machine, over SSH on loopback only.
#
#   deploy/tests/ansible-loopback.sh [--bin TERNBENCH] [--scenario FILE] [--keep]
#
# Three inventory hosts on one throwaway sshd (deploy/tests/loopback-sshd.sh): alpha on
# 127.0.0.1 and beta on 127.0.0.2, in two labelled groups with prices, and gamma on 127.0.0.3,
# where nothing listens at first. Run 1 (all hosts at once): alpha completes, beta's ternbench
# is killed (SIGKILL) once it has saved 3 repetitions, gamma is unreachable; the playbook must
# exit non-zero, leave alpha's report and beta's partial results, and mark beta unfinished and
# gamma unreachable. Then sshd also listens on 127.0.0.3 and run 2 (the same command, one host
# at a time) must resume beta from its saved repetitions (`run --resume`, same run folder),
# run gamma, not touch alpha, and merge all three into one report with a CPU comparison.
# Everything lives in a temporary folder, removed at the end (--keep keeps it); sshd is
# stopped. Needs ansible-playbook (scripts/install-fleet-deps.sh) and sshd.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin="" scenario="$repo/deploy/tests/short.toml" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --scenario) scenario="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "ansible-loopback.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=${bin:-$repo/target/fleet/$(uname -m)-unknown-linux-gnu/ternbench}
[ -x "$bin" ] || { echo "ansible-loopback.sh: no ternbench binary at $bin (deploy/build-static.sh, or --bin)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
playbook=$(command -v ansible-playbook || true)
[ -n "$playbook" ] || playbook="$repo/.fleet-venv/bin/ansible-playbook"
[ -x "$playbook" ] || { echo "ansible-loopback.sh: no ansible-playbook; run scripts/install-fleet-deps.sh" >&2; exit 2; }

t=$(mktemp -d /tmp/ternbench-fleet-test.XXXXXX)
watcher=""
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null || true
  "$repo/deploy/tests/loopback-sshd.sh" stop "$t/sshd" || true
  if [ "$keep" -eq 1 ]; then echo "kept $t"; else rm -rf "$t"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$t"/run*.log; do [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 40 "$f" >&2; }; done; exit 1; }
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }

port=$("$repo/deploy/tests/loopback-sshd.sh" start "$t/sshd" 127.0.0.1,127.0.0.2)
user=$(id -un)
cat >"$t/inventory.yml" <<INV
all:
  vars:
    ansible_port: $port
    ansible_user: $user
    ansible_ssh_private_key_file: $t/sshd/id_ed25519
    ansible_ssh_common_args: -o UserKnownHostsFile=$t/sshd/known_hosts -o BatchMode=yes -o ConnectTimeout=5
    ternbench_remote_root: $t/remote
    ansible_python_interpreter: $(command -v /usr/bin/python3 || command -v python3)
  children:
    ternbench:
      children:
        lab_a:
          vars: { ternbench_label: "loopback A", ternbench_price_per_hour: 0.10 }
          hosts:
            alpha: { ansible_host: 127.0.0.1 }
        lab_b:
          vars: { ternbench_label: "loopback B", ternbench_price_per_hour: 0.20 }
          hosts:
            beta: { ansible_host: 127.0.0.2 }
            gamma: { ansible_host: 127.0.0.3, ternbench_label: "loopback C", ternbench_price_per_hour: 0.40 }
INV
fleet="$t/fleet"
cat >"$t/vars.yml" <<VARS
ternbench_scenario: $scenario
ternbench_fleet: short
ternbench_fleet_dir: $fleet
ternbench_build: false
ternbench_poll_s: 1
ternbench_binaries: { $(uname -m): $bin }
VARS
play() { (cd "$repo/deploy/ansible" && timeout 600 "$playbook" -i "$t/inventory.yml" fleet.yml -e "@$t/vars.yml" "$@"); }
status_of() { awk -F '\t' -v h="$1" '$1 == h { print $4 }' "$fleet/status.tsv"; }
note_of() { awk -F '\t' -v h="$1" '$1 == h { print $6 }' "$fleet/status.tsv"; }

# Kill beta's ternbench once it has saved 3 repetitions (a crash mid-run).
(
  for _ in $(seq 1200); do
    n=$(cat "$t"/remote/short/beta/results/*/cells.jsonl 2>/dev/null | grep -c '"record":"sample"' || true)
    pidf="$t/remote/short/beta/results/.ternbench.pid"
    if [ "${n:-0}" -ge 3 ] && [ -s "$pidf" ]; then
      kill -9 "$(cat "$pidf")" && echo "killed beta's ternbench after $n saved repetitions" >"$t/killed"
      exit 0
    fi
    sleep 0.2
  done
) &
watcher=$!

echo "== run 1: all hosts at once; beta killed mid-run; gamma unreachable"
set +e; play -e ternbench_serial=100% >"$t/run1.log" 2>&1; rc1=$?; set -e
kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; watcher=""
t1=$(elapsed)
[ -f "$t/killed" ] || fail "the watcher never killed beta's run (it finished first?)"
cat "$t/killed"
[ "$rc1" -ne 0 ] || fail "run 1 exited 0 although beta and gamma did not finish"
[ -f "$fleet/status.tsv" ] || fail "run 1 left no status.tsv"
cat "$fleet/status.md"
[ "$(status_of alpha)" = complete ] || fail "alpha is not complete after run 1: $(status_of alpha)"
case "$(status_of beta)" in unfinished*) ;; *) fail "beta should be unfinished after run 1: $(status_of beta)" ;; esac
case "$(note_of gamma)" in unreachable*) ;; *) fail "gamma should be noted unreachable: $(note_of gamma)" ;; esac
[ -s "$fleet/report/index.html" ] || fail "run 1 left no report of alpha's run"
beta_run1=$(ls -d "$fleet"/hosts/beta/*/ | head -1)
saved=$(grep -c '"record":"sample"' "$beta_run1/cells.jsonl")
[ "$saved" -ge 3 ] || fail "beta's partial results were not fetched ($saved repetitions)"
alpha_stamp=$(stat -c %Y "$t"/remote/short/alpha/results/*/run.json)
echo "run 1: exit $rc1 after ${t1}s; beta's partial run ($saved repetitions) fetched"

echo "== run 2: the same command, one host at a time; gamma reachable now"
"$repo/deploy/tests/loopback-sshd.sh" start "$t/sshd" 127.0.0.1,127.0.0.2,127.0.0.3 >/dev/null
set +e; play -e ternbench_serial=1 >"$t/run2.log" 2>&1; rc2=$?; set -e
t2=$(( $(elapsed) - t1 ))
cat "$fleet/status.md"
[ "$rc2" -eq 0 ] || fail "run 2 exited $rc2"
for h in alpha beta gamma; do [ "$(status_of "$h")" = complete ] || fail "$h is not complete after run 2"; done
beta_run2=$(ls -d "$fleet"/hosts/beta/*/ | head -1)
[ "$(basename "$beta_run1")" = "$(basename "$beta_run2")" ] || fail "beta started a new run instead of resuming"
grep -q '"resumed": 1' "$beta_run2/run.json" || fail "beta's run.json does not say it was resumed once"
grep -q -- '--resume' "$t"/remote/short/beta/results/ternbench.log || fail "beta was not run with --resume"
[ "$(stat -c %Y "$t"/remote/short/alpha/results/*/run.json)" = "$alpha_stamp" ] || fail "alpha was run again"
if awk '/TASK \[ternbench : Reach the host\]/ { getline; print }' "$t/run2.log" | grep -q '\[alpha\]'; then
  fail "run 2 contacted alpha, whose run was already complete on the controller"
fi
rows=$(tail -n +2 "$fleet/report/cpus.csv" | wc -l)
[ "$rows" -ge 6 ] || fail "the merged report's cpus.csv has $rows rows, expected 3 machines x 2 engines"
for p in 0.1 0.2 0.4; do grep -q ",$p," "$fleet/report/cpus.csv" || fail "price $p missing from cpus.csv"; done
echo "run 2: exit 0 after ${t2}s; merged report: $(grep -c . "$fleet/report/cpus.csv") lines in cpus.csv"
echo "ansible loopback: 2 passed, 0 failed (run 1 ${t1}s, run 2 ${t2}s)"
