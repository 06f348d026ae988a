#!/usr/bin/env bash
# pointfs side by side with what a user would pick instead, on this machine,
# in one run (issue 6). It prints one table: each figure, its peer, the
# ratio and the goal, and whether the goal is met.
#
#   native disk   dd BIG write (conv=fdatasync) and read (page cache dropped):
#                 the physical baseline; also 4 KiB writes and SMALL x4.
#   rclone mount  of a local directory, --vfs-cache-mode writes: the FUSE
#                 peer, same sequential write/read and 4 KiB writes.
#   The sequential writes of BIG that the goal compares (native, rclone
#   mount, pointfs mount) run back to back in ROUNDS rounds (default 3), and
#   the table gives medians: the machine's speed drifts too much between
#   minutes for one write of each, minutes apart, to compare fairly.
#   restic        backup of the SMALL file to a local repository: the
#                 chunk/hash/encrypt/store peer (one copy).
#   pointfs       on a devnet of 5 provider processes (`pointfs devnet`):
#                 time until the SMALL file is durable at redundancy 3
#                 (`pointfs daemon` + `put --wait`, as bench/upload.sh), its
#                 cold read from the providers (chunk cache deleted, daemon
#                 restarted, `pointfs get`; ROUNDS rounds, each right after a
#                 native read of the same file); then the mount on the same data
#                 dir: sequential write and read of BIG, the daemon's peak RSS
#                 (VmHWM) until BIG is uploaded at redundancy 3, 4 KiB
#                 buffered writes, `ls -l` of FILES entries after a remount,
#                 `cp -r` of COPY_FILES files of 64 KiB (also to the native
#                 disk and the rclone mount) and until they are uploaded;
#                 `tar x` of a source tree (TREE, default Go's src/; also to
#                 the native disk and the rclone mount), until it is
#                 uploaded, its user.point.pending then, and its `rm -rf`;
#                 and the tick's cost with 100,000 chunks stored ÷ with none
#                 (BenchmarkTick in upload/tick_bench_test.go; measured once
#                 badger's compactions after loading them are done, and
#                 right after loading them).
#
# The mount runs on the devnet rather than the embedded one so that the RSS
# is the client's own: the embedded devnet puts five providers (their badger
# stores and buffers) in the daemon's process.
#
# Knobs: BENCH_GB (BIG, default 1; SMALL is a quarter of it, 256 MiB by
# default; fractions work: BENCH_GB=0.25), FILES (default 10000), BENCH_DIR
# (the disk, default /var/tmp), BIN (default bin/pointfs, built if missing),
# ROUNDS (default 3), COPY_FILES (default 1000), SKIP="rclone restic tick
# coldmount copy tree" to leave rows out; TREE (a directory, default Go's
# src/).
# Needs root to drop the page cache and to install rclone/restic/fuse3/attr
# when missing (apt-get); without root, rows that need them are skipped and
# reads may come from memory (the table says so).
# It stops by itself (every wait is bounded) and cleans up: unmounts, stops
# every process it started, deletes its data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_GB=${BENCH_GB:-1}
BIG_MB=$(awk -v g="$BENCH_GB" 'BEGIN { m = int(g * 1024); if (m < 4) m = 4; print m }')
SMALL_MB=$(( BIG_MB / 4 ))
FILES=${FILES:-10000}
ROUNDS=${ROUNDS:-3}
COPY_FILES=${COPY_FILES:-1000}
SKIP=${SKIP:-}
skip() { [[ " $SKIP " == *" $1 "* ]]; }

log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
mbs() { calc "$1 * 1.048576 / $2"; } # MiB and seconds -> MB/s

is_root=false
[ "$(id -u)" = 0 ] && is_root=true

# --- tools -----------------------------------------------------------------
need=()
for t in rclone:rclone restic:restic fusermount3:fuse3 getfattr:attr; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ] && $is_root && command -v apt-get >/dev/null; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1; } ||
    log "apt-get install ${need[*]} failed"
fi
notes=()
have_rclone=true; have_restic=true; have_fuse=true
command -v rclone >/dev/null || { have_rclone=false; notes+=("rclone rows skipped: rclone is not installed (apt-get install rclone, as root)"); }
command -v restic >/dev/null || { have_restic=false; notes+=("restic row skipped: restic is not installed (apt-get install restic, as root)"); }
if ! command -v fusermount3 >/dev/null || ! command -v getfattr >/dev/null || [ ! -e /dev/fuse ]; then
  have_fuse=false; have_rclone=false
  notes+=("mount rows skipped: needs /dev/fuse, fusermount3 and getfattr (apt-get install fuse3 attr)")
