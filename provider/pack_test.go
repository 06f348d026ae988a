package provider

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
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
