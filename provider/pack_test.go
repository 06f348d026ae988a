package provider

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider/wire"
)

// legacyPath is where providers before pack files kept a replica: a file
// of its own, spelled out here rather than taken from the code under test.
func legacyPath(dir string, root meta.ID) string {
	h := root.String()
	return filepath.Join(dir, "chunks", h[:2], h)
}

// putLegacy stores r in dir the way providers before pack files did: the
// given segments in a file of its own under chunks/ (named ".part" unless
// final), and a record without a pack. The provider must not be running.
func putLegacy(t *testing.T, dir string, client common.Address, r *replica, complete, final bool, segs ...int) {
	t.Helper()
	st, err := openStore(dir, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := legacyPath(dir, r.root)
	if !final {
		p += ".part"
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range segs {
		if _, err := f.WriteAt(r.segment(i).Data, int64(i*r.segSz)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &record{Link: r.link, Client: client, Hash: r.hash, SegSize: r.segSz,
		SealedLen: int64(len(r.data)), Hashes: r.hashes, Complete: complete,
		Expires: time.Now().Add(24 * time.Hour).Unix(), Updated: time.Now().Unix()}
	if err := st.adopt(client, r.link, r.root, rec); err != nil {
		t.Fatal(err)
	}
}

// checkReplica reads r back from s in full and audits every segment.
func checkReplica(t *testing.T, c *Client, s *Server, r *replica) {
	t.Helper()
	ctx := testCtx(t)
	segs, err := c.GetSegments(ctx, s.ID(), r.root, 0, len(r.hashes))
	if err != nil {
		t.Fatalf("read %s: %v", r.root, err)
	}
	if !bytes.Equal(bytes.Join(segs, nil), r.data) {
		t.Fatalf("read %s: other data", r.root)
	}
	h, _ := merkle.HasherFor(r.hash)
	for i := range r.hashes {
		var nonce [32]byte
		rand.Read(nonce[:])
		pr, err := c.Challenge(ctx, s.ID(), r.root, i, nonce)
		if err != nil {
			t.Fatalf("audit %s/%d: %v", r.root, i, err)
		}
		if h(pr.Segment) != r.hashes[i] || !merkle.VerifyWith(h, r.root, r.hashes[i], i, len(r.hashes), pr.Path) {
			t.Fatalf("audit %s/%d: answer does not verify", r.root, i)
		}
	}
}

// filesUnder lists the regular files under dir (none if it does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return filepath.SkipDir
		}
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Replicas written by a provider before pack files (a file each under
// chunks/, records without a pack) are still served, audited, resumed and
// deleted.
func TestLegacyReplicas(t *testing.T) {
	dir := t.TempDir()
	key, _ := ethcrypto.GenerateKey()
	c := startClient(t)
	whole := newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3)
	half := newReplica(t, 6*16<<10, 16<<10, merkle.HashKeccak256)
	renamed := newReplica(t, 3*16<<10, 16<<10, merkle.HashBlake3)
	putLegacy(t, dir, c.Address(), whole, true, true, 0, 1, 2, 3, 4, 5, 6)
	putLegacy(t, dir, c.Address(), half, false, false, 0, 2, 4)
	// A crash between the rename of a finished file and the index update.
	putLegacy(t, dir, c.Address(), renamed, false, true, 0, 1, 2)
	stale := newReplica(t, 4*16<<10, 16<<10, merkle.HashBlake3) // for the janitor
	putLegacy(t, dir, c.Address(), stale, false, false, 0, 1)

	s, err := Start(testCtx(t), Config{DataDir: dir, Key: key, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	know(c, s)
	ctx := testCtx(t)
	if st := s.Stats(); st.Stored != 1 || st.Partial != 3 {
		t.Fatalf("stats %+v", st)
	}
	checkReplica(t, c, s, whole)

	if err := c.SendSegmentMap(ctx, s.ID(), half.segMap()); err != nil {
		t.Fatalf("resume map: %v", err)
	}
	if acked, err := c.SendSegments(ctx, s.ID(), half.root, half.segments(1, 3, 5), 5*time.Second); err != nil || len(acked) != 3 {
		t.Fatalf("rest: %v, %v", acked, err)
	}
	if got := s.Stats().DataMsgsByRoot[half.root]; got != 3 {
		t.Fatalf("%d Data messages, want 3: the resume scan missed segments", got)
	}
	for _, r := range []*replica{half, renamed} {
		if p, err := c.RequestPledge(ctx, s.ID(), r.root); err != nil || VerifyPledge(p, s.Address()) != nil {
			t.Fatalf("pledge of %s: %v", r.root, err)
		}
		checkReplica(t, c, s, r)
	}
	if _, err := os.Stat(legacyPath(dir, half.root)); err != nil {
		t.Fatalf("the completed .part file was not renamed: %v", err)
	}

	s.sweep(time.Now().Add(s.t.partial + time.Hour)) // stale is dropped
	if _, err := os.Stat(legacyPath(dir, stale.root) + ".part"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the janitor left the .part file of a stale upload: %v", err)
	}
	for _, r := range []*replica{whole, half, renamed} {
		if err := c.Release(ctx, s.ID(), r.root); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetSegments(ctx, s.ID(), r.root, 0, 1); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("read after release: %v", err)
		}
	}
	if left := filesUnder(t, filepath.Join(dir, "chunks")); len(left) != 0 {
		t.Fatalf("files left after release: %v", left)
	}
	if st := s.Stats(); st.Stored != 0 || st.Partial != 0 || st.UsedBytes != 0 {
		t.Fatalf("stats after release %+v", st)
	}
}

// packFiles lists the pack files of the data dir, in order.
func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "packs", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// blocks returns the 512-byte blocks allocated to the file at p.
func blocks(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks
}

func mustRecord(t *testing.T, s *Server, root meta.ID) *record {
	t.Helper()
	rec, err := s.store.record(root)
	if err != nil {
		t.Fatalf("record of %s: %v", root, err)
	}
	return rec
}

// mapOnly makes the record of r on s (its region reserved) without
// sending a segment.
func mapOnly(t *testing.T, c *Client, s *Server, r *replica) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatal(err)
	}
}

func overlap(a, b *record) bool {
	return a.Pack == b.Pack && a.Off < b.Off+b.SealedLen && b.Off < a.Off+a.SealedLen
}

// setPackSize lowers replicaPackSize for one test.
func setPackSize(t *testing.T, n int64) {
	old := replicaPackSize
	replicaPackSize = n
	t.Cleanup(func() { replicaPackSize = old })
}

// New replicas share pack files: no file per replica, and they read back
// and pass audits.
func TestNewReplicasGoToPacks(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	var rs []*replica
	for i := range 3 {
		r := newReplica(t, 100<<10+7*i, 16<<10, merkle.HashBlake3)
		storeAll(t, c, s, r, time.Now().Add(time.Hour))
		rs = append(rs, r)
	}
	dir := s.cfg.DataDir
	if f := filesUnder(t, filepath.Join(dir, "chunks")); len(f) != 0 {
		t.Fatalf("files under chunks/: %v", f)
	}
	if p := packFiles(t, dir); len(p) != 1 || filepath.Base(p[0]) != "00000001.pack" {
		t.Fatalf("pack files %v, want 00000001.pack", p)
	}
	var recs []*record
	for _, r := range rs {
		checkReplica(t, c, s, r)
		rec := mustRecord(t, s, r.root)
		if rec.Pack != 1 {
			t.Fatalf("replica in pack %d", rec.Pack)
		}
		for _, o := range recs {
			if overlap(rec, o) {
				t.Fatalf("regions overlap: %+v, %+v", rec, o)
			}
		}
		recs = append(recs, rec)
	}

	// A new record's upload is kept from the map on: its first segment
	// needs no resume scan of a region never written.
	r := newReplica(t, 64<<10, 16<<10, merkle.HashBlake3)
	mapOnly(t, c, s, r)
	s.mu.Lock()
	u := s.uploads[r.root]
	s.mu.Unlock()
	if u == nil || u.missing != len(r.hashes) || u.f == nil {
		t.Fatalf("upload after the map: %+v", u)
	}
}

// twoPacks starts a provider whose packs hold 256 KiB and stores three
// replicas with it: two of 100 KiB fill pack 1, the third starts pack 2.
func twoPacks(t *testing.T) (Config, *Server, *Client, []*replica, time.Time) {
	t.Helper()
	setPackSize(t, 256<<10)
	key, _ := ethcrypto.GenerateKey()
	cfg := Config{DataDir: t.TempDir(), Key: key, Logger: testLogger()}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := startClient(t, s.AddrInfo())
	expires := time.Now().Add(time.Hour)
	rs := []*replica{
		newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3),
		newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3),
		newReplica(t, 60<<10, 16<<10, merkle.HashBlake3),
	}
	for _, r := range rs {
		storeAll(t, c, s, r, expires)
	}
	return cfg, s, c, rs, expires
}

