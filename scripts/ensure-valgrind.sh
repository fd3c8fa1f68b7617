#!/usr/bin/env bash
# ensure-valgrind.sh: make `valgrind` available for `ternbench icount` (the instruction-count
# gate, docs/regression.md). Does nothing when it is already on PATH; otherwise installs the
# distribution's package with apt-get (as root, or through sudo when that works without a
# password). Exits 0 when valgrind runs afterwards, 2 (with the reason) when it cannot.
set -euo pipefail

if command -v valgrind >/dev/null 2>&1; then
  echo "ensure-valgrind: $(valgrind --version) at $(command -v valgrind)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-valgrind: valgrind is missing and there is no apt-get here: install Valgrind (3.19 or later) with this system's package manager" >&2
  exit 2
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-valgrind: valgrind is missing and installing it needs root: run \`apt-get install valgrind\` as root" >&2
  exit 2
fi
echo "ensure-valgrind: installing valgrind with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2 || echo "ensure-valgrind: apt-get update failed; trying the install anyway" >&2
"${as_root[@]}" apt-get install -y -qq --no-install-recommends valgrind >&2 ||
  { echo "ensure-valgrind: apt-get install valgrind failed" >&2; exit 2; }
command -v valgrind >/dev/null 2>&1 || { echo "ensure-valgrind: valgrind still not on PATH after the install" >&2; exit 2; }
echo "ensure-valgrind: $(valgrind --version) installed" >&2
