package provider

import (
	"bytes"
	"errors"
	"testing"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// A provider restarted on the same data dir keeps its replicas, pledges,
// reservations and partial uploads, which resume with the missing segments.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	key, _ := ethcrypto.GenerateKey()
	cfg := Config{DataDir: dir, Key: key, Logger: testLogger()}
	s1, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t)
	know(c, s1)
	ctx := testCtx(t)
	expires := time.Now().Add(24 * time.Hour)

	done := newReplica(t, 256<<10, 16<<10, merkle.HashBlake3)
	p1 := storeAll(t, c, s1, done, expires)

	half := newReplica(t, 10*16<<10, 16<<10, merkle.HashKeccak256)
	if err := c.Store(ctx, s1.ID(), half.request(expires)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s1.ID(), half.segMap()); err != nil {
		t.Fatal(err)
	}
	if acked, err := c.SendSegments(ctx, s1.ID(), half.root, half.segments(0, 2, 4, 6, 8), 5*time.Second); err != nil || len(acked) != 5 {
		t.Fatalf("half: %v, %v", acked, err)
	}
	reserved := newReplica(t, 16<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s1.ID(), reserved.request(expires)); err != nil {
		t.Fatal(err)
	}
	before := s1.Stats()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if s2.ID() != s1.ID() {
		t.Fatal("identity changed")
	}
	after := s2.Stats()
	if after.Stored != 1 || after.Partial != 1 || after.Reserved != 1 || after.UsedBytes != before.UsedBytes {
		t.Fatalf("stats before %+v, after %+v", before, after)
	}
	know(c, s2) // new ports; the client's pooled streams to s1 are dead
	// The partial replica resumes from its region of the pack, behind the
	// complete one's.
	if rec, err := s2.store.record(half.root); err != nil || rec.Pack == 0 || rec.Off == 0 {
		t.Fatalf("partial replica's record %+v, %v: want a region after the first", rec, err)
	}

	segs, err := c.GetSegments(ctx, s2.ID(), done.root, 0, len(done.hashes))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(segs, nil), done.data) {
		t.Fatal("data changed across the restart")
	}
	if err := c.SendSegmentMap(ctx, s2.ID(), done.segMap()); !errors.Is(err, meta.ErrAlreadyStored) {
		t.Fatalf("map of a stored root: %v, want ErrAlreadyStored", err)
	}
	p, err := c.RequestPledge(ctx, s2.ID(), done.root)
	if err != nil {
		t.Fatal(err)
	}
	if VerifyPledge(p, s2.Address()) != nil || !bytes.Equal(p.Signature, p1.Signature) {
		t.Fatal("the kept pledge is not the one signed before")
	}

	// The partial upload resumes: the map again, then only what is missing.
	if err := c.SendSegmentMap(ctx, s2.ID(), half.segMap()); err != nil {
		t.Fatalf("resume map: %v", err)
	}
	if _, err := c.RequestPledge(ctx, s2.ID(), half.root); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("pledge of the partial replica: %v", err)
	}
	if acked, err := c.SendSegments(ctx, s2.ID(), half.root, half.segments(1, 3, 5, 7, 9), 5*time.Second); err != nil || len(acked) != 5 {
		t.Fatalf("rest: %v, %v", acked, err)
	}
	if p, err := c.RequestPledge(ctx, s2.ID(), half.root); err != nil || VerifyPledge(p, s2.Address()) != nil {
		t.Fatalf("pledge of the resumed replica: %v", err)
	}
	if got := s2.Stats().DataMsgsByRoot[half.root]; got != 5 {
		t.Fatalf("%d Data messages after the restart, want 5", got)
	}
	segs, err = c.GetSegments(ctx, s2.ID(), half.root, 0, len(half.hashes))
	if err != nil || !bytes.Equal(bytes.Join(segs, nil), half.data) {
		t.Fatalf("resumed replica: %v", err)
	}

	// The reservation made before the restart still holds.
	if err := c.SendSegmentMap(ctx, s2.ID(), reserved.segMap()); err != nil {
		t.Fatalf("map for a reservation made before the restart: %v", err)
	}
}