// A region that would pass replicaPackSize starts the next pack, and a
// restarted provider appends to the last one after its end, past regions
// no record holds any more.
func TestPackSizeStartsNextPack(t *testing.T) {
	cfg, s, c, rs, expires := twoPacks(t)
	dir := cfg.DataDir
	if p := packFiles(t, dir); len(p) != 2 {
		t.Fatalf("pack files %v, want 2", p)
	}
	if rec := mustRecord(t, s, rs[2].root); rec.Pack != 2 || rec.Off != 0 {
		t.Fatalf("third replica at pack %d offset %d, want the start of pack 2", rec.Pack, rec.Off)
	}
	gone := newReplica(t, 60<<10, 16<<10, merkle.HashBlake3)
	storeAll(t, c, s, gone, expires)
	recGone := mustRecord(t, s, gone.root)
	if err := c.Release(testCtx(t), s.ID(), gone.root); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	know(c, s)
	r := newReplica(t, 60<<10, 16<<10, merkle.HashBlake3)
	storeAll(t, c, s, r, expires)
	if rec := mustRecord(t, s, r.root); rec.Pack != 2 || rec.Off < recGone.Off+recGone.SealedLen {
		t.Fatalf("after a restart: pack %d offset %d, want pack 2 from %d on", rec.Pack, rec.Off, recGone.Off+recGone.SealedLen)
	}
	for _, r := range append(rs, r) {
		checkReplica(t, c, s, r)
	}
}

