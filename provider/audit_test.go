package provider

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

func TestChallengeRenewRelease(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	r := newReplica(t, 100<<10+7, 16<<10, merkle.HashBlake3)
	expires := time.Now().Add(24 * time.Hour)
	storeAll(t, c, s, r, expires)
	h, _ := merkle.HasherFor(r.hash)

	for i := range r.hashes {
		var nonce [32]byte
		rand.Read(nonce[:])
		pr, err := c.Challenge(ctx, s.ID(), r.root, i, nonce)
		if err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
		if h(pr.Segment) != r.hashes[i] || !merkle.VerifyWith(h, r.root, r.hashes[i], i, len(r.hashes), pr.Path) {
			t.Fatalf("challenge %d: answer does not verify", i)
		}
	}
	if _, err := c.Challenge(ctx, s.ID(), meta.ID{1}, 0, [32]byte{}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("challenge of an unknown root: %v", err)
	}

	later := expires.Add(48 * time.Hour).Unix()
	p, err := c.Renew(ctx, s.ID(), r.root, later)
	if err != nil {
		t.Fatal(err)
	}
	if p.Expires != later || VerifyPledge(p, s.Address()) != nil {
		t.Fatalf("renewed pledge %+v", p)
	}
	if _, err := c.Renew(ctx, s.ID(), r.root, time.Now().Add(10*365*24*time.Hour).Unix()); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("renewal past the provider's limit: %v", err)
	}

	// Only the client that stored a replica may release it.
	other := startClient(t, s.AddrInfo())
	know(other, s)
	if err := other.Release(ctx, s.ID(), r.root); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("release by a stranger: %v", err)
	}
	if err := c.Release(ctx, s.ID(), r.root); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSegments(ctx, s.ID(), r.root, 0, 1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("segments after release: %v", err)
	}
	if st := s.Stats(); st.Stored != 0 || st.UsedBytes != 0 {
		t.Fatalf("stats after release: %+v", st)
	}
	if err := c.Release(ctx, s.ID(), r.root); err != nil {
		t.Fatalf("second release: %v", err)
	}
}

func TestGarbageAuditAnswerFailsVerification(t *testing.T) {
	s := startServer(t, func(cfg *Config) { cfg.Faults.GarbageAudits = true })
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	r := newReplica(t, 64<<10, 16<<10, merkle.HashBlake3)
	storeAll(t, c, s, r, time.Now().Add(time.Hour))
	h, _ := merkle.HasherFor(r.hash)
	pr, err := c.Challenge(ctx, s.ID(), r.root, 2, [32]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	if h(pr.Segment) == r.hashes[2] {
		t.Fatal("a garbage answer verified")
	}
}
