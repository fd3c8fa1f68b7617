#!/usr/bin/env bash
# submit.sh: run one ternbench scenario once per listed node or partition of a Slurm cluster,
# as one job array, and merge the results into one report when every task has ended.
#
#   deploy/slurm/submit.sh --targets FILE [--scenario NAME|FILE] [--fleet NAME]
#       [--fleet-dir DIR] [--bin TERNBENCH] [--time HH:MM:SS] [--run-args "ARGS"]
#       [--no-report] [--test-only] [-- SBATCH_ARGS...]
#
# FILE lists the targets, one a line (# comments): a label, where it runs, its price:
#   genoa-64c     partition=genoa    1.20     # any node of partition genoa
#   icx-node07    node=icx07         -        # that node (- : price unknown)
# The fleet folder (default results/fleets/<fleet>, <fleet> defaulting to the scenario's name)
# must be on a filesystem the nodes share: each task writes FLEET/hosts/<label>/<run-id>/
# there. The array is submitted held, each task is pointed at its node or partition
# (scontrol update <job>_<i> ReqNodeList=... / Partition=...), then released; a report job
# (--dependency=afterany) runs deploy/fleet-report.sh, which writes FLEET/status.md and
# FLEET/report/ over the tasks that finished. Rerunning the same command submits only the
# unfinished targets, which resume (`ternbench run --resume`). SBATCH_ARGS (--account,
# --qos, --constraint ...) go to every array task.
#
# --test-only: ask sbatch whether each target could be scheduled (`sbatch --test-only`),
# submit nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

targets="" scenario=quick fleet="" fleet_dir="" bin="" time_limit="04:00:00" run_args=""
report=1 test_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --scenario) scenario="$2"; shift 2 ;;
    --fleet) fleet="$2"; shift 2 ;;
    --fleet-dir) fleet_dir="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --run-args) run_args="$2"; shift 2 ;;
    --no-report) report=0; shift ;;
    --test-only) test_only=1; shift ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "submit.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
die() { echo "submit.sh: $*" >&2; exit 2; }
[ -n "$targets" ] || die "--targets FILE is required (see --help)"
[ -r "$targets" ] || die "$targets: no readable targets file"
command -v sbatch >/dev/null || die "no sbatch here: run this on a Slurm login node"