// A region reserved is covered by the pack's size at once, before any
// record names it, so a reopened store appends past it.
func TestReserveGrowsPackFirst(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100<<10 + 7
	var last int64
	for range 2 {
		pack, off, err := st.packs.reserve(n)
		if err != nil || pack != 1 || off < last {
			t.Fatalf("reserve: pack %d offset %d, %v", pack, off, err)
		}
		fi, err := os.Stat(filepath.Join(dir, "packs", "00000001.pack"))
		if err != nil || fi.Size() < off+n {
			t.Fatalf("pack not grown over [%d, %d): %v, %v", off, off+n, fi, err)
		}
		last = off + n
	}
	st.Close()
	if st, err = openStore(dir, testLogger()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pack, off, err := st.packs.reserve(n); err != nil || pack != 1 || off < last {
		t.Fatalf("after reopening: pack %d offset %d, want past %d: %v", pack, off, last, err)
	}
}

// After a restart a new region never overlaps one a record holds, even
// when the pack lost its growth (a power cut can keep the index's write
// and not the file's size); both replicas are then stored intact.
func TestRestartReservesPastCommittedRegions(t *testing.T) {
	dir := t.TempDir()
	key, _ := ethcrypto.GenerateKey()
	cfg := Config{DataDir: dir, Key: key, Logger: testLogger()}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := startClient(t)
	know(c, s)
	a := newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3)
	mapOnly(t, c, s, a)
	recA := mustRecord(t, s, a.root)
	s.Close()
	if err := os.Truncate(filepath.Join(dir, "packs", "00000001.pack"), 0); err != nil {
		t.Fatal(err)
	}

	s, err = Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	know(c, s)
	b := newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3)
	mapOnly(t, c, s, b)
	if recB := mustRecord(t, s, b.root); overlap(recA, recB) {
		t.Fatalf("regions overlap: %+v, %+v", recA, recB)
	}
	ctx := testCtx(t)
	for _, r := range []*replica{b, a} {
		if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
			t.Fatal(err)
		}
		if acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second); err != nil || len(acked) != len(r.hashes) {
			t.Fatalf("segments: %v, %v", acked, err)
		}
		if _, err := c.RequestPledge(ctx, s.ID(), r.root); err != nil {
			t.Fatal(err)
		}
	}
	checkReplica(t, c, s, a)
	checkReplica(t, c, s, b)
}

// canPunch reports whether dir's filesystem frees blocks by punching holes.
func canPunch(t *testing.T, dir string) bool {
	f, err := os.CreateTemp(dir, "punch")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 64<<10) == nil
}

