# shellcheck shell=bash
# Shared by build-llama-cpp.sh and build-bitnet-cpp.sh: where builds go, installing build tools
# from Debian's packages, and the peer.json record each build leaves beside its binaries.
#
# Layout under the peers root (TERNBENCH_PEERS, default ~/.cache/ternbench/peers):
#   <name>/src          the source tree that was built (a copy; codegen writes into bitnet.cpp's)
#   <name>/build        the CMake build; binaries in build/bin
#   <name>/peer.json    what was built: commits, compiler, flags, binaries (read by ternbench)
#   dl/                 downloads (the llama-cpp-python source distribution)

PEERS_ROOT=${TERNBENCH_PEERS:-$HOME/.cache/ternbench/peers}

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_tools PKG:CMD ... : installs the Debian package of every missing command (as root, after
# one apt-get update), else says which packages to install.
need_tools() {
  local missing=() pkg cmd spec
  for spec in "$@"; do
    pkg=${spec%%:*}; cmd=${spec#*:}
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] || missing+=("$pkg"); else command -v "$cmd" >/dev/null || missing+=("$pkg"); fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing build tools; install them with: sudo apt-get install ${missing[*]}"
  fi
  command -v apt-get >/dev/null || die "missing build tools (${missing[*]}) and no apt-get to install them: install them with your package manager"
  say "== installing ${missing[*]} (Debian packages)"
  if [[ -z ${PEERS_APT_UPDATED:-} ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    PEERS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# cache_var BUILD_DIR NAME : a value from CMakeCache.txt.
cache_var() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt" | head -1; }

# json_str S : S as a JSON string.
json_str() {
  local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/ }; s=${s//$'\t'/ }
  printf '"%s"' "$s"
}

# compiler_line BUILD_DIR LANG : "<id> <version> (<path>)" of the C or CXX compiler CMake used.
compiler_line() {
  local b=$1 l=$2 path id ver
  path=$(cache_var "$b" "CMAKE_${l}_COMPILER")
  id=$(sed -n "s/^set(CMAKE_${l}_COMPILER_ID \"\(.*\)\")/\1/p" "$b"/CMakeFiles/*/CMake"${l}"Compiler.cmake 2>/dev/null | head -1)
  ver=$(sed -n "s/^set(CMAKE_${l}_COMPILER_VERSION \"\(.*\)\")/\1/p" "$b"/CMakeFiles/*/CMake"${l}"Compiler.cmake 2>/dev/null | head -1)
  printf '%s %s (%s)' "${id:-unknown}" "${ver:-?}" "${path:-?}"
}

# sha_of FILE : sha256 of a file.
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# print_peer PEER_JSON : the human summary of a build.
print_peer() {
  python3 - "$1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
print(f"{p['name']}: {p['source']['describe']}")
for k, v in p["binaries"].items():
    print(f"  {k + ':':16}{v}")
print(f"  {'compiler:':16}{p['build']['compiler']}")
print(f"  {'flags:':16}{' '.join(p['build']['cmake_flags'])}")
print(f"  {'C flags:':16}{p['build']['c_flags']}")
print(f"  record:         {sys.argv[1]}")
PY
}
