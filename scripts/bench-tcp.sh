#!/usr/bin/env bash
# Ordered, replicated updates over the TCP transport between 3 qs-node
# processes on loopback, driven by each node's built-in load generator
# (closed-loop kv clients through the node's Router on the partitions it
# sequences; no HTTP). The kv service has NGROUPS partitions of 3 clones,
# placed by the partition map. Prints one JSON report per node and the sum.
#
#	NGROUPS=1 DURABILITY=disk CLIENTS=64 DURATION=10 bash scripts/bench-tcp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NGROUPS=${NGROUPS:-1}
DURABILITY=${DURABILITY:-disk}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-10}
SIZE=${SIZE:-100}
BASE=${BASE:-17100}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
go build -o "$work/qs-node" ./cmd/node
for i in 1 2 3; do
	"$work/qs-node" -id "$i" -bootstrap 1,2,3 -kv-partitions "$NGROUPS" -durability "$DURABILITY" \
		-transport "127.0.0.1:$((BASE + i))" -gossip "127.0.0.1:$((BASE + 100 + i))" \
		-http "127.0.0.1:$((BASE + 200 + i))" -data "$work/n$i" -seeds "127.0.0.1:$((BASE + 101))" \
		-log-level warn -load-clients "$CLIENTS" -load-for "${DURATION}s" -load-size "$SIZE" \
		>"$work/out$i" 2>"$work/err$i" &
done
# Each node prints its report when its load ends.
deadline=$((DURATION + 90))
for i in 1 2 3; do
	for _ in $(seq 1 "$deadline"); do
		grep -q updates_per_second "$work/out$i" 2>/dev/null && break
		sleep 1
	done
done
cat "$work"/out1 "$work"/out2 "$work"/out3
python3 - "$work" <<'PY'
import json, sys, glob
reps = []
for f in sorted(glob.glob(sys.argv[1] + "/out*")):
    lines = [l for l in open(f).read().splitlines() if l.startswith("{")]
    if lines:
        reps.append(json.loads(lines[-1]))
if not reps:
    sys.exit("no load reports")
tot = sum(r["updates_per_second"] for r in reps)
print(json.dumps({"total_updates_per_second": round(tot), "p50_us_max": max(r["p50_us"] for r in reps),
                  "p99_us_max": max(r["p99_us"] for r in reps), "errors": sum(r["errors"] for r in reps)}))
PY