// Deleting a replica (released, or a stalled upload dropped by the
// janitor) frees its blocks in the pack; its neighbours read back intact.
func TestDeletePunchesHole(t *testing.T) {
	s := startServer(t, nil)
	if !canPunch(t, s.cfg.DataDir) {
		t.Skip("the temp dir's filesystem cannot punch holes")
	}
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	var rs []*replica
	for range 3 {
		r := newReplica(t, 200<<10+7, 16<<10, merkle.HashKeccak256)
		storeAll(t, c, s, r, time.Now().Add(48*time.Hour))
		rs = append(rs, r)
	}
	stalled := newReplica(t, 200<<10+7, 16<<10, merkle.HashBlake3)
	mapOnly(t, c, s, stalled)
	if acked, err := c.SendSegments(ctx, s.ID(), stalled.root, stalled.segments(0, 1, 2, 3, 4, 5, 6, 7), 5*time.Second); err != nil || len(acked) != 8 {
		t.Fatalf("segments: %v, %v", acked, err)
	}
	pack := filepath.Join(s.cfg.DataDir, "packs", "00000001.pack")
	f, err := os.Open(pack)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// freed checks that del freed at least want bytes of the pack and
	// that no data is left from the start of rec's region to next (the
	// next region's start, or -1 for the end of the pack): the hole covers
	// the block of the region's tail too.
	freed := func(what string, rec *record, next, want int64, del func()) {
		t.Helper()
		before := blocks(t, pack)
		del()
		if got := (before - blocks(t, pack)) * 512; got < want {
			t.Fatalf("%s freed %d bytes of the pack, want %d", what, got, want)
		}
		data, err := unix.Seek(int(f.Fd()), rec.Off, unix.SEEK_DATA)
		if next < 0 && !errors.Is(err, unix.ENXIO) || next >= 0 && (err != nil || data != next) {
			t.Fatalf("%s: data at %d (%v) after the region at %d, want the hole to reach %d", what, data, err, rec.Off, next)
		}
	}
	rec1, rec2, recStalled := mustRecord(t, s, rs[1].root), mustRecord(t, s, rs[2].root), mustRecord(t, s, stalled.root)
	freed("release", rec1, rec2.Off, 200<<10, func() {
		if err := c.Release(ctx, s.ID(), rs[1].root); err != nil {
			t.Fatal(err)
		}
	})
	freed("the janitor", recStalled, -1, 8*16<<10, func() {
		s.sweep(time.Now().Add(s.t.partial + time.Hour)) // the others expire later
		if _, err := s.store.record(stalled.root); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("stalled upload not dropped: %v", err)
		}
	})
	checkReplica(t, c, s, rs[0])
	checkReplica(t, c, s, rs[2])
	if _, err := c.GetSegments(ctx, s.ID(), rs[1].root, 0, 1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("read after release: %v", err)
	}
}

// A map whose region cannot be had is refused, and the reservation stays
// for a later try.
func TestMapRefusedWithoutPack(t *testing.T) {
	setPackSize(t, 150<<10) // the second replica needs pack 2
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	storeAll(t, c, s, newReplica(t, 100<<10, 16<<10, merkle.HashBlake3), time.Now().Add(time.Hour))
	next := filepath.Join(s.cfg.DataDir, "packs", "00000002.pack")
	if err := os.Mkdir(next, 0o700); err != nil { // cannot be opened as a file
		t.Fatal(err)
	}
	r := newReplica(t, 100<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	var we *wire.Error
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); !errors.As(err, &we) || we.Code != wire.CodeInternal {
		t.Fatalf("map without a pack: %v, want an internal error", err)
	}
	if _, err := s.store.record(r.root); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("record made without a region: %v", err)
	}
	if err := os.Remove(next); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatalf("map once the pack can be made: %v", err)
	}
	if rec := mustRecord(t, s, r.root); rec.Pack != 2 {
		t.Fatalf("replica in pack %d, want 2", rec.Pack)
	}
}

// A pack whose replicas are all deleted is deleted too (its file and its
// descriptor), unless regions are still appended to it; at a start, pack
// files no record holds a region of go (a crash can leave one between a
// region's reservation and its record).
func TestEmptyPackDeleted(t *testing.T) {
	cfg, s, c, rs, expires := twoPacks(t)
	dir := cfg.DataDir
	ctx := testCtx(t)
	if err := c.Release(ctx, s.ID(), rs[0].root); err != nil {
		t.Fatal(err)
	}
	if p := packFiles(t, dir); len(p) != 2 {
		t.Fatalf("pack files %v after deleting one of two replicas of pack 1, want 2", p)
	}
	if err := c.Release(ctx, s.ID(), rs[1].root); err != nil {
		t.Fatal(err)
	}
	if p := packFiles(t, dir); len(p) != 1 || filepath.Base(p[0]) != packName(2) {
		t.Fatalf("pack files %v after deleting all of pack 1, want only %s", p, packName(2))
	}
	checkReplica(t, c, s, rs[2])
	// Deleting the last replica of the current pack keeps it.
	if err := c.Release(ctx, s.ID(), rs[2].root); err != nil {
		t.Fatal(err)
	}
	if p := packFiles(t, dir); len(p) != 1 {
		t.Fatalf("pack files %v: the current pack went", p)
	}
	s.Close()

	// A pack file no record holds (as a crash can leave) goes at the next
	// start; the current one stays and regions go on after its end.
	if err := os.WriteFile(filepath.Join(dir, "packs", packName(1)), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if p := packFiles(t, dir); len(p) != 1 || filepath.Base(p[0]) != packName(2) {
		t.Fatalf("pack files %v after a restart, want only %s", p, packName(2))
	}
	know(c, s)
	r := newReplica(t, 60<<10, 16<<10, merkle.HashBlake3)
	storeAll(t, c, s, r, expires)
	if rec := mustRecord(t, s, r.root); rec.Pack != 2 {
		t.Fatalf("after a restart: a new replica in pack %d, want 2", rec.Pack)
	}
	checkReplica(t, c, s, r)
}