fi

# --- work dir, cleanup -----------------------------------------------------
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pointfs-compare.XXXXXX")
# A private copy of the binary: others may rebuild bin/pointfs meanwhile.
BIN_SRC=${BIN:-$ROOT/bin/pointfs}
if [ ! -x "$BIN_SRC" ]; then
  log "building $BIN_SRC"
  go build -o "$BIN_SRC" ./cmd/pointfs
fi
cp "$BIN_SRC" "$work/pointfs"
BIN=$work/pointfs
net=$work/net
mnt=$work/mnt
rmnt=$work/rclone-mnt
mkdir -p "$mnt" "$rmnt" "$work/rclone-src"
pids=() # processes we started, stopped in reverse order

mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
cleanup() {
  set +e
  if mounted "$mnt"; then
    "$BIN" unmount --timeout 60s "$mnt" >/dev/null 2>&1 || fusermount3 -u -z "$mnt" 2>/dev/null
  fi
  if mounted "$rmnt"; then fusermount3 -u "$rmnt" 2>/dev/null || fusermount3 -u -z "$rmnt" 2>/dev/null; fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cold_note=""
drop_caches() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 > /proc/sys/vm/drop_caches
  else
    cold_note="page cache not dropped (not root): reads may come from memory"
  fi
}
# secs CMD...: run CMD, print the seconds it took.
secs() {
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  calc "$t1 - $t0"
}
# wait_for SECONDS DESCRIPTION TEST...: poll TEST every 0.1 s, fail after SECONDS.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local end=$(( $(date +%s) + limit ))
  until "$@"; do
    [ "$(date +%s)" -le "$end" ] || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

# Results, by key; missing ones print as "-".
declare -A R
dd_q() { dd "$@" status=none; }
# touch_gbs: how fast fresh memory is first touched, in GB/s (dd's 1 GiB
# buffer filled once). On a VM whose host takes back the guest's free
# memory, a page's first touch after that costs the host a fault: seen at
# 0.2-0.5 GB/s against 2-2.7 GB/s a few minutes apart on our 2-core VMs.
# Every write through the page cache pays it per new page, the native
# disk's included, so the rows that write vary up to 3x with it.
touch_gbs() { calc "1.073741824 / $(secs dd_q if=/dev/zero of=/dev/null bs=1G count=1)"; }
TOUCH=("$(touch_gbs)")

log "work dir $work; BIG ${BIG_MB} MiB, SMALL ${SMALL_MB} MiB, $FILES files"
head -c $(( BIG_MB << 20 )) /dev/urandom > "$work/big"
head -c $(( SMALL_MB << 20 )) "$work/big" > "$work/small"

# --- native disk -----------------------------------------------------------
log "native disk"
dd_q if="$work/big" of="$work/native" bs=1M conv=fdatasync
drop_caches
R[nat_read]=$(secs dd_q if="$work/native" of=/dev/null bs=1M)
rm -f "$work/native"
R[nat_4k]=$(secs dd_q if=/dev/zero of="$work/native4k" bs=4k count=$(( SMALL_MB * 256 )))
rm -f "$work/native4k"
sync
t0=$(now)
for i in 1 2 3 4; do dd_q if="$work/small" of="$work/copy$i" bs=1M conv=fdatasync; done
t1=$(now)
R[nat_x4]=$(calc "$t1 - $t0")
rm -f "$work"/copy?

# --- rclone mount (its sequential write is measured in the rounds below) ----
rc_up=false
if $have_rclone && ! skip rclone; then
  log "rclone mount"
  rclone mount "$work/rclone-src" "$rmnt" --vfs-cache-mode writes --cache-dir "$work/rclone-cache" \
    --config /dev/null > "$work/rclone.log" 2>&1 &
  rcpid=$!
  pids+=($rcpid)
  if wait_for 30 "rclone mount" mounted "$rmnt"; then
    rc_up=true
  else
    notes+=("rclone mount did not come up: $(tail -1 "$work/rclone.log")")
  fi
fi

