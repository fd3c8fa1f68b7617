#!/usr/bin/env bash
# Builds bitnet.cpp's llama-bench and llama-quantize (microsoft/BitNet and its llama.cpp fork,
# the 3rdparty/llama.cpp submodule) for ternbench's peer cells, as its setup_env.py does on
# x86_64: clang (Debian clang-19 + libomp-19-dev), the TL2 kernels generated for the
# bitnet_b1_58-3B preset (the preset setup_env.py uses for BitNet-b1.58-2B-4T too:
# utils/codegen_tl2.py --BM 160,320,320 --BK 96,96,96 --bm 32,32,32), -DBITNET_X86_TL2=ON, CMake
# Release. On arm64 it follows setup_env.py's TL1 branch instead (untested by ternbench). I2_S
# needs no codegen: it is built in either way.
#
# bitnet.cpp is not on any package registry, so this needs a BitNet checkout you provide:
#   --src DIR|URL        a microsoft/BitNet checkout, bare clone or git URL (cloned, not modified)
#   --ref REV            the BitNet commit to build (default: the source's HEAD)
#   --llama-src DIR|URL  a clone of the llama.cpp fork that holds the submodule's pinned commit,
#                        when the BitNet source has no populated submodule and `git submodule
#                        update` cannot reach it (e.g. no network to GitHub)
# Known to build: microsoft/BitNet@404980e with its pin Eddie-Wang1120/llama.cpp@40ed0f2 (found
# in the OpenDarrenlu/BitNet-llama.cpp fork). Later BitNet commits pin isHuangXin/llama.cpp
# commits that may not be public.
#
# Idempotent: a finished build of the same commits and flags is reused.
# Output: ${TERNBENCH_PEERS:-~/.cache/ternbench/peers}/bitnet.cpp/{src,build,peer.json}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'U'

Usage: build-bitnet-cpp.sh --src DIR|URL [--ref REV] [--llama-src DIR|URL] [--jobs N] [--force]
       build-bitnet-cpp.sh --print
U
}

SRC="" REF="" LLAMA_SRC="" JOBS=$(nproc 2>/dev/null || echo 2) FORCE=0 PRINT=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --src) SRC=${2:?--src needs a directory or URL}; shift 2 ;;
    --ref) REF=${2:?}; shift 2 ;;
    --llama-src) LLAMA_SRC=${2:?}; shift 2 ;;
    --jobs|-j) JOBS=${2:?}; shift 2 ;;
    --force) FORCE=1; shift ;;
    --print) PRINT=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

DEST=$PEERS_ROOT/bitnet.cpp
if [[ $PRINT = 1 ]]; then
  [[ -f $DEST/peer.json ]] || die "no bitnet.cpp build under $DEST (run this script with --src)"
  print_peer "$DEST/peer.json"; exit 0
fi
[[ -n $SRC ]] || { usage >&2; die "--src is required: bitnet.cpp is built from a microsoft/BitNet checkout you provide (no package registry carries it)"; }

case $(uname -m) in
  x86_64|amd64) ARCH=x86_64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) die "bitnet.cpp's setup_env.py builds for x86_64 and arm64 only, not $(uname -m)" ;;
esac
need_tools cmake:cmake ninja-build:ninja clang-19:clang-19 libomp-19-dev:/usr/lib/llvm-19/lib/libomp.so python3:python3 git:git
mkdir -p "$DEST"

# A local directory source is used by path; anything else goes to git as is.
[[ -d $SRC ]] && SRC=$(cd "$SRC" && pwd)
[[ -n $LLAMA_SRC && -d $LLAMA_SRC ]] && LLAMA_SRC=$(cd "$LLAMA_SRC" && pwd)