case "$scenario" in
  */*|*.toml) scen_file=$scenario ;;
  *) scen_file="$repo/scenarios/$scenario.toml" ;;
esac
[ -r "$scen_file" ] || die "--scenario $scenario: no file $scen_file (a name under scenarios/ or a path)"
fleet=${fleet:-$(basename "$scen_file" .toml)}
fleet_dir=${fleet_dir:-$repo/results/fleets/$fleet}
bin=${bin:-$repo/target/fleet/$(uname -m)-unknown-linux-gnu/ternbench}
if [ ! -x "$bin" ]; then
  "$repo/deploy/build-static.sh" --out "$bin" >/dev/null || die "building $bin failed"
fi

# Read and check the targets: label (unique, a folder name), where, price.
labels=() wheres=() prices=()
n=0
while read -r label where price rest; do
  case "$label" in ''|'#'*) continue ;; esac
  n=$((n + 1))
  [[ "$label" =~ ^[A-Za-z0-9._-]+$ ]] || die "$targets: target $n: label '$label' may hold only letters, digits, . _ -"
  case "$where" in
    node=?*|partition=?*|any) ;;
    *) die "$targets: target $label: where '$where' must be node=NAME, partition=NAME or any" ;;
  esac
  price=${price:--}
  [ "$price" = - ] || [[ "$price" =~ ^[0-9]*\.?[0-9]+$ ]] || die "$targets: target $label: price '$price' is not a number of USD per hour (or -)"
  for l in "${labels[@]}"; do [ "$l" = "$label" ] && die "$targets: label $label appears twice"; done
  labels+=("$label"); wheres+=("$where"); prices+=("$price")
done <"$targets"
[ "$n" -gt 0 ] || die "$targets lists no target"

where_args() {
  case "$1" in
    node=*) echo "--nodelist=${1#node=}" ;;
    partition=*) echo "--partition=${1#partition=}" ;;
    any) ;;
  esac
}

if [ "$test_only" -eq 1 ]; then
  bad=0
  for i in "${!labels[@]}"; do
    # shellcheck disable=SC2046
    if out=$(sbatch --test-only --exclusive --nodes=1 --time="$time_limit" $(where_args "${wheres[$i]}") "$@" \
        "$repo/deploy/slurm/ternbench-array.sbatch" "$fleet_dir" 2>&1); then
      echo "ok   ${labels[$i]} (${wheres[$i]}): $out"
    else
      echo "FAIL ${labels[$i]} (${wheres[$i]}): $out"; bad=1
    fi
  done
  exit "$bad"
fi

# The fleet folder: the same scenario and binary for every task, across reruns.
mkdir -p "$fleet_dir/hosts" "$fleet_dir/bin" "$fleet_dir/slurm"
manifest="scenario=$(basename "$scen_file")
scenario_sha256=$(sha256sum <"$scen_file" | cut -d' ' -f1)
binary_$(uname -m)_sha256=$(sha256sum <"$bin" | cut -d' ' -f1)
run_args=$run_args"
if [ -f "$fleet_dir/fleet.env" ] && [ "$(cat "$fleet_dir/fleet.env")" != "$manifest" ]; then
  die "$fleet_dir was started with another scenario, binary or run arguments:
$(cat "$fleet_dir/fleet.env")
now:
$manifest
Start a new fleet (--fleet NAME) so the figures stay comparable."
fi
printf '%s\n' "$manifest" >"$fleet_dir/fleet.env"
cp "$scen_file" "$fleet_dir/scenario.toml"
cp "$bin" "$fleet_dir/bin/ternbench.tmp" && mv "$fleet_dir/bin/ternbench.tmp" "$fleet_dir/bin/ternbench"
cp "$repo/deploy/fleet-run.sh" "$repo/deploy/fleet-report.sh" "$fleet_dir/bin/"
for i in "${!labels[@]}"; do
  printf '%s\t%s\t%s\n' "${labels[$i]}" "${wheres[$i]}" "${prices[$i]}"
done >"$fleet_dir/targets.tsv"
for i in "${!labels[@]}"; do
  mkdir -p "$fleet_dir/hosts/${labels[$i]}"
  p=${prices[$i]}; [ "$p" = - ] && p=""
  printf 'label=%s\nprice_usd_per_hour=%s\ngroups=%s\n' "${labels[$i]}" "$p" "${wheres[$i]}" \
    >"$fleet_dir/hosts/${labels[$i]}/host.env"
done

# Which targets still need a run.
expect=$(IFS=,; echo "${labels[*]}")
"$fleet_dir/bin/fleet-report.sh" --fleet "$fleet_dir" --expect "$expect" --status-only >/dev/null || true
todo=()
for i in "${!labels[@]}"; do
  st=$(awk -F '\t' -v h="${labels[$i]}" '$1 == h { print $4 }' "$fleet_dir/status.tsv")
  [ "$st" = complete ] || todo+=("$i")
done
if [ "${#todo[@]}" -eq 0 ]; then
  echo "every target of $fleet_dir is complete; nothing to submit"
else
  array=$(IFS=,; echo "${todo[*]}")
  job=$(TERNBENCH_RUN_ARGS="$run_args" sbatch --parsable --hold --export=ALL,TERNBENCH_RUN_ARGS \
    --array="$array" --job-name="ternbench-$fleet" --time="$time_limit" \
    --output="$fleet_dir/slurm/%A_%a.out" "$@" \
    "$repo/deploy/slurm/ternbench-array.sbatch" "$fleet_dir")
  job=${job%%;*}
  for i in "${todo[@]}"; do
    case "${wheres[$i]}" in
      node=*) scontrol update JobId="${job}_$i" ReqNodeList="${wheres[$i]#node=}" ;;
      partition=*) scontrol update JobId="${job}_$i" Partition="${wheres[$i]#partition=}" ;;
    esac
  done
  scontrol release "$job"
  echo "submitted array job $job: targets $array (${#todo[@]} of ${#labels[@]}; the others are complete)"
  echo "$job" >>"$fleet_dir/slurm/jobs"
fi

if [ "$report" -eq 1 ]; then
  dep=()
  [ "${#todo[@]}" -gt 0 ] && dep=(--dependency="afterany:$job")
  rjob=$(sbatch --parsable "${dep[@]}" --job-name="ternbench-$fleet-report" --nodes=1 --ntasks=1 \
    --time=00:30:00 --output="$fleet_dir/slurm/report-%j.out" "$@" \
    --wrap="'$fleet_dir/bin/fleet-report.sh' --fleet '$fleet_dir' --bin '$fleet_dir/bin/ternbench' --expect '$expect'")
  rjob=${rjob%%;*}
  echo "report job $rjob (after the array): $fleet_dir/status.md and $fleet_dir/report/index.html"
fi
echo "follow with: squeue -u $(id -un); the fleet folder: $fleet_dir"
