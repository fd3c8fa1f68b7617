#!/bin/sh
# fleet-run.sh: run one scenario once on this machine, in one folder, to completion across
# retries. The per-host step of a fleet run: deploy/ansible copies it to every host, the Slurm
# array task (deploy/slurm) calls it on its node. POSIX sh; needs only flock (util-linux).
#
#   fleet-run.sh --bin TERNBENCH --scenario FILE --out DIR [--log FILE] [-- RUN_ARGS...]
#
# DIR holds at most one run folder (DIR/<run-id>/, written by `ternbench run --out DIR`):
#   none yet                -> ternbench run FILE --out DIR RUN_ARGS
#   one, not complete       -> ternbench run --resume DIR/<run-id> RUN_ARGS
#                              (killed, interrupted, the machine rebooted: measured
#                              repetitions are kept, the rest are run)
#   one, status complete    -> nothing to do
# RUN_ARGS go to `ternbench run` both times (--energy, --tdp, --label, --price-per-hour ...).
# A lock (DIR/.lock) keeps two of these from running in one folder at once; ternbench's pid is
# in DIR/.ternbench.pid while it runs. Output of ternbench is appended to the log (default
# DIR/ternbench.log).
#
# Last line of stdout: `complete DIR/<run-id>`. Exit status: 0 complete, 1 ternbench failed or
# left the run unfinished (rerun to resume), 2 bad usage, 3 another run holds the lock.
set -u

bin="" scenario="" out="" log=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --scenario) scenario="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fleet-run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$bin" ] && [ -n "$scenario" ] && [ -n "$out" ] || {
  echo "fleet-run.sh: --bin, --scenario and --out are required (see --help)" >&2; exit 2; }
[ -x "$bin" ] || { echo "fleet-run.sh: $bin: not an executable ternbench binary" >&2; exit 2; }
[ -r "$scenario" ] || { echo "fleet-run.sh: $scenario: no readable scenario file" >&2; exit 2; }
command -v flock >/dev/null 2>&1 || {
  echo "fleet-run.sh: flock (util-linux) is not installed on $(hostname)" >&2; exit 2; }
mkdir -p "$out" || exit 2
log=${log:-$out/ternbench.log}

# Top-level "status" of a run.json (pretty-printed by ternbench: top-level keys indented by
# two spaces); empty when there is no run.json yet (killed before its first write).
run_status() {
  sed -n 's/^  "status": "\([a-z]*\)".*/\1/p' "$1/run.json" 2>/dev/null | head -n 1
}

# The run folders in $out (directories holding a scenario.toml).
run_dirs() {
  for d in "$out"/*/; do
    [ -f "$d/scenario.toml" ] && printf '%s\n' "${d%/}"
  done
}

exec 9>"$out/.lock"
if ! flock -n 9; then
  pid=$(cat "$out/.ternbench.pid" 2>/dev/null || echo "?")
  echo "fleet-run.sh: another run is in progress in $out (ternbench pid $pid on $(hostname)); wait for it or stop it, then rerun" >&2
  exit 3
fi

n=$(run_dirs | wc -l)
if [ "$n" -gt 1 ]; then
  echo "fleet-run.sh: $out holds $n run folders; it must hold one (move the extra ones away):" >&2
  run_dirs >&2
  exit 2
fi
dir=$(run_dirs)
if [ -n "$dir" ]; then
  st=$(run_status "$dir")
  if [ "$st" = complete ]; then
    echo "already complete: $dir"
    echo "complete $dir"
    exit 0
  fi
  echo "resuming $dir (status: ${st:-no run.json yet})"
  set -- run --resume "$dir" --quiet "$@"
else
  echo "starting $scenario in $out"
  set -- run "$scenario" --out "$out" --quiet "$@"
fi

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname): $bin $*" >>"$log"
"$bin" "$@" >>"$log" 2>&1 &
pid=$!
echo "$pid" >"$out/.ternbench.pid"
wait "$pid"
rc=$?
rm -f "$out/.ternbench.pid"
echo "== exit status $rc" >>"$log"

dir=$(run_dirs | head -n 1)
st=""
[ -n "$dir" ] && st=$(run_status "$dir")
if [ "$rc" -eq 0 ] && [ "$st" = complete ]; then
  echo "complete $dir"
  exit 0
fi
echo "fleet-run.sh: ternbench exited with status $rc, run ${dir:-(none created)} is ${st:-without run.json}; the last lines of $log:" >&2
tail -n 15 "$log" >&2
echo "rerun to resume it (ternbench run --resume keeps every repetition already measured)" >&2
exit 1
