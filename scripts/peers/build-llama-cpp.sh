#!/usr/bin/env bash
# Builds upstream llama.cpp's llama-bench and llama-quantize for ternbench's peer cells.
#
# Source, one of:
#   (default)        the llama-cpp-python source distribution from PyPI (pip download), which
#                    vendors llama.cpp; its CHANGELOG names the pinned ggml-org/llama.cpp commit
#                    (0.3.36 pins 0c1e57098). Needs only PyPI, so it works in CI.
#   --src DIR        a llama.cpp checkout (its git HEAD is recorded; without .git pass --commit).
#
# Built as llama.cpp's own release builds: CMake Release, GGML_NATIVE=ON (-march=native), static
# libraries, no curl, no server/tests; targets llama-bench and llama-quantize only. The commit is
# compiled in (LLAMA_BUILD_COMMIT), so llama-bench's `build_commit` names it.
#
# Idempotent: a finished build with the same source and flags is reused (ninja then does nothing).
# Output: ${TERNBENCH_PEERS:-~/.cache/ternbench/peers}/llama.cpp/{src,build,peer.json}.
# Prints the binaries' paths, the commit, compiler and flags.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'U'

Usage: build-llama-cpp.sh [--src DIR [--commit SHA]] [--pypi-version V] [--jobs N] [--force]
  --pypi-version V   llama-cpp-python version whose vendored llama.cpp to build (default 0.3.36)
  --jobs N           parallel compile jobs (default: number of CPUs)
  --force            reconfigure and rebuild from scratch
  --print            only print what is built (no build)
U
}

PYPI_VERSION=0.3.36
SRC="" COMMIT="" JOBS=$(nproc 2>/dev/null || echo 2) FORCE=0 PRINT=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --src) SRC=${2:?--src needs a directory}; shift 2 ;;
    --commit) COMMIT=${2:?--commit needs a sha}; shift 2 ;;
    --pypi-version) PYPI_VERSION=${2:?}; shift 2 ;;
    --jobs|-j) JOBS=${2:?}; shift 2 ;;
    --force) FORCE=1; shift ;;
    --print) PRINT=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

DEST=$PEERS_ROOT/llama.cpp
if [[ $PRINT = 1 ]]; then
  [[ -f $DEST/peer.json ]] || die "no llama.cpp build under $DEST (run this script without --print)"
  print_peer "$DEST/peer.json"; exit 0
fi
mkdir -p "$PEERS_ROOT"

need_tools cmake:cmake ninja-build:ninja g++:g++ python3:python3 git:git

# --- source ---------------------------------------------------------------------------------
if [[ -n $SRC ]]; then
  [[ -f $SRC/CMakeLists.txt && -d $SRC/ggml ]] || die "--src $SRC is not a llama.cpp checkout (no CMakeLists.txt and ggml/)"
  SRC=$(cd "$SRC" && pwd)
  if [[ -z $COMMIT ]]; then
    COMMIT=$(git -C "$SRC" rev-parse --short=9 HEAD 2>/dev/null) \
      || die "--src $SRC has no git history: pass --commit SHA to name what it is"
    git -C "$SRC" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT-dirty"
  fi
  ORIGIN="checkout $SRC"
  DESCRIBE="llama.cpp@$COMMIT (checkout $SRC)"
  SOURCE_ID="src:$SRC:$COMMIT"