# --- restic ----------------------------------------------------------------
if $have_restic && ! skip restic; then
  log "restic backup"
  export RESTIC_PASSWORD=pointfs-bench RESTIC_CACHE_DIR=$work/restic-cache
  restic init -q -r "$work/restic" > "$work/restic.log" 2>&1
  drop_caches
  R[restic]=$(secs restic backup -q -r "$work/restic" "$work/small")
  rm -rf "$work/restic" "$work/restic-cache"
fi

# --- pointfs: devnet, time to durable, cold read ---------------------------
log "pointfs devnet (5 provider processes)"
"$BIN" devnet --data "$net" --providers 5 > "$work/devnet.log" 2>&1 &
pids+=($!)
wait_for 120 "the devnet" test -f "$net/network.json" || { cat "$work/devnet.log"; exit 1; }

daemon_start() {
  "$BIN" daemon --data "$net" >> "$work/daemon.log" 2>&1 &
  dpid=$!
  pids+=($dpid)
  wait_for 60 "the daemon" test -S "$net/pointfs.sock" || { cat "$work/daemon.log"; exit 1; }
}
daemon_stop() {
  kill "$dpid"
  wait "$dpid" 2>/dev/null || true
  wait_for 60 "the daemon to stop" test ! -S "$net/pointfs.sock" || true
}

daemon_start
log "pointfs put --wait, ${SMALL_MB} MiB at redundancy 3"
drop_caches
t0=$(now)
id=$(timeout 1800 "$BIN" put --data "$net" --redundancy 3 --wait "$work/small")
t1=$(now)
R[durable]=$(calc "$t1 - $t0")

# The disk's read speed swings as much as its write speed (native dd read
# of 1 GiB: 641 MB/s in one run, 2.2-2.6 GB/s minutes later), so the cold
# read goal compares rounds too: in each, the native read of the same
# SMALL file right before pointfs's cold read of it.
CR_NAT=() CR_PF=()
for round in $(seq "$ROUNDS"); do
  log "cold read, round $round of $ROUNDS: native read of the ${SMALL_MB} MiB file, pointfs get (chunk cache deleted, daemon restarted)"
  drop_caches
  CR_NAT+=("$(secs dd_q if="$work/small" of=/dev/null bs=1M)")
  daemon_stop
  rm -rf "$net/cache"
  daemon_start
  drop_caches
  # To /dev/null, as the native read: `get` fails unless it wrote every
  # byte of the file (the daemon sends its length, the CLI checks it). A
  # pipe to `wc -c` cost the two cores 15% of this read (get | wc against
  # get > /dev/null, alternated on one devnet: 373-414 against 445-479
  # MB/s), work the native read does not do.
  t0=$(now)
  timeout 1800 "$BIN" get --data "$net" "$id" - > /dev/null || { log "cold read failed"; exit 1; }
  t1=$(now)
  CR_PF+=("$(calc "$t1 - $t0")")
done
daemon_stop

# --- pointfs mount (same data dir, same devnet) ----------------------------
if $have_fuse; then
  do_mount() {
    "$BIN" mount --data "$net" "$mnt" > "$work/mount.out" 2>&1 || { cat "$work/mount.out"; exit 1; }
    mpid=$(sed -n 's/.*daemon pid \([0-9]*\).*/\1/p' "$work/mount.out" | tail -1)
  }
  do_unmount() { "$BIN" unmount --timeout 300s "$mnt" > /dev/null; }
  status_is() {
    st=$(getfattr --absolute-names --only-values -n user.point.status "$1" 2>/dev/null || true)
    [ "$st" = "$2" ] || [ "$st" = failed ]
  }

  do_mount
fi

