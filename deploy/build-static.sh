#!/usr/bin/env bash
# build-static.sh: build the ternbench CLI once per target as one self-contained binary that
# runs on any Linux of that architecture (kernel 3.2 or newer) with nothing installed: no Rust,
# no libraries. Fleet runs (deploy/ansible, deploy/slurm) copy it to every host.
#
#   deploy/build-static.sh [--target TRIPLE] [--out FILE]
#
# Target: x86_64-unknown-linux-musl (or aarch64-...-musl) when that Rust target is installed
# (`rustup target add x86_64-unknown-linux-musl`), else the host's GNU target linked statically
# (`-C target-feature=+crt-static`: a static-pie with glibc inside; ternbench calls no NSS or
# dlopen, so nothing is looked up at run time). Either way `ldd` says "statically linked".
# Prints the binary's path on the last line of stdout (default target/fleet/<triple>/ternbench,
# stripped of debug info: about 5 MB instead of 50).
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-static.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

arch=$(uname -m)
if [ -z "$target" ]; then
  if rustup target list --installed 2>/dev/null | grep -qx "$arch-unknown-linux-musl"; then
    target="$arch-unknown-linux-musl"
  else
    target="$arch-unknown-linux-gnu"
  fi
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "build-static.sh: the Rust target $target is not installed; run \`rustup target add $target\` (or leave --target out to use the host's GNU target, linked statically)" >&2
  exit 2
fi
out=${out:-target/fleet/$target/ternbench}

# Static linking: musl targets are static by default; the GNU target needs crt-static. A
# separate target dir keeps these flags from invalidating the ordinary builds' caches.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
echo "building ternbench for $target (static) ..." >&2
cargo build --release --locked -p ternbench --target "$target" --target-dir target/static >&2
built="target/static/$target/release/ternbench"

if ldd "$built" 2>&1 | grep -q '=>'; then
  echo "build-static.sh: $built is dynamically linked (ldd lists libraries); refusing to ship it" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug -o "$out.tmp" "$built"
else
  cp "$built" "$out.tmp"
fi
mv "$out.tmp" "$out"
"$out" --version >&2
echo "$out"
