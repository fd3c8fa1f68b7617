#!/usr/bin/env bash
# check-report.sh REPORT_DIR: opens a ternbench report (REPORT_DIR/index.html) in headless
# Chromium and checks that every chart written beside it (REPORT_DIR/*.svg) is drawn in the page
# and that the console shows no error. Installs Chromium from Debian's packages when it is
# missing and we are root with apt-get; where it cannot be installed, says SKIPPED and why and
# exits 0. Exit 1 on a missing chart or a console error.
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ $# -ne 1 ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -eq 1 ] && exit 0 || exit 2
fi
report=$(realpath "$1")
test -s "$report/index.html" || { echo "check-report: $report/index.html does not exist"; exit 2; }

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "check-report: installing chromium from Debian's packages…"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/tmp/check-report-apt.log 2>&1; then
      echo "check-report: SKIPPED: apt-get could not install chromium (log: /tmp/check-report-apt.log)"
      exit 0
    fi
    browser=$(command -v chromium || true)
  fi
fi
if [ -z "$browser" ]; then
  echo "check-report: SKIPPED: no chromium, and it cannot be installed here (needs root and apt-get)"
  exit 0
fi

profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
# The flags keep Chromium off the network (this machine reaches only package registries).
dom=$("$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --enable-logging=stderr --v=0 \
  --dump-dom "file://$report/index.html" 2>"$log")

fail=0
charts=0
for svg in "$report"/*.svg; do
  [ -e "$svg" ] || continue
  id=$(basename "$svg" .svg)
  charts=$((charts + 1))
  if ! grep -q "id=\"$id\"\|id=\"chart-$id\"\|data-chart=\"$id\"" <<<"$dom"; then
    echo "check-report: chart $id is not in the rendered page"
    fail=1
  fi
done
drawn=$(grep -o '<svg' <<<"$dom" | wc -l)
if [ "$drawn" -lt "$charts" ]; then
  echo "check-report: $charts charts written but only $drawn <svg> elements rendered"
  fail=1
fi
if grep -E 'CONSOLE\(|Uncaught|console\.error' "$log" | grep -viE 'dbus|gcm|fontconfig' >/dev/null; then
  echo "check-report: console errors:"
  grep -E 'CONSOLE\(|Uncaught' "$log" | head -20
  fail=1
fi
if [ "$fail" = 0 ]; then
  echo "check-report: ok: $report/index.html rendered in $("$browser" --version 2>/dev/null | head -1), $charts chart(s) present, no console errors"
fi
exit "$fail"
