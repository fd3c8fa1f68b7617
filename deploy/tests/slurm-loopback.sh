#!/usr/bin/env bash
# slurm-loopback.sh: deploy/slurm end to end on a throwaway one-node Slurm cluster on this
# machine (deploy/tests/slurm-cluster.sh: slurmctld + slurmd + munged from Debian's packages).
#
#   deploy/tests/slurm-loopback.sh [--bin TERNBENCH] [--keep]
#
# Two targets on the one node, `node-a` (node=<this host>) and `node-b` (partition=fleet),
# with prices. 1: `submit.sh --test-only` says both can be scheduled. 2: submit.sh runs the
# two-task array; node-b's task is cancelled (scancel) once it has saved 3 repetitions; the
# report job (afterany) must still merge node-a and mark node-b unfinished. 3: the same
# command again submits node-b only, which resumes its run folder and completes; the report
# then merges both. Bounded (each wait at most 300 s); the cluster is stopped and its folder
# removed at the end (--keep keeps the folders).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "slurm-loopback.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=${bin:-$repo/target/fleet/$(uname -m)-unknown-linux-gnu/ternbench}
[ -x "$bin" ] || { echo "slurm-loopback.sh: no ternbench binary at $bin (deploy/build-static.sh, or --bin)" >&2; exit 2; }
export PATH="$PATH:/usr/sbin"

t=$(mktemp -d /tmp/ternbench-slurm-test.XXXXXX)
cleanup() {
  "$repo/deploy/tests/slurm-cluster.sh" stop "$t/cluster" || true
  if [ "$keep" -eq 1 ]; then echo "kept $t"; else rm -rf "$t"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$t"/fleet/slurm/*.out "$t"/fleet/status.md; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
t0=$(date +%s)
SLURM_CONF=$("$repo/deploy/tests/slurm-cluster.sh" start "$t/cluster")
export SLURM_CONF
echo "cluster up in $(( $(date +%s) - t0 ))s: $(sinfo -h -o '%P %D node(s) %t')"

node=$(hostname -s)
printf '# label  where  usd_per_hour\nnode-a  node=%s  0.10\nnode-b  partition=fleet  0.25\n' "$node" >"$t/targets"
fleet="$t/fleet"
submit() { "$repo/deploy/slurm/submit.sh" --targets "$t/targets" --scenario "$repo/deploy/tests/short.toml" \
  --fleet-dir "$fleet" --bin "$bin" --time 00:20:00 "$@"; }
wait_idle() {
  for _ in $(seq 300); do [ -z "$(squeue -h 2>/dev/null)" ] && return 0; sleep 1; done
  squeue >&2; fail "jobs still queued or running after 300 s"
}
status_of() { awk -F '\t' -v h="$1" '$1 == h { print $4 }' "$fleet/status.tsv"; }

echo "== 1: sbatch --test-only for each target"
submit --test-only || fail "sbatch --test-only refused a target"

echo "== 2: the array; node-b cancelled mid-run"
t1=$(date +%s)
submit | tee "$t/submit1.log"
job=$(tail -n 1 "$fleet/slurm/jobs")
for _ in $(seq 600); do
  n=$(cat "$fleet"/hosts/node-b/*/cells.jsonl 2>/dev/null | grep -c '"record":"sample"' || true)
  [ "${n:-0}" -ge 3 ] && break
  sleep 0.5
done
[ "${n:-0}" -ge 3 ] || fail "node-b never saved 3 repetitions"
scancel "${job}_1"
echo "cancelled ${job}_1 after $n saved repetitions"
wait_idle
cat "$fleet/status.md"
[ "$(status_of node-a)" = complete ] || fail "node-a is not complete"
case "$(status_of node-b)" in unfinished*) ;; *) fail "node-b should be unfinished: $(status_of node-b)" ;; esac
[ -s "$fleet/report/index.html" ] || fail "the report job left no report of node-a"
run_b=$(ls -d "$fleet"/hosts/node-b/*/ | head -1)
echo "step 2: $(( $(date +%s) - t1 ))s"

echo "== 3: the same command again: node-b only, resumed"
t2=$(date +%s)
submit | tee "$t/submit2.log"
grep -q 'targets 1 (1 of 2' "$t/submit2.log" || fail "the rerun did not submit node-b alone"
wait_idle
cat "$fleet/status.md"
for h in node-a node-b; do [ "$(status_of "$h")" = complete ] || fail "$h is not complete after the rerun"; done
[ "$(ls -d "$fleet"/hosts/node-b/*/ | head -1)" = "$run_b" ] || fail "node-b started a new run instead of resuming"
grep -q '"resumed": 1' "$run_b/run.json" || fail "node-b's run.json does not say it was resumed"
rows=$(tail -n +2 "$fleet/report/cpus.csv" | wc -l)
[ "$rows" -ge 4 ] || fail "cpus.csv has $rows rows, expected 2 machines x 2 engines"
grep -q ',0.25,' "$fleet/report/cpus.csv" || fail "node-b's price is missing from cpus.csv"
echo "step 3: $(( $(date +%s) - t2 ))s"
echo "slurm loopback: 3 passed, 0 failed ($(( $(date +%s) - t0 ))s in all)"
