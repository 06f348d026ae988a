#!/usr/bin/env bash
# Alternating runs of several pointfs binaries: on a shared machine whose
# speed varies by up to 2x between minutes, only builds measured in turn
# compare fairly. For each round, each binary in turn:
#   MODE=durable (default): `put --wait` of a SIZE_MB file at redundancy 3 on
#     a fresh 5-provider devnet (as bench/upload.sh);
#   MODE=cold: the same put, then the daemon restarted without its chunk
#     cache and the page cache dropped (root), and `get` of the file.
#   MODE=mount: the file written through a fresh mount on the devnet with
#     dd bs=1M conv=fdatasync (as bench/compare.sh's mount write).
#   MODE=copy: the file written through a fresh mount, then, 1.5 s into its
#     upload, `cp -r` of COPY_FILES (default 1000) files of 64 KiB into the
#     mount: how a copy fares beside an upload under way.
# It prints, per binary, the wall time (or MB/s for cold and mount; the
# cp's time for copy) and the CPU seconds (utime+stime) of every process of
# the devnet and daemon.
# Usage: bash bench/ab.sh BIN_A BIN_B ...   (N rounds, default 3; SIZE_MB,
# default 256; BENCH_DIR picks the disk, default /var/tmp)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/ab.sh BIN..." >&2; exit 2; }
MODE=${MODE:-durable}
N=${N:-3}
SIZE_MB=${SIZE_MB:-256}
top=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pointfs-ab.XXXXXX")
pids=()
cleanup() {
  for m in "$top"/run.*/mnt; do
    mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$top"
}
trap cleanup EXIT
head -c $((SIZE_MB << 20)) /dev/urandom > "$top/file"
if [ "$MODE" = copy ]; then
  mkdir "$top/photos"
  head -c $(( ${COPY_FILES:-1000} * 65536 )) /dev/urandom | (cd "$top/photos" && split -b 65536 -a 5 - photo-)
fi
# On disk before the first round: else the first syncfs of the first
# round's providers writes it out, and that round alone pays for it.
sync

now() { date +%s.%N; }
# cpu PID...: their utime+stime, in clock ticks.
cpu() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0; done | awk '{ s += $1 } END { print s }'; }
wait_for() { for _ in $(seq 600); do [ -e "$1" ] && return; sleep 0.1; done; echo "bench/ab.sh: $1 did not appear" >&2; exit 1; }

one() {
  local bin=$1 w
  w=$(mktemp -d "$top/run.XXXXXX")
  "$bin" devnet --data "$w/net" --providers 5 > "$w/devnet.log" 2>&1 &
  local dn=$!
  pids+=("$dn")
  wait_for "$w/net/network.json"
  if [ "$MODE" = mount ] || [ "$MODE" = copy ]; then
    mkdir "$w/mnt"
    "$bin" mount --foreground --data "$w/net" "$w/mnt" > "$w/daemon.log" 2>&1 &
  else
    "$bin" daemon --data "$w/net" > "$w/daemon.log" 2>&1 &
  fi
  local dp=$!
  pids+=("$dp")
  wait_for "$w/net/pointfs.sock"
  sleep 1
  local ps c0 c1 t0 t1 id out
  if [ "$MODE" = cold ]; then
    id=$("$bin" put --data "$w/net" --redundancy 3 --wait "$top/file")
    kill "$dp"; wait "$dp" 2>/dev/null || true
    for _ in $(seq 100); do [ -S "$w/net/pointfs.sock" ] || break; sleep 0.1; done
    rm -rf "$w/net/cache"
    "$bin" daemon --data "$w/net" >> "$w/daemon.log" 2>&1 &
    dp=$!
    pids+=("$dp")
    wait_for "$w/net/pointfs.sock"
    sync
    [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches
  fi
  ps=$(pgrep -f "$w/net" | tr '\n' ' ')
  c0=$(cpu $ps)
  t0=$(now)
  if [ "$MODE" = cold ]; then
    "$bin" get --data "$w/net" "$id" "$w/out"
  elif [ "$MODE" = mount ]; then
    dd if="$top/file" of="$w/mnt/file" bs=1M conv=fdatasync status=none
  elif [ "$MODE" = copy ]; then
    dd if="$top/file" of="$w/mnt/file" bs=1M status=none
    sleep 1.5
    c0=$(cpu $ps)
    t0=$(now)
    cp -r "$top/photos" "$w/mnt/photos"
  else
    "$bin" put --data "$w/net" --redundancy 3 --wait "$top/file" > /dev/null
  fi
  t1=$(now)
  c1=$(cpu $ps)
  if [ "$MODE" = mount ] || [ "$MODE" = copy ]; then
    fusermount3 -u "$w/mnt" 2>/dev/null || umount -l "$w/mnt" 2>/dev/null || true
  fi
  kill "$dp" "$dn" 2>/dev/null || true
  wait "$dp" "$dn" 2>/dev/null || true
  if [ "$MODE" = cold ] || [ "$MODE" = mount ]; then
    [ "$MODE" = mount ] || cmp -s "$top/file" "$w/out" || { echo "bench/ab.sh: $bin read back other bytes" >&2; exit 1; }
    out=$(awk -v s="$SIZE_MB" -v t="$(awk "BEGIN { print $t1 - $t0 }")" 'BEGIN { printf "%.0fMB/s", s * 1.048576 / t }')
  else
    out=$(awk "BEGIN { printf \"%.2fs\", $t1 - $t0 }")
  fi
  rm -rf "$w"
  awk -v o="$out" -v c="$(( ${c1%.*} - ${c0%.*} ))" 'BEGIN { printf "%s/%.1fcpu", o, c / 100 }'
}

declare -A res
for _ in $(seq "$N"); do
  for b in "$@"; do res[$b]+="$(one "$b") "; done
done
echo "== $MODE, $SIZE_MB MiB at redundancy 3, 5 providers, $N rounds in turn"
for b in "$@"; do echo "$b: ${res[$b]}"; done
