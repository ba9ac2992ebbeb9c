#!/usr/bin/env bash
# Guanxi beside PostGraphile v5 in one run (BENCHMARKS.md opens with its table): builds the
# release binary, then runs tests/load/peers/side_by_side.sh (a private PostgreSQL 15 on port
# 55432, both data sets, wrk against each target in turn) and prints the ratio table.
#
#   bash tests/load/peers.sh                 # env: ROUNDS [1] QUERIES ["q0 q1 q2 q3 q4"] DURATION WARMUP CONNS RESEED
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/guanxi-target}"
cargo build --release --locked --bin guanxi -q
# One token drives the whole load: neither rate-limit buckets nor turns apply to it.
out=$(GUANXI_RATE_LIMITS=off ROUNDS="${ROUNDS:-1}" bash tests/load/peers/side_by_side.sh "$CARGO_TARGET_DIR/release/guanxi" | tee /dev/stderr | tail -1)
echo
echo "commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores"
python3 - "$out" <<'PY'
import re, sys
from collections import defaultdict
rates = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    m = re.match(r"(\S+)\s+(q\d)\s+r\d+\s+(\d+) req/s\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms", line)
    if m:
        rates[m[2]][m[1]].append((float(m[3]), float(m[4]), float(m[5])))
print("| page | PostGraphile req/s | Guanxi req/s | Guanxi p50 / p99 | Guanxi ÷ peer |")
print("| --- | ---: | ---: | --- | ---: |")
for q in sorted(rates):
    pg, gx = rates[q].get("postgraphile", []), rates[q].get("guanxi", [])
    mean = lambda runs, i: sum(r[i] for r in runs) / len(runs)
    peer = f"{mean(pg, 0):,.0f}" if pg else "—"
    ours = f"{mean(gx, 0):,.0f}" if gx else "—"
    lat = f"{mean(gx, 1):.1f} / {mean(gx, 2):.1f} ms" if gx else ""
    ratio = f"{mean(gx, 0) / mean(pg, 0):.2f}×" if pg and gx else ""
    print(f"| {q} | {peer} | {ours} | {lat} | {ratio} |")
PY
