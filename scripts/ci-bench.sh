#!/usr/bin/env bash
# ci-bench.sh: run a ternbench scenario, compare it with a named baseline, write the Markdown
# summary to $GITHUB_STEP_SUMMARY (when set) and exit with `ternbench compare`'s code:
#   0 nothing gating regressed, 1 a regression beyond the threshold, 2 bad input / setup error.
#
# Usage: scripts/ci-bench.sh [options] [-- extra `ternbench compare` arguments]
#   -s, --scenario FILE     scenario to run (default: scenarios/quick.toml)
#   -b, --baseline NAME     named baseline to compare with (default: ci)
#   -d, --baselines-dir DIR where named baselines live (default: results/baselines)
#   -o, --out DIR           where the new run folder is written (default: results/ci)
#   -t, --threshold PCT     noise band passed to compare (default: compare's own)
#       --bin PATH          the ternbench binary (default: $TERNBENCH, else `ternbench` on
#                           PATH, else target/release/ternbench, built if missing)
#       --save-if-missing   no baseline yet: save this run as it and exit 0
#       --update-baseline   after a compare that exits 0, replace the baseline with this run
#   -h, --help              this text
# Files left: <out>/<run-id>/ (the run), <out>/compare.md and <out>/compare.json.
# Docs: docs/regression.md.
set -euo pipefail

scenario="scenarios/quick.toml"
baseline="ci"
bdir="results/baselines"
out="results/ci"
threshold=""
bin="${TERNBENCH:-}"
save_if_missing=0
update=0
extra=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ci-bench: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -s|--scenario) scenario="${2:?}"; shift 2 ;;
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
[ -f "$scenario" ] || die "no scenario file $scenario"

mkdir -p "$out"
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

summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$1" >>"$GITHUB_STEP_SUMMARY"
  fi
}

if [ ! -f "$bdir/$baseline/run.json" ]; then
  if [ "$save_if_missing" = 1 ]; then
    "$bin" baseline save "$baseline" "$run_dir" --dir "$bdir"
    {
      echo "## ternbench compare: no baseline yet"
      echo
      echo "Saved run \`$(basename "$run_dir")\` as baseline \`$baseline\` in \`$bdir\`; later runs compare against it."
    } >"$out/compare.md"
    cat "$out/compare.md"
    summary "$out/compare.md"
    exit 0
  fi
  die "no baseline \`$baseline\` in $bdir (save one: ternbench baseline save $baseline RUN, or pass --save-if-missing)"
fi

args=(compare --baseline "$baseline" --baselines-dir "$bdir" "$run_dir")
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
  "$bin" baseline save "$baseline" "$run_dir" --dir "$bdir" --force
fi
exit "$code"
