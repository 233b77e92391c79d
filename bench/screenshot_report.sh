#!/usr/bin/env bash
# Render a report.html with headless Chromium (Debian's `chromium` package) into a PNG, for
# people reviewing the report's design. The page is self-contained: nothing is fetched.
#
#   bench/screenshot_report.sh [REPORT.html] [OUT.png] [HEIGHT]
#
# Defaults: reports/report.html, reports/report.png, 3000 px tall (the page is 1200 px wide).
set -euo pipefail
report=${1:-reports/report.html}
out=${2:-reports/report.png}
height=${3:-3000}
if ! command -v chromium >/dev/null; then
  echo "chromium is not installed; install Debian's package: apt-get install chromium" >&2
  exit 2
fi
if [ ! -f "$report" ]; then
  echo "no report at $report; run \`fieldproof run\` first (or name a report.html)" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# the flags keep a headless Chromium off the network this machine does not have
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="1200,$height" \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$report")" 2>/dev/null
echo "written: $out"
