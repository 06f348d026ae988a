#!/usr/bin/env bash
# Time to durable: a SIZE_MB file (default 256) put at redundancy 3 on a
# 5-provider devnet (providers are separate processes), against the physical
# baseline measured in the same run on the same disk: writing the same file 4
# times with dd conv=fdatasync (one local copy + 3 replicas' worth of bytes).
# Usage: bash bench/upload.sh   (BENCH_DIR picks the disk, default /var/tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin/pointfs}
SIZE_MB=${SIZE_MB:-256}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pointfs-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

head -c $((SIZE_MB << 20)) /dev/urandom > "$work/file"

t0=$(now)
for i in 1 2 3 4; do dd if="$work/file" of="$work/copy$i" bs=1M conv=fdatasync status=none; done
t1=$(now)
rm -f "$work"/copy*
base=$(calc "$t1 - $t0")

"$BIN" devnet --data "$work/net" --providers 5 > "$work/devnet.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -f "$work/net/network.json" ] && break; sleep 0.1; done
[ -f "$work/net/network.json" ] || { echo "devnet did not start:"; cat "$work/devnet.log"; exit 1; }
"$BIN" daemon --data "$work/net" > "$work/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -S "$work/net/pointfs.sock" ] && break; sleep 0.1; done

t2=$(now)
id=$("$BIN" put --data "$work/net" --redundancy 3 --wait "$work/file")
t3=$(now)
took=$(calc "$t3 - $t2")

printf '\n== time to durable, %d MiB at redundancy 3, 5 providers (same disk, same run)\n' "$SIZE_MB"
printf '%-44s %10s %12s\n' "what" "seconds" "MB/s (file)"
printf '%-44s %10.2f %12.1f\n' "native: dd conv=fdatasync x4 (baseline)" "$base" "$(calc "$SIZE_MB*1.048576/$base")"
printf '%-44s %10.2f %12.1f\n' "pointfs put --wait (id ${id:0:12}...)" "$took" "$(calc "$SIZE_MB*1.048576/$took")"
printf '%-44s %10.2f   (goal >= 0.5)\n' "ratio pointfs / baseline throughput" "$(calc "$base/$took")"