else
  dl=$PEERS_ROOT/dl
  tarball=$dl/llama_cpp_python-$PYPI_VERSION.tar.gz
  if [[ ! -s $tarball ]]; then
    mkdir -p "$dl"
    say "== downloading llama-cpp-python $PYPI_VERSION (source distribution) from PyPI"
    # Only this package from source; its build backend may come as wheels (pip prepares metadata).
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$PYPI_VERSION" -d "$dl" \
      || die "pip download llama-cpp-python==$PYPI_VERSION failed (is PyPI reachable? pass --src DIR for a checkout)"
  fi
  [[ -s $tarball ]] || die "pip did not leave $tarball"
  SOURCE_ID="pypi:llama-cpp-python==$PYPI_VERSION:$(sha_of "$tarball")"
  SRC=$DEST/src
  if [[ ! -f $SRC/.ternbench-source || $(cat "$SRC/.ternbench-source") != "$SOURCE_ID" ]]; then
    say "== unpacking the vendored llama.cpp"
    rm -rf "$SRC" "$DEST/unpack"
    mkdir -p "$DEST/unpack"
    tar xzf "$tarball" -C "$DEST/unpack"
    mv "$DEST/unpack/llama_cpp_python-$PYPI_VERSION/vendor/llama.cpp" "$SRC"
    cp "$DEST/unpack/llama_cpp_python-$PYPI_VERSION/CHANGELOG.md" "$SRC/.llama-cpp-python-CHANGELOG.md"
    rm -rf "$DEST/unpack"
    printf '%s' "$SOURCE_ID" >"$SRC/.ternbench-source"
  fi
  # The first "update llama.cpp to ggml-org/llama.cpp@SHA" under this version's heading.
  COMMIT=$(awk -v v="## [$PYPI_VERSION]" '
      index($0, v) == 1 {on = 1; next}
      on && /^## \[/ {exit}
      on && match($0, /ggml-org\/llama\.cpp@[0-9a-f]+/) {print substr($0, RSTART + 19, RLENGTH - 19); exit}
    ' "$SRC/.llama-cpp-python-CHANGELOG.md")
  [[ -n $COMMIT ]] || die "the CHANGELOG of llama-cpp-python $PYPI_VERSION names no llama.cpp commit"
  ORIGIN="llama-cpp-python $PYPI_VERSION source distribution (PyPI), vendor/llama.cpp"
  DESCRIBE="ggml-org/llama.cpp@$COMMIT (vendored in llama-cpp-python $PYPI_VERSION from PyPI)"
fi

# --- configure + build ----------------------------------------------------------------------
BUILD=$DEST/build
FLAGS=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF
       -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF
       -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
STAMP="$SOURCE_ID ${FLAGS[*]} -DLLAMA_BUILD_COMMIT=$COMMIT"
if [[ $FORCE = 1 || ! -f $BUILD/.ternbench-stamp || $(cat "$BUILD/.ternbench-stamp") != "$STAMP" ]]; then
  # A changed source or flag reconfigures in place (ninja then rebuilds what it touches);
  # --force starts from an empty build directory.
  [[ $FORCE = 1 ]] && rm -rf "$BUILD"
  say "== configuring llama.cpp@$COMMIT"
  cmake -S "$SRC" -B "$BUILD" -G Ninja "${FLAGS[@]}" -DLLAMA_BUILD_COMMIT="$COMMIT" >"$DEST/configure.log" 2>&1 \
    || { tail -20 "$DEST/configure.log" >&2; die "cmake configure failed (log: $DEST/configure.log)"; }
  printf '%s' "$STAMP" >"$BUILD/.ternbench-stamp"
fi
say "== building llama-bench, llama-quantize ($JOBS jobs)"
cmake --build "$BUILD" --target llama-bench llama-quantize -j "$JOBS" >"$DEST/build.log" 2>&1 \
  || { tail -30 "$DEST/build.log" >&2; die "build failed (log: $DEST/build.log)"; }
for b in llama-bench llama-quantize; do
  [[ -x $BUILD/bin/$b ]] || die "the build left no $BUILD/bin/$b"
done
"$BUILD/bin/llama-bench" --help >/dev/null 2>&1 || die "$BUILD/bin/llama-bench does not run (try --force)"

# --- record ---------------------------------------------------------------------------------
CFLAGS=$(python3 - "$BUILD/compile_commands.json" <<'PY'
import json, shlex, sys
cmds = json.load(open(sys.argv[1]))
# The CPU backend's main file carries the ISA flags (-march=native): prefer it.
pick = next((c for suffix in ("ggml-cpu/ggml-cpu.c", "ggml/src/ggml.c") for c in cmds if c["file"].endswith(suffix)), cmds[0])
toks = shlex.split(pick.get("command") or " ".join(pick["arguments"]))
print(" ".join(t for t in toks if t.startswith(("-O", "-m", "-std", "-DNDEBUG", "-DGGML_USE", "-DGGML_AVX", "-DGGML_F16C", "-DGGML_FMA"))))
PY
)
{
  printf '{\n  "name": "llama.cpp",\n  "flavor": "upstream",\n'
  printf '  "source": {"repo": "ggml-org/llama.cpp", "commit": %s, "origin": %s, "describe": %s},\n' \
    "$(json_str "$COMMIT")" "$(json_str "$ORIGIN")" "$(json_str "$DESCRIBE")"
  printf '  "build": {"compiler": %s, "cmake_flags": [' "$(json_str "$(compiler_line "$BUILD" CXX)")"
  sep=""; for f in "${FLAGS[@]}" "-DLLAMA_BUILD_COMMIT=$COMMIT"; do printf '%s%s' "$sep" "$(json_str "$f")"; sep=", "; done
  printf '], "c_flags": %s, "built_at": %s},\n' "$(json_str "$CFLAGS")" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '  "binaries": {"llama-bench": %s, "llama-quantize": %s}\n}\n' \
    "$(json_str "$BUILD/bin/llama-bench")" "$(json_str "$BUILD/bin/llama-quantize")"
} >"$DEST/peer.json.tmp"
mv "$DEST/peer.json.tmp" "$DEST/peer.json"
cp "$DEST/peer.json" "$BUILD/bin/peer.json"   # beside the binaries, where ternbench looks
print_peer "$DEST/peer.json"
