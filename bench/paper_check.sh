#!/usr/bin/env bash
# The full FGD-paper check (not run in CI; simulator/engine_test.cc runs a reduced one there).
#
# Replays the openb default trace on the 1,213 GPU nodes, inflated to 130 %, for the six policies
# and seeds 42-51, and compares the unallocated GPU % at 100 % arrived with the paper's table
# (../shared/docs/openb-fgd.md, "Target"):
#   - FGD and BestFit means within 2 sd of the paper: |ours - paper| <= 2 * max(sd_paper, sd_ours);
#   - FGD < BestFit < min(Packing, Clustering), max(Packing, Clustering) < Random, DotProd < Random.
# Prints a table (ours vs paper), wall time and peak memory, PASS or FAIL; exits 1 on FAIL.
#
#   bench/paper_check.sh                      # builds gpusched (scripts/build.sh normal gpusched)
#   OPENB_DIR=/data/openb bench/paper_check.sh
#   GPUSCHED=build-x/cli/gpusched bench/paper_check.sh   # use a binary already built, no build
#   SEEDS=42-51 THREADS=8 bench/paper_check.sh
# The simulation takes 30-70 s on 2 cores (plus the build).
# Output: out/paper-check/ (report.html, summary.json, runs.csv, time.txt, progress.log).
set -euo pipefail
cd "$(dirname "$0")/.."

openb="${OPENB_DIR:-../shared/data/openb}"
seeds="${SEEDS:-42-51}"
threads="${THREADS:-$(nproc)}"
out=out/paper-check
nodes="$openb/openb_node_list_gpu_node.csv"
pods="$openb/openb_pod_list_default.csv"

for f in "$nodes" "$pods"; do
  if [ ! -f "$f" ]; then
    echo "paper_check: $f not found (set OPENB_DIR to the directory holding the openb CSVs)" >&2
    exit 2
  fi
done
command -v python3 >/dev/null 2>&1 || { echo "paper_check: python3 is needed" >&2; exit 2; }

if [ -n "${GPUSCHED:-}" ]; then
  bin="$GPUSCHED"
else
  scripts/build.sh normal gpusched
  bin=build/cli/gpusched
fi
[ -x "$bin" ] || { echo "paper_check: $bin is not an executable" >&2; exit 2; }

mkdir -p "$out"
cmd=("$bin" sim --cluster "$nodes" --trace "$pods" --seeds "$seeds" --threads "$threads" --json
     --out "$out")
echo "paper_check: ${cmd[*]}" >&2
start=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$out/time.txt" "${cmd[@]}" >"$out/stdout.json" 2>"$out/progress.log" || {
    tail -n 20 "$out/progress.log" >&2; exit 1; }
else
  "${cmd[@]}" >"$out/stdout.json" 2>"$out/progress.log" || { tail -n 20 "$out/progress.log" >&2; exit 1; }
  : >"$out/time.txt"
fi
end=$(date +%s.%N)

python3 - "$out/stdout.json" "$out/time.txt" "$start" "$end" "$threads" <<'EOF'
import json, re, sys

summary_path, time_path, start, end, threads = sys.argv[1:6]
summary = json.load(open(summary_path))
ours = {p["policy"]: p for p in summary["policies"]}

# The paper's table: unallocated GPU % at 100 % arrived, mean and sd over seeds 42-51.
paper = {"fgd": (4.77, 0.11), "bestfit": (7.14, 0.14), "packing": (8.22, 0.53),
         "clustering": (8.35, 0.61), "dotprod": (9.38, 0.19), "random": (13.70, 0.33)}
names = {"fgd": "FGD", "bestfit": "BestFit", "packing": "Packing", "clustering": "Clustering",
         "dotprod": "DotProd", "random": "Random"}

missing = [p for p in paper if p not in ours or ours[p]["unallocated_at_100"] is None]
if missing:
    print("paper_check: FAIL: no unallocated_at_100 for " + ", ".join(missing))
    sys.exit(1)

mean = {p: ours[p]["unallocated_at_100"]["mean"] for p in paper}
sd = {p: ours[p]["unallocated_at_100"]["sd"] for p in paper}

print()
print(summary.get("title", ""))
print(f"{'policy':<11} {'runs':>4}  {'ours (mean ± sd)':>17}  {'paper (mean ± sd)':>17}  "
      f"{'ours-paper':>10}  {'in sd':>5}  {'@130 ours':>9}")
for p in paper:
    pm, ps = paper[p]
    d = mean[p] - pm
    k = abs(d) / max(ps, sd[p]) if max(ps, sd[p]) > 0 else float("inf")
    u130 = ours[p].get("unallocated_at_130")
    u130s = f"{u130['mean']:.2f}" if u130 else "n/a"
    print(f"{names[p]:<11} {ours[p]['runs']:>4}  {mean[p]:>9.2f} ± {sd[p]:<5.2f}  "
          f"{pm:>9.2f} ± {ps:<5.2f}  {d:>+10.2f}  {k:>5.1f}  {u130s:>9}")
print("(paper at 130 %: FGD 4.61 ± 0.08, BestFit 6.92 ± 0.13, DotProd 9.15 ± 0.20)")

checks = []
def within_2sd(p):
    pm, ps = paper[p]
    tol = 2 * max(ps, sd[p])
    return (f"{names[p]} mean {mean[p]:.2f} within 2 sd ({tol:.2f}) of the paper's {pm:.2f}",
            abs(mean[p] - pm) <= tol)
checks.append(within_2sd("fgd"))
checks.append(within_2sd("bestfit"))
m = mean
checks.append((f"FGD {m['fgd']:.2f} < BestFit {m['bestfit']:.2f}", m["fgd"] < m["bestfit"]))
checks.append((f"BestFit {m['bestfit']:.2f} < min(Packing, Clustering) "
               f"{min(m['packing'], m['clustering']):.2f}",
               m["bestfit"] < min(m["packing"], m["clustering"])))
checks.append((f"max(Packing, Clustering) {max(m['packing'], m['clustering']):.2f} < Random "
               f"{m['random']:.2f}", max(m["packing"], m["clustering"]) < m["random"]))
checks.append((f"DotProd {m['dotprod']:.2f} < Random {m['random']:.2f}",
               m["dotprod"] < m["random"]))

print()
for text, ok in checks:
    print(f"  {'ok  ' if ok else 'FAIL'}  {text}")

wall = float(end) - float(start)
peak = None
try:
    t = open(time_path).read()
    g = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    if g:
        peak = int(g.group(1))
except OSError:
    pass
runs = sum(ours[p]["runs"] for p in paper)
print()
print(f"wall {wall:.1f} s for {runs} runs on {threads} threads"
      + (f", peak memory {peak / 1024:.0f} MiB" if peak else ", peak memory n/a (no /usr/bin/time)"))
ok = all(ok for _, ok in checks)
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
