#!/bin/sh
# fleet-report.sh: the controller's side of a fleet run. Reads a fleet folder, says which hosts
# finished, and merges the finished runs into one report (a CPU comparison). Used by
# deploy/ansible (its last play) and deploy/slurm (the report job); runnable by hand.
#
#   fleet-report.sh --fleet DIR [--bin TERNBENCH] [--expect HOST[,HOST...]] [--status-only]
#
# DIR/hosts/<host>/ holds, per host: its run folder <run-id>/ (as `ternbench run` wrote it,
# fetched back), host.env (label=..., price_usd_per_hour=..., groups=...) and, after an
# attempt, attempt.env (note=..., utc=...). A host listed in --expect without a folder counts
# as not reached.
#
# Writes DIR/status.tsv and DIR/status.md (host, label, $/h, state, run, note), then, unless
# --status-only, `ternbench report DIR/hosts` (every complete run, grouped by the label and
# priced by the price its run.json recorded) into DIR/report/ (index.html, summary.md,
# cpus.csv ...). Exit status: 0 every host complete,
# 1 some host unfinished (the report covers the others; rerun the fleet to resume), 2 bad
# usage or nothing to report.
set -u

fleet="" bin="" expect="" status_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fleet) fleet="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --expect) expect="$2"; shift 2 ;;
    --status-only) status_only=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fleet-report.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$fleet" ] || { echo "fleet-report.sh: --fleet DIR is required (see --help)" >&2; exit 2; }
[ -d "$fleet" ] || { echo "fleet-report.sh: $fleet: no such fleet folder" >&2; exit 2; }
if [ "$status_only" -eq 0 ] && [ ! -x "$bin" ]; then
  echo "fleet-report.sh: --bin ${bin:-(none)}: not an executable ternbench (build one with deploy/build-static.sh)" >&2
  exit 2
fi

# value KEY FILE: the value of KEY=... in a key=value file (last one wins), empty if none.
value() { sed -n "s/^$1=//p" "$2" 2>/dev/null | tail -n 1; }
run_status() { sed -n 's/^  "status": "\([a-z]*\)".*/\1/p' "$1/run.json" 2>/dev/null | head -n 1; }
# The tab-free, one-line form of a note for the tables.
oneline() { tr '\t\n' '  ' | sed 's/  */ /g; s/ $//'; }

# Hosts: every folder under hosts/, then the expected ones not there yet.
hosts=$(
  { for d in "$fleet"/hosts/*/; do [ -d "$d" ] && basename "$d"; done
    printf '%s\n' "$expect" | tr ',' '\n'; } | sed '/^$/d' | awk '!seen[$0]++'
)
[ -n "$hosts" ] || { echo "fleet-report.sh: $fleet/hosts/ holds no host and none is expected" >&2; exit 2; }

tsv="$fleet/status.tsv.tmp"
printf 'host\tlabel\tusd_per_hour\tstate\trun\tnote\n' >"$tsv"
unfinished=0 n_complete=0 n=0
for h in $hosts; do
  n=$((n + 1))
  hd="$fleet/hosts/$h"
  label=$(value label "$hd/host.env"); label=${label:-$h}
  price=$(value price_usd_per_hour "$hd/host.env")
  note=$(value note "$hd/attempt.env" | oneline)
  run="" state="not reached"
  for d in "$hd"/*/; do
    [ -f "$d/scenario.toml" ] || continue
    run=${d%/}
  done
  if [ -n "$run" ]; then
    st=$(run_status "$run")
    case "$st" in
      complete) state=complete ;;
      "") state="unfinished (no run.json yet)" ;;
      *) state="unfinished ($st)" ;;
    esac
  elif [ -d "$hd" ] && [ -z "$note" ]; then
    note="no results fetched yet"
  fi
  if [ "$state" = complete ]; then
    n_complete=$((n_complete + 1))
    note=""
  else
    unfinished=$((unfinished + 1))
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$h" "$label" "${price:--}" "$state" "${run:+$(basename "$run")}" "$note" >>"$tsv"
done
mv "$tsv" "$fleet/status.tsv"

{
  echo "# Fleet $(basename "$fleet"): $n_complete of $n hosts complete"
  echo
  echo "| host | label | \$/hour | state | run | note |"
  echo "|---|---|---|---|---|---|"
  tail -n +2 "$fleet/status.tsv" | awk -F '\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, ($5 == "" ? "-" : $5), $6 }'
  echo
  if [ "$unfinished" -gt 0 ]; then
    echo "Rerun the same command to resume the unfinished hosts (\`ternbench run --resume\` keeps every repetition already measured); complete hosts are not run again."
  fi
} >"$fleet/status.md"
cat "$fleet/status.md"

[ "$status_only" -eq 1 ] && { [ "$unfinished" -eq 0 ] && exit 0 || exit 1; }

if [ "$n_complete" -eq 0 ]; then
  echo "fleet-report.sh: no host has a complete run yet: nothing to report" >&2
  exit 2
fi
rm -rf "$fleet/report.tmp"
# Every complete run under hosts/, each with the label and price its run.json recorded
# (`ternbench run --label --price-per-hour`); unfinished ones are left out with a note.
if ! "$bin" report "$fleet/hosts" --out "$fleet/report.tmp" >"$fleet/report.log" 2>&1; then
  echo "fleet-report.sh: ternbench report failed (see $fleet/report.log):" >&2
  tail -n 20 "$fleet/report.log" >&2
  exit 2
fi
rm -rf "$fleet/report"
mv "$fleet/report.tmp" "$fleet/report"
echo
echo "report of $n_complete run(s): $fleet/report/index.html"
[ "$unfinished" -eq 0 ] || exit 1
exit 0
