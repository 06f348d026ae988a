#!/usr/bin/env bash
# The mount against the native disk, in the same run on the same disk:
#   - 1 GiB sequential write (dd bs=1M conv=fdatasync) and read (page cache
#     dropped first) through the mount ÷ native dd;
#   - cold read of the uploaded file from the providers (the engine's chunk
#     cache deleted, the daemon restarted, page cache dropped) ÷ native read;
#   - 4 KiB buffered writes (dd bs=4k, 256 MiB, time includes close);
#   - ls -l of 10,000 entries, cold (after a remount and a cache drop);
#   - peak RSS (VmHWM) of the mount daemon while it uploads 1 GiB at
#     redundancy 3 to a 5-provider devnet (providers are separate processes).
# It stops by itself and unmounts. Needs root for dropping the page cache
# (without it, reads may come from memory and say so).
# Usage: bash bench/mount.sh   (BENCH_DIR picks the disk, default /var/tmp;
# SIZE_MB the big file, default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin/pointfs}
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-10000}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/pointfs
command -v fusermount3 >/dev/null || { echo "bench/mount.sh: fusermount3 missing (apt-get install fuse3)"; exit 1; }
command -v getfattr >/dev/null || { echo "bench/mount.sh: getfattr missing (apt-get install attr)"; exit 1; }
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pointfs-mount-bench.XXXXXX")
data=$work/net
mnt=$work/mnt
mkdir -p "$mnt"
pids=()
cleanup() {
  if grep -q " $mnt " /proc/mounts 2>/dev/null; then
    "$BIN" unmount --timeout 60s "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
drop_caches() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; else cold="(page cache not dropped: not root)"; fi
}
cold=""
# dd_secs ARGS...: run dd, print the seconds it took including close.
dd_secs() {
  local t0 t1
  t0=$(now)
  dd "$@" status=none
  t1=$(now)
  calc "$t1 - $t0"
}
mbs() { calc "$1 * 1.048576 / $2"; }
daemon_pid() { sed -n 's/.*daemon pid \([0-9]*\).*/\1/p' "$work/mount.out" | tail -1; }
do_mount() {
  "$BIN" mount --data "$data" "$mnt" > "$work/mount.out" 2>&1 || { cat "$work/mount.out"; exit 1; }
}

echo "bench/mount.sh: preparing $SIZE_MB MiB of random data in $work"
head -c $((SIZE_MB << 20)) /dev/urandom > "$work/src"

# --- native baselines, same disk ---
drop_caches
nat_write=$(dd_secs if="$work/src" of="$work/native" bs=1M conv=fdatasync)
drop_caches
nat_read=$(dd_secs if="$work/native" of=/dev/null bs=1M)
rm -f "$work/native"
nat_4k=$(dd_secs if=/dev/zero of="$work/native4k" bs=4k count=65536)
rm -f "$work/native4k"

# --- a devnet of 5 provider processes; the mount uses it ---
"$BIN" devnet --data "$data" --providers 5 > "$work/devnet.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -f "$data/network.json" ] && break; sleep 0.1; done
[ -f "$data/network.json" ] || { echo "devnet did not start:"; cat "$work/devnet.log"; exit 1; }

do_mount
pid=$(daemon_pid)

# 1 GiB write through the mount, then the upload; peak RSS meanwhile.
drop_caches
mnt_write=$(dd_secs if="$work/src" of="$mnt/big" bs=1M conv=fdatasync)
t0=$(now)
deadline=$(( $(date +%s) + 1800 ))
while :; do
  st=$(getfattr --absolute-names --only-values -n user.point.status "$mnt/big" 2>/dev/null || true)
  [ "$st" = uploaded ] && break
  [ "$st" = failed ] && { echo "upload failed"; exit 1; }
  [ "$(date +%s)" -gt "$deadline" ] && { echo "upload not done after 30 min"; exit 1; }
  sleep 0.5
done
t1=$(now)
durable=$(calc "$t1 - $t0")
hwm_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")

# Read back (from the engine's local chunk cache).
drop_caches
mnt_read=$(dd_secs if="$mnt/big" of=/dev/null bs=1M)

# 4 KiB buffered writes.
mnt_4k=$(dd_secs if=/dev/zero of="$mnt/small4k" bs=4k count=65536)

# 10,000 entries, listed cold.
mkdir "$mnt/many"
t0=$(now)
(cd "$mnt/many" && seq 1 "$FILES" | sed 's/^/file-/' | xargs touch)
t1=$(now)
creates=$(calc "$t1 - $t0")
"$BIN" unmount "$mnt"
do_mount
drop_caches
t0=$(now)
n=$(ls -l "$mnt/many" | wc -l)
t1=$(now)
ls_cold=$(calc "$t1 - $t0")
[ "$n" -eq $((FILES + 1)) ] || { echo "ls -l listed $n lines, want $((FILES + 1))"; exit 1; }

# Cold read: no local chunk, a fresh daemon, no page cache.
"$BIN" unmount "$mnt"
rm -rf "$data/cache"
do_mount
drop_caches
mnt_cold=$(dd_secs if="$mnt/big" of=/dev/null bs=1M)
cmp -s "$work/src" "$mnt/big" || { echo "cold read: content differs"; exit 1; }
"$BIN" unmount "$mnt"

printf '\n== mount vs native, %d MiB, same disk, same run %s\n' "$SIZE_MB" "$cold"
printf '%-46s %10s %10s %8s %s\n' "what" "pointfs" "native" "ratio" "goal"
printf '%-46s %10.1f %10.1f %8.2f %s\n' "sequential write, MB/s (dd 1M, fdatasync)" "$(mbs "$SIZE_MB" "$mnt_write")" "$(mbs "$SIZE_MB" "$nat_write")" "$(calc "$nat_write/$mnt_write")" ">= 0.8"
printf '%-46s %10.1f %10.1f %8.2f %s\n' "sequential read, MB/s (local chunk cache)" "$(mbs "$SIZE_MB" "$mnt_read")" "$(mbs "$SIZE_MB" "$nat_read")" "$(calc "$nat_read/$mnt_read")" ""
printf '%-46s %10.1f %10.1f %8.2f %s\n' "cold read from providers, MB/s" "$(mbs "$SIZE_MB" "$mnt_cold")" "$(mbs "$SIZE_MB" "$nat_read")" "$(calc "$nat_read/$mnt_cold")" ">= 0.5"
printf '%-46s %10.1f %10.1f %8.2f %s\n' "4 KiB buffered writes, MB/s (256 MiB)" "$(mbs 256 "$mnt_4k")" "$(mbs 256 "$nat_4k")" "$(calc "$nat_4k/$mnt_4k")" ">= 300 MB/s"
printf '%-46s %10.2f %10s %8s %s\n' "ls -l of $FILES entries, cold, s" "$ls_cold" "" "" "<= 3 s"
printf '%-46s %10.2f %10s %8s %s\n' "creating $FILES empty files (touch), s" "$creates" "" "" ""
printf '%-46s %10.1f %10s %8s %s\n' "time to durable after close, $SIZE_MB MiB r=3, s" "$durable" "" "" ""
printf '%-46s %10.1f %10s %8s %s\n' "daemon peak RSS while uploading, MiB" "$(calc "$hwm_kb/1024")" "" "" "<= 256 MiB"