# checkout_tolerant DIR REV: checks out REV; a partial mirror may lack some blobs (test data,
# large media), so those paths are left out of the work tree (sparse checkout) and named.
checkout_tolerant() {
  local d=$1 rev=$2 missing
  git -C "$d" checkout --quiet --force "$rev" 2>/dev/null && return 0
  missing=$(git -C "$d" ls-tree -r "$rev" | awk '$2 == "blob" {print $3 " " $4}' \
    | git -C "$d" cat-file --batch-check='%(objectname) %(objecttype) %(rest)' 2>/dev/null \
    | awk '$2 == "missing" {print $1}' || true)
  [[ -n $missing ]] || die "checkout of $rev in $d failed"
  missing=$(git -C "$d" ls-tree -r "$rev" | awk -v m="$missing" 'BEGIN {n = split(m, a, "\n"); for (i = 1; i <= n; i++) bad[a[i]] = 1} ($3 in bad) {print $4}')
  say "   note: the source lacks the contents of $(wc -l <<<"$missing") file(s), left out of the build tree:"
  say "$(sed 's/^/     /' <<<"$missing")"
  git -C "$d" sparse-checkout init --no-cone >/dev/null 2>&1 || die "git sparse-checkout is unavailable (git >= 2.25 needed)"
  { echo '/*'; sed 's|^|!/|' <<<"$missing"; } >"$(git -C "$d" rev-parse --git-path info/sparse-checkout)"
  git -C "$d" checkout --quiet --force "$rev" || die "checkout of $rev in $d failed even without the missing files"
}

# --- source: a clean clone at REF, its submodule at the pinned commit ------------------------
S=$DEST/src
want_rev=$(git ls-remote "$SRC" "${REF:-HEAD}" 2>/dev/null | head -1 | cut -f1 || true)
if [[ -z $want_rev ]]; then
  # ls-remote resolves names only; a short sha is resolved after the clone.
  [[ -n $REF ]] || die "cannot read $SRC as a git repository"
fi
if [[ ! -d $S/.git ]] || ! git -C "$S" cat-file -e "${want_rev:-$REF}^{commit}" 2>/dev/null; then
  say "== cloning BitNet from $SRC"
  rm -rf "$S"
  git clone --quiet --no-checkout "$SRC" "$S" || die "git clone $SRC failed"
fi
rev=$(git -C "$S" rev-parse --verify "${want_rev:-${REF:-HEAD}}^{commit}" 2>/dev/null) \
  || die "$SRC has no commit ${REF:-HEAD}"
if [[ $(git -C "$S" rev-parse HEAD 2>/dev/null || true) != "$rev" ]] || ! git -C "$S" diff --quiet HEAD -- . ':!include' 2>/dev/null; then
  checkout_tolerant "$S" "$rev"
fi
git -C "$S" checkout --quiet -- include 2>/dev/null || true   # undo an earlier codegen
BITNET_COMMIT=$(git -C "$S" rev-parse --short=7 HEAD)

pin=$(git -C "$S" ls-tree HEAD 3rdparty/llama.cpp | awk '$2 == "commit" {print $3}')
[[ -n $pin ]] || die "BitNet@$BITNET_COMMIT has no 3rdparty/llama.cpp submodule"
sub_url=$(git -C "$S" config -f .gitmodules submodule.3rdparty/llama.cpp.url || echo "?")
L=$S/3rdparty/llama.cpp
# Reused only when at the pin with a clean work tree (an interrupted checkout is redone).
if [[ $(git -C "$L" rev-parse HEAD 2>/dev/null || true) != "$pin" ]] || ! git -C "$L" diff --quiet HEAD 2>/dev/null; then
  rm -rf "$L"
  from=""
  if [[ -n $LLAMA_SRC ]]; then
    from=$LLAMA_SRC
  elif [[ -d $SRC/3rdparty/llama.cpp/.git || -f $SRC/3rdparty/llama.cpp/.git ]]; then
    from=$SRC/3rdparty/llama.cpp   # the checkout's own populated submodule
  fi
  if [[ -n $from ]]; then
    say "== llama.cpp fork @${pin:0:7} from $from"
    git clone --quiet --no-checkout "$from" "$L" || die "git clone $from failed"
  else
    say "== llama.cpp fork @${pin:0:7} from $sub_url (git submodule update)"
    git -C "$S" submodule update --init 3rdparty/llama.cpp >/dev/null 2>&1 \
      || die "cannot fetch the submodule 3rdparty/llama.cpp ($sub_url @ $pin). Pass --llama-src DIR|URL: a clone of a llama.cpp fork that holds commit $pin"
  fi
  git -C "$L" cat-file -e "$pin^{commit}" 2>/dev/null \
    || die "the llama.cpp source ${from:-$sub_url} does not hold the pinned commit $pin (BitNet@$BITNET_COMMIT's submodule). Pass --llama-src with a fork that has it"
  checkout_tolerant "$L" "$pin"
