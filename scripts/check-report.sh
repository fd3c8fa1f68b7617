#!/usr/bin/env bash
# check-report.sh REPORT_DIR [SCREENSHOT.png]: opens a ternbench report (REPORT_DIR/index.html)
# in headless Chromium and checks that every chart written beside it (REPORT_DIR/*.svg) is drawn
# in the page, that the console shows no error, and that the first run's verdict card starts in
# the first 1400x900 screen with its answer fully visible (it prints where the card ends and
# whether all of it fits). With SCREENSHOT.png, saves that first screen there. Installs Chromium
# from Debian's packages when it is missing and we are root with apt-get; where it cannot be
# installed, says SKIPPED and why and exits 0. Exit 1 on a missing chart, a console error or a
# verdict card below the first screen.
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  [ "${1:-}" = "--help" ] && exit 0 || exit 2
fi
shot=${2:-}
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

# The answer first: measure the first verdict card in a 1400x900 viewport. The report has no
# script; a wrapper page (test machinery only, in the temporary profile) frames it and reads
# the card's box.
W=1400 H=900
cat >"$profile/wrap.html" <<HTML
<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="file://$report/index.html" style="width:${W}px;height:${H}px;border:0"></iframe>
<pre id="out">VERDICT pending</pre>
<script>
document.getElementById('f').addEventListener('load', function () {
  var out = document.getElementById('out');
  try {
    var d = document.getElementById('f').contentDocument;
    var c = d.querySelector('section.verdict'), a = c && c.querySelector('.answer');
    if (!c || !a) { out.textContent = 'VERDICT none'; return; }
    var r = c.getBoundingClientRect(), q = a.getBoundingClientRect();
    out.textContent = 'VERDICT top=' + Math.round(r.top) + ' bottom=' + Math.round(r.bottom) +
      ' answer_bottom=' + Math.round(q.bottom);
  } catch (e) { out.textContent = 'VERDICT error ' + e; }
});
</script></body></html>
HTML
box=$("$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --allow-file-access-from-files --virtual-time-budget=5000 \
  --window-size=$W,$H --dump-dom "file://$profile/wrap.html" 2>/dev/null \
  | grep -o 'VERDICT top=[0-9-]* bottom=[0-9-]* answer_bottom=[0-9-]*' || true)
if [ -z "$box" ]; then
  echo "check-report: no verdict card (section.verdict with its .answer) measured in the page"
  fail=1
else
  read -r top bottom answer <<<"$(sed 's/[a-z_]*=//g; s/VERDICT //' <<<"$box")"
  whole=no
  [ "$bottom" -le "$H" ] && whole=yes
  echo "check-report: verdict card at ${top}-${bottom} px of the first ${W}x${H} screen (answer ends at ${answer} px; whole card in the first screen: $whole)"
  if [ "$top" -lt 0 ] || [ "$top" -ge "$H" ] || [ "$answer" -gt "$H" ]; then
    echo "check-report: the verdict card's answer is not in the first ${W}x${H} screen"
    fail=1
  fi
fi
if [ -n "$shot" ]; then
  "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=$W,$H \
    --screenshot="$shot" "file://$report/index.html" >/dev/null 2>&1 || true
  [ -s "$shot" ] && echo "check-report: first screen saved to $shot"
fi

if [ "$fail" = 0 ]; then
  echo "check-report: ok: $report/index.html rendered in $("$browser" --version 2>/dev/null | head -1), $charts chart(s) present, no console errors, the verdict first"
fi
exit "$fail"
