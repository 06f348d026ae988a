#!/usr/bin/env bash
# Recovery from the key alone: a tree of FILES small files (4 KiB, in
# directories of 100) and one BIG_MB file written through the mount on a
# 5-provider devnet, published; then the data dir is deleted and
# `pointfs mount --key` on a new data dir brings it back. Prints how long
# the recovering mount took and how long reading the whole tree back took,
# against copying the same tree on the native disk in the same run.
# Usage: bash bench/recover.sh   (FILES, BIG_MB, BENCH_DIR; needs FUSE)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin/pointfs}
FILES=${FILES:-1000}
BIG_MB=${BIG_MB:-64}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pointfs-recover.XXXXXX")
pids=()
cleanup() {
  for m in "$work/mnt" "$work/mnt2"; do
    mountpoint -q "$m" 2>/dev/null && { "$BIN" unmount "$m" || fusermount3 -u -z "$m"; } || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
log() { printf '[recover %s] %s\n' "$(date +%T)" "$*" >&2; }

# The tree, first on the native disk.
mkdir -p "$work/tree"
for ((i = 0; i < FILES; i++)); do
  d="$work/tree/d$((i / 100))"
  mkdir -p "$d"
  head -c 4096 /dev/urandom > "$d/f$i"
done
head -c $((BIG_MB << 20)) /dev/urandom > "$work/tree/big"
sync
t0=$(now)
cp -r "$work/tree" "$work/native-copy"
sync
native=$(calc "$(now) - $t0")
rm -rf "$work/native-copy"

"$BIN" devnet --data "$work/net" --providers 5 > "$work/devnet.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -f "$work/net/network.json" ] && break; sleep 0.1; done
[ -f "$work/net/network.json" ] || { echo "devnet did not start:"; cat "$work/devnet.log"; exit 1; }
mkdir -p "$work/a" "$work/b" "$work/mnt" "$work/mnt2"
cp "$work/net/config.json" "$work/a/"
cp "$work/net/config.json" "$work/b/"

log "writing the tree through the mount and waiting until it is published"
"$BIN" mount --data "$work/a" --key "$work/net/key" "$work/mnt" 2>/dev/null
t1=$(now)
cp -r "$work/tree/." "$work/mnt/"
for _ in $(seq 3000); do
  st=$(getfattr --absolute-names --only-values -n user.point.status "$work/mnt" 2>/dev/null || true)
  [ "$st" = uploaded ] && break
  sleep 0.2
done
[ "$st" = uploaded ] || { echo "the tree was not published (status $st)"; exit 1; }
published=$(calc "$(now) - $t1")
seq=$(getfattr --absolute-names --only-values -n user.point.seq "$work/mnt")
"$BIN" unmount "$work/mnt"
rm -rf "$work/a"

log "recovering into a new data dir with the key alone"
t2=$(now)
"$BIN" mount --data "$work/b" --key "$work/net/key" "$work/mnt2" 2> "$work/recover.out"
recovered=$(calc "$(now) - $t2")
t3=$(now)
diff -r "$work/tree" "$work/mnt2" > /dev/null || { echo "the recovered tree differs"; exit 1; }
readback=$(calc "$(now) - $t3")

printf '\n== recovery from the key alone: %d files of 4 KiB in %d directories + %d MiB, 5 providers, r=3\n' \
  "$FILES" $(((FILES + 99) / 100)) "$BIG_MB"
printf '%-56s %10s\n' "what" "seconds"
printf '%-56s %10.2f\n' "native: cp -r of the tree + sync (baseline)" "$native"
printf '%-56s %10.2f\n' "write through the mount until uploaded and published (seq $seq)" "$published"
printf '%-56s %10.2f\n' "mount --key on an empty data dir (records + tree)" "$recovered"
printf '%-56s %10.2f\n' "read the whole tree back from the providers (diff -r)" "$readback"
sed 's/^/    /' "$work/recover.out"
