#!/usr/bin/env bash
# Through the front door: 3 qs-node processes and one qs-frontend on
# loopback, driven over HTTP by wrk (the tool the peers' http.sh uses).
# Measures, each for DUR:
#   get-c64   GET /v1/kv/k (consistency any) at 64 connections   (P4)
#   put-c64   PUT /v1/kv/k<n>, 100-byte values, 64 connections    (P1, or P3 with DURABILITY=memory)
#   put-c1    the same with one connection: latency               (P2)
# and prints wrk's summary with latency percentiles for each.
#
#	DURABILITY=disk DUR=10s bash scripts/bench-http.sh
#	ONLY='put-c64|put-c1' DURABILITY=memory bash scripts/bench-http.sh
#
# The front end's admin listener (pprof, /metrics) is on 127.0.0.1:BASE+303,
# node i's on BASE+210+i: profile a run with, e.g.,
#	go tool pprof -top 'http://127.0.0.1:18403/debug/pprof/profile?seconds=5' 
set -euo pipefail
cd "$(dirname "$0")/.."
DURABILITY=${DURABILITY:-disk}
DUR=${DUR:-10s}
SIZE=${SIZE:-100}
ONLY=${ONLY:-get-c64|put-c64|put-c1}
BASE=${BASE:-18100}
PARTS=${PARTS:-16}
export DEBIAN_FRONTEND=noninteractive
command -v wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
go build -o "$work/qs-node" ./cmd/node
go build -o "$work/qs-frontend" ./cmd/frontend
seeds="127.0.0.1:$((BASE + 101)),127.0.0.1:$((BASE + 102)),127.0.0.1:$((BASE + 103))"
for i in 1 2 3; do
	"$work/qs-node" -id "$i" -bootstrap 1,2,3 -kv-partitions "$PARTS" -durability "$DURABILITY" \
		-transport "127.0.0.1:$((BASE + i))" -gossip "127.0.0.1:$((BASE + 100 + i))" \
		-http "127.0.0.1:$((BASE + 200 + i))" -admin "127.0.0.1:$((BASE + 210 + i))" -data "$work/n$i" -seeds "$seeds" -log-level warn \
		>"$work/node$i.log" 2>&1 &
done
fe="127.0.0.1:$((BASE + 300))"
"$work/qs-frontend" -id 100 -seeds "$seeds" -transport "127.0.0.1:$((BASE + 301))" \
	-gossip "127.0.0.1:$((BASE + 302))" -http "$fe" -admin "127.0.0.1:$((BASE + 303))" -log-level warn >"$work/frontend.log" 2>&1 &
val=$(head -c "$SIZE" /dev/zero | tr '\0' v)
for _ in $(seq 1 120); do
	curl -fsS -o /dev/null -X PUT "http://$fe/v1/kv/k" --data "$val" 2>/dev/null && break
	sleep 0.5
done
curl -fsS -o /dev/null "http://$fe/v1/kv/k" || { echo "front end never served" >&2; cat "$work"/*.log >&2; exit 1; }
cat >"$work/put.lua" <<LUA
local n = 0
local body = string.rep("v", $SIZE)
request = function()
	n = n + 1
	return wrk.format("PUT", "/v1/kv/k" .. (n % 100000), nil, body)
end
LUA
run() { # name conns script...
	local name=$1 conns=$2
	shift 2
	echo "$name" | grep -Eq "^($ONLY)$" || return 0
	local threads=2
	[ "$conns" -lt 2 ] && threads=1
	echo "== $name (durability $DURABILITY, $conns connections, $DUR)"
	wrk -t "$threads" -c "$conns" -d "$DUR" --latency "$@" | grep -E 'Requests/sec|Non-2xx|Socket errors|^ +(50|75|90|99)%|Latency '
}
run get-c64 64 "http://$fe/v1/kv/k"
run put-c64 64 -s "$work/put.lua" "http://$fe"
run put-c1 1 -s "$work/put.lua" "http://$fe"
# HOLD=1 keeps the cluster up after the runs (Ctrl-C ends it): for wrk
# or pprof by hand, e.g. against a node's own API at BASE+201.
[ -z "${HOLD:-}" ] || { echo "holding: front end http://$fe, nodes http://127.0.0.1:$((BASE + 201))..$((BASE + 203))"; wait; }