fi
LLAMA_COMMIT=${pin:0:7}

# --- kernels: setup_env.py's codegen for the preset -----------------------------------------
if [[ $ARCH = x86_64 ]]; then
  CODEGEN=(utils/codegen_tl2.py --model bitnet_b1_58-3B --BM 160,320,320 --BK 96,96,96 --bm 32,32,32)
  LUT_FLAG=-DBITNET_X86_TL2=ON
else
  CODEGEN=(utils/codegen_tl1.py --model bitnet_b1_58-3B --BM 160,320,320 --BK 64,128,64 --bm 32,64,32)
  LUT_FLAG=-DBITNET_ARM_TL1=ON
fi
say "== generating the LUT kernels: ${CODEGEN[*]}"
(cd "$S" && python3 "${CODEGEN[@]}" >"$DEST/codegen.log" 2>&1) \
  || { tail -20 "$DEST/codegen.log" >&2; die "codegen failed (log: $DEST/codegen.log)"; }

# --- configure + build ----------------------------------------------------------------------
BUILD=$DEST/build
FLAGS=(-DCMAKE_BUILD_TYPE=Release "$LUT_FLAG" -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19
       -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
STAMP="BitNet@$BITNET_COMMIT llama.cpp@$pin ${CODEGEN[*]} ${FLAGS[*]}"
if [[ $FORCE = 1 || ! -f $BUILD/.ternbench-stamp || $(cat "$BUILD/.ternbench-stamp") != "$STAMP" ]]; then
  # A changed source or flag reconfigures in place (ninja then rebuilds what it touches);
  # --force starts from an empty build directory.
  [[ $FORCE = 1 ]] && rm -rf "$BUILD"
  say "== configuring bitnet.cpp (BitNet@$BITNET_COMMIT, llama.cpp@$LLAMA_COMMIT)"
  cmake -S "$S" -B "$BUILD" -G Ninja "${FLAGS[@]}" >"$DEST/configure.log" 2>&1 \
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
pick = next((c for c in cmds if c["file"].endswith("ggml/src/ggml.c")), cmds[0])
toks = shlex.split(pick.get("command") or " ".join(pick["arguments"]))
print(" ".join(t for t in toks if t.startswith(("-O", "-m", "-std", "-DNDEBUG", "-DGGML_BITNET", "-DGGML_USE"))))
PY
)
ORIGIN="BitNet from $SRC${LLAMA_SRC:+, llama.cpp fork from $LLAMA_SRC}"
DESCRIBE="microsoft/BitNet@$BITNET_COMMIT + llama.cpp fork@$LLAMA_COMMIT ($sub_url)"
{
  printf '{\n  "name": "bitnet.cpp",\n  "flavor": "bitnet.cpp",\n'
  printf '  "source": {"repo": "microsoft/BitNet", "commit": %s, "submodule": {"url": %s, "commit": %s}, "origin": %s, "describe": %s},\n' \
    "$(json_str "$BITNET_COMMIT")" "$(json_str "$sub_url")" "$(json_str "$pin")" "$(json_str "$ORIGIN")" "$(json_str "$DESCRIBE")"
  printf '  "build": {"compiler": %s, "codegen": %s, "cmake_flags": [' \
    "$(json_str "$(compiler_line "$BUILD" CXX)")" "$(json_str "${CODEGEN[*]}")"
  sep=""; for f in "${FLAGS[@]}"; do printf '%s%s' "$sep" "$(json_str "$f")"; sep=", "; done
  printf '], "c_flags": %s, "built_at": %s},\n' "$(json_str "$CFLAGS")" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '  "binaries": {"llama-bench": %s, "llama-quantize": %s}\n}\n' \
    "$(json_str "$BUILD/bin/llama-bench")" "$(json_str "$BUILD/bin/llama-quantize")"
} >"$DEST/peer.json.tmp"
mv "$DEST/peer.json.tmp" "$DEST/peer.json"
cp "$DEST/peer.json" "$BUILD/bin/peer.json"   # beside the binaries, where ternbench looks
print_peer "$DEST/peer.json"