# --- sequential writes, in rounds ------------------------------------------
# The machine's speed drifts, by up to 2x from one minute to the next, so
# the writes the goal compares (native, rclone mount, pointfs mount) run
# back to back, ROUNDS times, and the table gives medians: of each figure
# and of each round's ratios. After each write the machine is let settle:
# rclone copies the file into its remote, pointfs uploads it (the first
# round's upload gives the time to durable after close and the peak RSS;
# later rounds' files are deleted again).
# cpu PID...: their utime+stime, in clock ticks.
cpu() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0; done | awk '{ s += $1 } END { print s + 0 }'; }
# quiet PID...: they used under a tenth of a CPU second in the last second.
quiet() { local c0; c0=$(cpu "$@"); sleep 1; [ $(( $(cpu "$@") - c0 )) -lt 10 ]; }
W_NAT=() W_RC=() W_M=() # empty, not unset: set -u fails on ${#X[@]} of an unset array (bash 5.2)
for round in $(seq "$ROUNDS"); do
  log "sequential write ${BIG_MB} MiB, round $round of $ROUNDS: native, rclone mount, pointfs mount"
  drop_caches
  W_NAT+=("$(secs dd_q if="$work/big" of="$work/native" bs=1M conv=fdatasync)")
  rm -f "$work/native"
  if $rc_up; then
    f=$rmnt/big
    [ "$round" = 1 ] || f=$rmnt/big.$round
    drop_caches
    W_RC+=("$(secs dd_q if="$work/big" of="$f" bs=1M conv=fdatasync)")
    # rclone copies a closed file into its remote after --vfs-write-back
    # (5 s by default), and deletes it from there after an rm.
    sleep 6
    wait_for 120 "rclone to settle" quiet "$rcpid" || true
    [ "$round" = 1 ] || { rm -f "$f"; wait_for 120 "rclone to settle" quiet "$rcpid" || true; }
  fi
  if $have_fuse; then
    f=$mnt/big
    [ "$round" = 1 ] || f=$mnt/big.$round
    drop_caches
    W_M+=("$(secs dd_q if="$work/big" of="$f" bs=1M conv=fdatasync)")
    [ "$round" = 1 ] && log "pointfs mount: waiting until it is uploaded at redundancy 3"
    t0=$(now)
    wait_for 1800 "the upload through the mount" status_is "$f" uploaded
    [ "$st" = uploaded ] || { log "upload through the mount failed"; exit 1; }
    t1=$(now)
    if [ "$round" = 1 ]; then
      R[m_durable]=$(calc "$t1 - $t0")
      R[rss]=$(awk '/VmHWM/ { print $2 / 1024 }' "/proc/$mpid/status")
    else
      rm -f "$f"
    fi
    wait_for 120 "pointfs to settle" quiet $(pgrep -f "$net") || true
  fi
