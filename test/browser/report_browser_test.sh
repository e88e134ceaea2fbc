#!/usr/bin/env bash
# The simulator's HTML reports in a real browser: headless Chromium (Debian's `chromium`, installed
# by scripts/install-deps.sh) opens report.html of `gpusched sim` and of `gpusched jobs --sample
# loaded` from disk (file://, offline), and the test checks
#   - the DOM Chromium built: the title, the summary table, every chart (inline SVG with its
#     lines), the heat maps' cells, and nothing fetched from elsewhere;
#   - a screenshot: a PNG of the page's size that is not blank (enough non-white pixels).
# Exits 77 (ctest: skipped, saying why) when chromium is not installed.
#   report_browser_test.sh GPUSCHED_BINARY WORK_DIR
set -uo pipefail
gpusched="$1"
work="$2"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: no chromium here (scripts/install-deps.sh installs Debian's chromium)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
fail=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

"$gpusched" sim --seeds 42-43 --out "$work/sim" >"$work/sim.log" 2>&1 || { cat "$work/sim.log"; exit 1; }
"$gpusched" jobs --sample loaded --nodes 16 --out "$work/jobs" >"$work/jobs.log" 2>&1 || { cat "$work/jobs.log"; exit 1; }

chrome() {  # chrome ARGS... URL: one headless run, its own profile, no network
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --user-data-dir="$work/profile" --proxy-server=127.0.0.1:9 "$@" 2>>"$work/chromium.log"
}

# A PNG that is not blank: decode it (8-bit RGB or RGBA, undoing the per-row filters) and count
# the pixels that are not near white; a blank page has none, a report has text, tables and lines.
not_blank() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
assert depth == 8 and colour in (2, 6), f"unexpected PNG format {depth}/{colour}"
bpp = 3 if colour == 2 else 4
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
dark = 0
for y in range(h):
    f = raw[y * (stride + 1)]
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = row[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: row[x] = (row[x] + a) & 255
        elif f == 2: row[x] = (row[x] + b) & 255
        elif f == 3: row[x] = (row[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[x] = (row[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 4):
            if min(row[x], row[x + 1], row[x + 2]) < 200:
                dark += 1
    prev = row
share = dark / ((h // 4) * (w // 4))
print(f"{w}x{h}, {share:.1%} of sampled pixels not near white")
sys.exit(0 if w >= 1000 and h >= 1000 and share > 0.01 else 1)
PY
}

for report in sim jobs; do
  page="$work/$report/report.html"
  dom="$work/$report.dom.html"
  chrome --dump-dom "file://$page" >"$dom"
  check "$report: Chromium built a DOM" test -s "$dom"
  check "$report: title and table" grep -q "<h1>" "$dom"
  check "$report: charts are inline SVG with lines" \
    bash -c "[ \$(grep -o '<polyline' '$dom' | wc -l) -ge 5 ]"
  check "$report: nothing fetched from elsewhere" bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '$dom'"
  chrome --window-size=1280,3000 --screenshot="$work/$report.png" "file://$page" >/dev/null
  check "$report: screenshot is a picture of the page" not_blank "$work/$report.png"
done
check "sim: a heat map per policy" bash -c "[ \$(grep -o 'class=\"heatmap\"' '$work/sim.dom.html' | wc -l) -eq 6 ]"
check "sim: a cell per node (120 nodes x 6 policies)" \
  bash -c "[ \$(grep -o '<rect x=' '$work/sim.dom.html' | wc -l) -ge 720 ]"
check "jobs: the job completion times chart" grep -q "Job completion times" "$work/jobs.dom.html"
check "jobs: what to look at" grep -q "What to look at:" "$work/jobs.dom.html"
[ $fail -eq 0 ] && echo "report_browser_test: all checks passed" || echo "report_browser_test: FAILED"
exit $fail
