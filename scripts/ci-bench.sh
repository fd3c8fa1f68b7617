#!/usr/bin/env bash
# ci-bench.sh: run a ternbench scenario (or count instructions under Valgrind with --icount),
# compare it with a named baseline, write the Markdown summary to $GITHUB_STEP_SUMMARY (when
# set) and exit with `ternbench compare`'s code:
#   0 nothing gating regressed, 1 a regression beyond the threshold, 2 bad input / setup error.
#
# Usage: scripts/ci-bench.sh [options] [-- extra `ternbench compare` arguments]
#   -s, --scenario FILE     scenario to run (default: scenarios/quick.toml)
#       --icount            instead of a scenario: `ternbench icount` (instructions per kernel
#                           call and per token under Valgrind, installed with apt-get when
#                           missing), compared with baseline `icount` at +-1%
#   -b, --baseline NAME     named baseline to compare with (default: ci; with --icount: icount)
#   -d, --baselines-dir DIR where named baselines live (default: results/baselines)
#   -o, --out DIR           where the new run folder / icount.json is written (default: results/ci)
#   -t, --threshold PCT     noise band passed to compare (default: compare's own)
#       --bin PATH          the ternbench binary (default: $TERNBENCH, else `ternbench` on
#                           PATH, else target/release/ternbench, built if missing)
#       --save-if-missing   no baseline yet: save this run as it and exit 0
#       --update-baseline   after a compare that exits 0, replace the baseline with this run
#       --refresh-baseline  measure and replace the baseline without comparing (after a change
#                           that moves the counts on purpose, or a new toolchain); exit 0
#   -h, --help              this text
# Files left: <out>/<run-id>/ (the run) or <out>/icount.json and icount.md (the counts),
# <out>/compare.md and <out>/compare.json. Docs: docs/regression.md.
set -euo pipefail

scenario="scenarios/quick.toml"
baseline=""
icount=0
refresh=0
bdir="results/baselines"
out="results/ci"
threshold=""
bin="${TERNBENCH:-}"
save_if_missing=0
update=0
extra=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "ci-bench: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -s|--scenario) scenario="${2:?}"; shift 2 ;;
    --icount) icount=1; shift ;;
    --refresh-baseline) refresh=1; shift ;;
    -b|--baseline) baseline="${2:?}"; shift 2 ;;
    -d|--baselines-dir) bdir="${2:?}"; shift 2 ;;
    -o|--out) out="${2:?}"; shift 2 ;;
    -t|--threshold) threshold="${2:?}"; shift 2 ;;
    --bin) bin="${2:?}"; shift 2 ;;
    --save-if-missing) save_if_missing=1; shift ;;
    --update-baseline) update=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

if [ -z "$bin" ]; then
  if command -v ternbench >/dev/null 2>&1; then
    bin="$(command -v ternbench)"
  else
    bin="target/release/ternbench"
    if [ ! -x "$bin" ]; then
      echo "ci-bench: building ternbench (release)" >&2
      cargo build --release -p ternbench >&2 || die "cargo build failed"
    fi
  fi
fi
[ -x "$bin" ] || die "no ternbench binary at $bin"
if [ -z "$baseline" ]; then
  if [ "$icount" = 1 ]; then baseline="icount"; else baseline="ci"; fi
fi

summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$1" >>"$GITHUB_STEP_SUMMARY"
  fi
}

mkdir -p "$out"
if [ "$icount" = 1 ]; then
  here="$(cd "$(dirname "$0")" && pwd)"
  command -v valgrind >/dev/null 2>&1 || bash "$here/ensure-valgrind.sh" || die "no valgrind (see above)"
  new="$out/icount.json"
  baseline_file="icount.json"
  echo "ci-bench: counting instructions under Valgrind" >&2
  t0=$(date +%s)
  "$bin" icount --out "$out" >/dev/null || die "ternbench icount failed"
  echo "ci-bench: the Valgrind step took $(( $(date +%s) - t0 )) s (counts in $new, table in $out/icount.md)" >&2
else
  [ -f "$scenario" ] || die "no scenario file $scenario"
  parent="$(mktemp -d "$out/run.XXXXXX")"
  echo "ci-bench: running $scenario" >&2
  "$bin" run "$scenario" --out "$parent" -q || die "ternbench run failed"
  run_dir="$(find "$parent" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
  [ -n "$run_dir" ] && [ -f "$run_dir/run.json" ] || die "the run left no run.json under $parent"
  final="$out/$(basename "$run_dir")"
  if [ ! -e "$final" ]; then
    mv "$run_dir" "$final"
    run_dir="$final"
  fi
  rmdir "$parent" 2>/dev/null || true
  echo "ci-bench: run folder $run_dir" >&2
  new="$run_dir"
  baseline_file="run.json"
fi

if [ "$refresh" = 1 ]; then
  "$bin" baseline save "$baseline" "$new" --dir "$bdir" --force
  echo "ci-bench: baseline \`$baseline\` refreshed in $bdir (commit it to keep it)" >&2
  exit 0
fi

if [ ! -f "$bdir/$baseline/$baseline_file" ]; then
  if [ "$save_if_missing" = 1 ]; then
    "$bin" baseline save "$baseline" "$new" --dir "$bdir"
    {
      echo "## ternbench compare: no baseline yet"
      echo
      echo "Saved \`$new\` as baseline \`$baseline\` in \`$bdir\`; later runs compare against it."
    } >"$out/compare.md"
    cat "$out/compare.md"
    summary "$out/compare.md"
    exit 0
  fi
  die "no baseline \`$baseline\` in $bdir (save one: ternbench baseline save $baseline $new, or pass --save-if-missing)"
fi

args=(compare --baseline "$baseline" --baselines-dir "$bdir" "$new")
[ -n "$threshold" ] && args+=(--threshold "$threshold")
args+=("${extra[@]}")

set +e
"$bin" "${args[@]}" -o md >"$out/compare.md" 2>"$out/compare.err"
code=$?
"$bin" "${args[@]}" -o json >"$out/compare.json" 2>/dev/null
set -e
cat "$out/compare.err" >&2
if [ "$code" -ge 2 ]; then
  {
    echo "## ternbench compare: error (exit $code)"
    echo
    echo '```'
    cat "$out/compare.err"
    echo '```'
  } >"$out/compare.md"
fi

cat "$out/compare.md"
summary "$out/compare.md"

if [ "$code" = 0 ] && [ "$update" = 1 ]; then
  "$bin" baseline save "$baseline" "$new" --dir "$bdir" --force
fi
exit "$code"