done
# median X...: the middle value (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# thrs MiB SECONDS...: each as MB/s.
thrs() { local m=$1 t; shift; for t in "$@"; do mbs "$m" "$t"; done; }
# ratios A... / B... (as two space-separated lists): A_i / B_i.
ratios() { paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{ print $1 / $2 }'; }
W_NAT_MBS=$(thrs "$BIG_MB" "${W_NAT[@]}")
R[nat_write]=$(median "${W_NAT[@]}")
if [ ${#W_RC[@]} -gt 0 ]; then
  W_RC_MBS=$(thrs "$BIG_MB" "${W_RC[@]}")
  R[rc_write]=$(median "${W_RC[@]}")
fi
if [ ${#W_M[@]} -gt 0 ]; then
  W_M_MBS=$(thrs "$BIG_MB" "${W_M[@]}")
  R[m_write]=$(median "${W_M[@]}")
  R[m_write_vs_nat]=$(median $(ratios "$W_M_MBS" "$W_NAT_MBS"))
  [ ${#W_RC[@]} -gt 0 ] && R[m_write_vs_rc]=$(median $(ratios "$W_M_MBS" "$W_RC_MBS"))
fi
list() { printf '%s\n' $1 | awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }'; }
CR_NAT_MBS=$(thrs "$SMALL_MB" "${CR_NAT[@]}")
CR_PF_MBS=$(thrs "$SMALL_MB" "${CR_PF[@]}")
R[nat_read_small]=$(median "${CR_NAT[@]}")
R[cold]=$(median "${CR_PF[@]}")
R[cold_vs_nat]=$(median $(ratios "$CR_PF_MBS" "$CR_NAT_MBS"))
notes+=("cold read rounds, MB/s: native read of the same file $(list "$CR_NAT_MBS"); pointfs get $(list "$CR_PF_MBS") (the ratio is the median of each round's)")
TOUCH+=("$(touch_gbs)")
notes+=("sequential write rounds, MB/s: native $(list "$W_NAT_MBS")${W_RC_MBS:+; rclone $(list "$W_RC_MBS")}${W_M_MBS:+; pointfs $(list "$W_M_MBS")} (ratios are medians of each round's)")

# --- cp -r of many small files --------------------------------------------
# What a user does first (cp -r photos /mnt/point/): COPY_FILES files of
# 64 KiB, copied to the native disk, the rclone mount and the pointfs mount,
# and how long until all of them are uploaded at redundancy 3.
if ! skip copy; then
  log "cp -r of $COPY_FILES files of 64 KiB: native, rclone mount, pointfs mount"
  mkdir "$work/photos"
  head -c $(( COPY_FILES * 65536 )) "$work/big" | (cd "$work/photos" && split -b 65536 -a 5 - photo-)
  sync
  R[cp_nat]=$(secs cp -r "$work/photos" "$work/photos-copy")
  rm -rf "$work/photos-copy"
  if $rc_up; then
    R[cp_rc]=$(secs cp -r "$work/photos" "$rmnt/photos")
    sleep 6
    wait_for 120 "rclone to settle" quiet "$rcpid" || true
  fi
  if $have_fuse; then
    t0=$(now)
    cp -r "$work/photos" "$mnt/photos"
    t1=$(now)
    R[cp_m]=$(calc "$t1 - $t0")
    wait_for 1800 "the upload of the copied files" status_is "$mnt/photos" uploaded
    [ "$st" = uploaded ] || { log "upload of the copied files failed"; exit 1; }
    R[cp_m_durable]=$(calc "$(now) - $t0")
    wait_for 120 "pointfs to settle" quiet $(pgrep -f "$net") || true
  fi
fi

# --- a source tree: tar x, then rm -rf -------------------------------------
# The shape of a developer's files: TREE (default Go's own src/, some 11,000
# files, most of them small) unpacked with tar into the native disk, the
# rclone mount and the pointfs mount; how long until pointfs has uploaded
# all of them; then rm -rf of it. The status is polled once a second: the
# status of a directory sums up every file under it.
TREE=${TREE:-$(go env GOROOT 2>/dev/null)/src}
if ! skip tree && [ -d "$TREE" ]; then
  tar cf "$work/tree.tar" -C "$(dirname "$TREE")" "$(basename "$TREE")"
  R[tree_files]=$(tar tf "$work/tree.tar" | grep -vc '/$')
  R[tree_mb]=$(calc "$(stat -c %s "$work/tree.tar") / 1000000")
  log "tar x of ${R[tree_files]} files (${TREE}): native, rclone mount, pointfs mount"
  sync
  mkdir "$work/tree-nat"
  R[tree_nat]=$(secs tar xf "$work/tree.tar" -C "$work/tree-nat")
  sync
  R[tree_rm_nat]=$(secs rm -rf "$work/tree-nat")
  if $rc_up; then
    mkdir "$rmnt/tree"
    R[tree_rc]=$(secs tar xf "$work/tree.tar" -C "$rmnt/tree")
    sleep 6
    wait_for 300 "rclone to settle" quiet "$rcpid" || true
    R[tree_rm_rc]=$(secs rm -rf "$rmnt/tree")
    wait_for 120 "rclone to settle" quiet "$rcpid" || true
  fi
  if $have_fuse; then
    mkdir "$mnt/tree"
    # The daemon's peak RSS over the tree alone: writing 5 to clear_refs
    # resets VmHWM to the current RSS (Linux 4.0 and later).
    hwm_reset=false
    echo 5 2>/dev/null > "/proc/$mpid/clear_refs" && hwm_reset=true
    t0=$(now)
    tar xf "$work/tree.tar" -C "$mnt/tree"
    t1=$(now)
    R[tree_m]=$(calc "$t1 - $t0")
    end=$(( $(date +%s) + 1800 ))
    until status_is "$mnt/tree" uploaded || [ "$(date +%s)" -gt "$end" ]; do sleep 1; done
    [ "$st" = uploaded ] || { log "upload of the tree failed or timed out ($st)"; exit 1; }
    R[tree_m_durable]=$(calc "$(now) - $t0")
    $hwm_reset && R[tree_rss]=$(awk '/VmHWM/ { print $2 / 1024 }' "/proc/$mpid/status")
    # What a user polling the tree's status waits for each time.
    R[tree_status]=$(secs sh -c "getfattr --absolute-names --only-values -n user.point.pending '$mnt/tree' > /dev/null")
    R[tree_rm_m]=$(secs rm -rf "$mnt/tree")
    wait_for 300 "pointfs to settle" quiet $(pgrep -f "$net") || true
  fi
  rm -f "$work/tree.tar"
fi

# --- rclone mount: the rest ------------------------------------------------
if $rc_up; then
  log "rclone mount: read, write without fdatasync, 4 KiB writes"
  drop_caches
  R[rc_write_ns]=$(secs dd_q if="$work/big" of="$rmnt/big-nosync" bs=1M)
  drop_caches
  R[rc_read]=$(secs dd_q if="$rmnt/big" of=/dev/null bs=1M)
  R[rc_4k]=$(secs dd_q if=/dev/zero of="$rmnt/small4k" bs=4k count=$(( SMALL_MB * 256 )))
  if command -v strace >/dev/null; then
    # Untimed (tracing slows it): does rclone's fsync reach the disk?
    strace -f -qq -e trace=fsync,fdatasync,syncfs,sync_file_range -o "$work/rclone.strace" -p "$rcpid" &
    spid=$!
    sleep 1
    dd_q if="$work/small" of="$rmnt/traced" bs=1M count=64 conv=fdatasync
    sleep 1
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
    nsync=$(grep -cE '(fsync|fdatasync|syncfs|sync_file_range)\(' "$work/rclone.strace" || true)
    notes+=("rclone mount made $nsync fsync/fdatasync/syncfs calls while dd wrote 64 MiB with conv=fdatasync (strace): with none, its fdatasync figure never waited for the disk; pointfs's fsync flushes the spool file and the metadata")
  fi
  fusermount3 -u "$rmnt" 2>/dev/null || fusermount3 -u -z "$rmnt" 2>/dev/null || true
  rm -rf "$work/rclone-src" "$work/rclone-cache"
fi

# --- pointfs mount: the rest -----------------------------------------------
if $have_fuse; then
  log "pointfs mount: sequential read, 4 KiB writes, $FILES files"
  drop_caches
  R[m_read]=$(secs dd_q if="$mnt/big" of=/dev/null bs=1M)
  R[m_4k]=$(secs dd_q if=/dev/zero of="$mnt/small4k" bs=4k count=$(( SMALL_MB * 256 )))
  mkdir "$mnt/many"
  R[m_touch]=$(secs sh -c "cd '$mnt/many' && seq 1 $FILES | sed 's/^/file-/' | xargs touch")
  do_unmount
  do_mount
  drop_caches
  t0=$(now)
  n=$(ls -l "$mnt/many" | wc -l)
  t1=$(now)
  [ "$n" -eq $(( FILES + 1 )) ] || { log "ls -l listed $n lines, want $(( FILES + 1 ))"; exit 1; }
  R[m_ls]=$(calc "$t1 - $t0")
  if ! skip coldmount; then
    log "pointfs mount: cold read of ${BIG_MB} MiB from the providers"
    do_unmount
    rm -rf "$net/cache"
    do_mount
    drop_caches
    R[m_cold]=$(secs dd_q if="$mnt/big" of=/dev/null bs=1M)
  fi
  # Last, as its upload runs on after it: the write without fdatasync.
  drop_caches
  R[m_write_ns]=$(secs dd_q if="$work/big" of="$mnt/big-nosync" bs=1M)
  do_unmount
fi

# --- the tick with 100,000 chunks stored ÷ with none -----------------------
if ! skip tick && command -v go >/dev/null; then
  log "BenchmarkTick (fills a store with 100,000 chunks)"
  if out=$(go test -run '^$' -bench '^BenchmarkTick$' -benchtime 100x ./upload 2>&1); then
    R[tick]=$(echo "$out" | awk '/^BenchmarkTick/ { for (i = 1; i < NF; i++) if ($(i+1) == "tick-ratio") print $i }')
    R[tick_empty]=$(echo "$out" | awk '/^BenchmarkTick/ { for (i = 1; i < NF; i++) if ($(i+1) == "ns/tick-empty") print $i / 1e6 }')
    R[tick_full]=$(echo "$out" | awk '/^BenchmarkTick/ { for (i = 1; i < NF; i++) if ($(i+1) == "ns/tick-stored") print $i / 1e6 }')
    R[tick_loading]=$(echo "$out" | awk '/^BenchmarkTick/ { for (i = 1; i < NF; i++) if ($(i+1) == "tick-ratio-loading") print $i }')
  else
    notes+=("BenchmarkTick failed: $(echo "$out" | tail -3 | tr '\n' ' ')")
  fi
fi

# --- the table -------------------------------------------------------------
v() { [ -n "${R[$1]:-}" ]; }
# thr KEY MiB: MB/s of result KEY (seconds) for MiB, or empty.
thr() { v "$1" && mbs "$2" "${R[$1]}" || true; }
fmt() { [ -n "$1" ] && printf "%.${2:-1}f" "$1" || printf -- "-"; }
# verdict OK_EXPR: "yes"/"NO" from an awk condition, "-" when a figure is missing.
verdict() { if [ -z "$2" ]; then echo "-"; elif awk "BEGIN { exit !($1) }"; then echo "yes"; else echo "NO"; fi; }

nw=$(thr nat_write "$BIG_MB"); nr=$(thr nat_read "$BIG_MB"); n4=$(thr nat_4k "$SMALL_MB")
rw=$(thr rc_write "$BIG_MB"); rr=$(thr rc_read "$BIG_MB"); r4=$(thr rc_4k "$SMALL_MB")
mw=$(thr m_write "$BIG_MB"); mr=$(thr m_read "$BIG_MB"); m4=$(thr m_4k "$SMALL_MB"); mc=$(thr m_cold "$BIG_MB")
mwn=$(thr m_write_ns "$BIG_MB"); rwn=$(thr rc_write_ns "$BIG_MB")
cr=$(thr cold "$SMALL_MB"); du=$(thr durable "$SMALL_MB"); nx4=$(thr nat_x4 "$SMALL_MB")
ratio() { [ -n "$1" ] && [ -n "$2" ] && calc "$1 / $2" || true; }

row() { printf '%-50s %10s %10s %-12s %7s  %-22s %s\n' "$@"; }
echo
printf '== pointfs vs native disk, rclone mount and restic: %s, %d cores, BIG %d MiB, SMALL %d MiB, one run\n' \
  "$(uname -n)" "$(nproc)" "$BIG_MB" "$SMALL_MB"
row "what" "pointfs" "peer" "(peer)" "ratio" "goal" "met"
row "native dd write, MB/s (1M, fdatasync; median)" "" "$(fmt "$nw")" "native" "" "baseline" ""
row "native dd read, MB/s (page cache dropped)" "" "$(fmt "$nr")" "native" "" "baseline" ""
mvn=${R[m_write_vs_nat]:-}; mvr=${R[m_write_vs_rc]:-}
row "mount sequential write, MB/s (median of $ROUNDS)" "$(fmt "$mw")" "$(fmt "$nw")" "native" "$(fmt "$mvn" 2)" ">= 0.8 x native" "$(verdict "$mvn >= 0.8" "$mvn")"
row "" "" "$(fmt "$rw")" "rclone" "$(fmt "$mvr" 2)" ">= 1 x rclone" "$(verdict "$mvr >= 1" "$mvr")"
row "  the same without fdatasync (close included)" "$(fmt "$mwn")" "$(fmt "$rwn")" "rclone" "$(fmt "$(ratio "$mwn" "$rwn")" 2)" "" ""
row "mount sequential read (local chunks), MB/s" "$(fmt "$mr")" "$(fmt "$nr")" "native" "$(fmt "$(ratio "$mr" "$nr")" 2)" "" ""
row "" "" "$(fmt "$rr")" "rclone" "$(fmt "$(ratio "$mr" "$rr")" 2)" "" ""
crn=$(thr nat_read_small "$SMALL_MB"); crv=${R[cold_vs_nat]:-}
row "cold read from providers (get, median of $ROUNDS), MB/s" "$(fmt "$cr")" "$(fmt "$crn")" "native" "$(fmt "$crv" 2)" ">= 0.5 x native read" "$(verdict "$crv >= 0.5" "$crv")"
row "cold read through the mount, MB/s" "$(fmt "$mc")" "$(fmt "$nr")" "native" "$(fmt "$(ratio "$mc" "$nr")" 2)" "" ""
row "4 KiB buffered writes, MB/s" "$(fmt "$m4")" "$(fmt "$n4")" "native" "$(fmt "$(ratio "$m4" "$n4")" 2)" ">= 300 MB/s" "$(verdict "$m4 >= 300" "$m4")"
row "" "" "$(fmt "$r4")" "rclone" "$(fmt "$(ratio "$m4" "$r4")" 2)" "" ""
row "cp -r of $COPY_FILES files of 64 KiB, s" "$(fmt "${R[cp_m]:-}" 2)" "$(fmt "${R[cp_nat]:-}" 2)" "native" "$(fmt "$(ratio "${R[cp_nat]:-}" "${R[cp_m]:-}")" 2)" "" ""
row "" "" "$(fmt "${R[cp_rc]:-}" 2)" "rclone" "$(fmt "$(ratio "${R[cp_rc]:-}" "${R[cp_m]:-}")" 2)" "" ""
row "  until all of them are uploaded at r=3, s" "$(fmt "${R[cp_m_durable]:-}" 2)" "" "" "" "" ""
row "tar x of a source tree (${R[tree_files]:-?} files, $(fmt "${R[tree_mb]:-}" 0) MB), s" "$(fmt "${R[tree_m]:-}" 1)" "$(fmt "${R[tree_nat]:-}" 2)" "native" "$(fmt "$(ratio "${R[tree_nat]:-}" "${R[tree_m]:-}")" 2)" "" ""
row "" "" "$(fmt "${R[tree_rc]:-}" 1)" "rclone" "$(fmt "$(ratio "${R[tree_rc]:-}" "${R[tree_m]:-}")" 2)" "" ""
row "  until all of them are uploaded at r=3, s" "$(fmt "${R[tree_m_durable]:-}" 1)" "" "" "" "" ""
row "  daemon peak RSS meanwhile, MiB" "$(fmt "${R[tree_rss]:-}")" "" "" "" "" ""
row "  its pending (getfattr) once uploaded, s" "$(fmt "${R[tree_status]:-}" 3)" "" "" "" "" ""
row "  rm -rf of it once uploaded, s" "$(fmt "${R[tree_rm_m]:-}" 2)" "$(fmt "${R[tree_rm_nat]:-}" 2)" "native" "$(fmt "$(ratio "${R[tree_rm_nat]:-}" "${R[tree_rm_m]:-}")" 2)" "" ""
row "" "" "$(fmt "${R[tree_rm_rc]:-}" 2)" "rclone" "$(fmt "$(ratio "${R[tree_rm_rc]:-}" "${R[tree_rm_m]:-}")" 2)" "" ""
row "time to durable, ${SMALL_MB} MiB r=3, s" "$(fmt "${R[durable]:-}" 2)" "$(fmt "${R[nat_x4]:-}" 2)" "dd x4" "" "" ""
row "  as MB/s of the file" "$(fmt "$du")" "$(fmt "$nx4")" "dd x4" "$(fmt "$(ratio "$du" "$nx4")" 2)" ">= 0.5 x dd x4" "$(verdict "$du >= 0.5 * $nx4" "$du")"
row "  vs restic backup (one copy), s" "$(fmt "${R[durable]:-}" 2)" "$(fmt "${R[restic]:-}" 2)" "restic" "$(fmt "$(ratio "${R[restic]:-}" "${R[durable]:-}")" 2)" "faster than restic" "$(verdict "${R[durable]:-0} < ${R[restic]:-0}" "$(v restic && echo "${R[durable]:-}")")"
row "mount: time to durable after close, ${BIG_MB} MiB, s" "$(fmt "${R[m_durable]:-}" 1)" "" "" "" "" ""
row "ls -l of $FILES entries (after remount), s" "$(fmt "${R[m_ls]:-}" 2)" "" "" "" "<= 3 s" "$(verdict "${R[m_ls]:-0} <= 3" "${R[m_ls]:-}")"
row "  creating them (touch), s" "$(fmt "${R[m_touch]:-}" 2)" "" "" "" "" ""
row "daemon peak RSS uploading ${BIG_MB} MiB r=3, MiB" "$(fmt "${R[rss]:-}")" "" "" "" "<= 256 MiB" "$(verdict "${R[rss]:-0} <= 256" "${R[rss]:-}")"
row "tick, 100k chunks stored / none (ms: $(fmt "${R[tick_full]:-}" 2) / $(fmt "${R[tick_empty]:-}" 2))" "$(fmt "${R[tick]:-}" 2)" "" "" "" "<= 1.2" "$(verdict "${R[tick]:-0} <= 1.2" "${R[tick]:-}")"
row "  the same, right after loading the 100k (compacting)" "$(fmt "${R[tick_loading]:-}" 2)" "" "" "" "" ""
[ -n "$cold_note" ] && notes+=("$cold_note")
TOUCH+=("$(touch_gbs)")
notes+=("fresh memory's first touch, GB/s (dd bs=1G count=1 to /dev/null): $(printf '%.2f / %.2f / %.2f' "${TOUCH[@]}") at the start, after the write rounds, at the end; under 1 GB/s the host is taking back free memory and the write rows, native ones included, run slower (touch_gbs)")
for n in "${notes[@]}"; do echo "note: $n"; done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
