package provider

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"testing"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// storeAll runs the whole store flow of r from c to s and returns the pledge
// (not yet verified).
func storeAll(t *testing.T, c *Client, s *Server, r *replica, expires time.Time) *meta.Pledge {
	t.Helper()
	ctx := testCtx(t)
	if err := c.Store(ctx, s.ID(), r.request(expires)); err != nil {
		t.Fatalf("Store: %v", err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatalf("SendSegmentMap: %v", err)
	}
	acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second)
	if err != nil {
		t.Fatalf("SendSegments: %v", err)
	}
	if len(acked) != len(r.hashes) {
		t.Fatalf("%d of %d segments acked", len(acked), len(r.hashes))
	}
	p, err := c.RequestPledge(ctx, s.ID(), r.root)
	if err != nil {
		t.Fatalf("RequestPledge: %v", err)
	}
	return p
}

func TestStoreFlow(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	for _, hash := range []string{merkle.HashBlake3, merkle.HashKeccak256} {
		t.Run(hash, func(t *testing.T) {
			r := newReplica(t, 256<<10+28, 16<<10, hash) // a sealed chunk: last segment short
			expires := time.Now().Add(30 * 24 * time.Hour)
			p := storeAll(t, c, s, r, expires)
			if err := VerifyPledge(p, s.Address()); err != nil {
				t.Fatalf("VerifyPledge: %v", err)
			}
			if p.Client != c.Address() || p.Provider != s.Address() || p.Root != r.root ||
				p.Length != int64(len(r.data)) || p.Expires != expires.Unix() {
				t.Fatalf("pledge %+v", p)
			}

			segs, err := c.GetSegments(ctx, s.ID(), r.root, 0, len(r.hashes))
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(segs, nil); !bytes.Equal(got, r.data) {
				t.Fatal("GetSegments returned other data")
			}
			mid, err := c.GetSegments(ctx, s.ID(), r.root, 5, 3)
			if err != nil || len(mid) != 3 || !bytes.Equal(mid[0], r.segment(5).Data) {
				t.Fatalf("GetSegments(5, 3): %d segments, %v", len(mid), err)
			}

			// ECHUNKALREADYSTORED for the same root, then the pledge again.
			if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); !errors.Is(err, meta.ErrAlreadyStored) {
				t.Fatalf("second map: %v, want ErrAlreadyStored", err)
			}
			again, err := c.RequestPledge(ctx, s.ID(), r.root)
			if err != nil || VerifyPledge(again, s.Address()) != nil {
				t.Fatalf("pledge after ECHUNKALREADYSTORED: %v", err)
			}
		})
	}
	st := s.Stats()
	if st.Stored != 2 || st.Partial != 0 || st.Reserved != 0 || st.Pledges < 2 || st.Syncs < 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := c.GetSegments(ctx, s.ID(), meta.ID{9}, 0, 1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unknown root: %v", err)
	}
}

// A chunk of big segments is fetched over several frames.
func TestGetSegmentsSpansFrames(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	r := newReplica(t, 6<<20+100, 1<<20, merkle.HashBlake3)
	storeAll(t, c, s, r, time.Now().Add(time.Hour))
	segs, err := c.GetSegments(testCtx(t), s.ID(), r.root, 0, len(r.hashes))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 7 || !bytes.Equal(bytes.Join(segs, nil), r.data) {
		t.Fatalf("got %d segments", len(segs))
	}
}

func TestForgedPledgeIsCaught(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Faults.ForgePledge = true })
	c := startClient(t, s.AddrInfo())
	r := newReplica(t, 100<<10, 16<<10, merkle.HashBlake3)
	p := storeAll(t, c, s, r, time.Now().Add(time.Hour))
	if err := VerifyPledge(p, s.Address()); !errors.Is(err, meta.ErrBadPledge) {
		t.Fatalf("forged pledge verified: %v", err)
	}
}

func TestDroppedSegmentsAreResent(t *testing.T) {
	s, c, r, ctx := droppingStore(t, 20, merkle.HashKeccak256) // 5 of the 20 dropped
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) != 15 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("first send: %d acked after %v, want 15 after the ack timeout", len(acked), time.Since(start))
	}
	missing := r.missing(acked)
	for _, i := range missing {
		if i%4 != 1 {
			t.Fatalf("segment %d not acked", i)
		}
	}
	if _, err := c.RequestPledge(ctx, s.ID(), r.root); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("pledge with segments missing: %v, want ErrIncomplete", err)
	}
	acked, err = c.SendSegments(ctx, s.ID(), r.root, r.segments(missing...), 5*time.Second)
	if err != nil || len(acked) != len(missing) {
		t.Fatalf("second send: %v acked, %v", acked, err)
	}
	p, err := c.RequestPledge(ctx, s.ID(), r.root)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPledge(p, s.Address()); err != nil {
		t.Fatal(err)
	}
	// Acked segments were not sent again: 20 first, then the 5 missing.
	if got := s.Stats().DataMsgsByRoot[r.root]; got != 25 {
		t.Fatalf("%d Data messages for the root, want 25", got)
	}
}

func TestBadSegmentNotAckedNorStored(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	r := newReplica(t, 4*16<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatal(err)
	}
	segs := r.segments()
	corrupt := append([]byte(nil), segs[2].Data...)
	corrupt[100] ^= 1
	segs[2].Data = corrupt
	segs[3].Data = segs[3].Data[:100] // wrong size
	acked, err := c.SendSegments(ctx, s.ID(), r.root, segs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) != 2 || acked[0] != 0 || acked[1] != 1 {
		t.Fatalf("acked %v, want [0 1]", acked)
	}
	if st := s.Stats(); st.BadSegments != 2 || st.Stored != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := c.RequestPledge(ctx, s.ID(), r.root); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("pledge: %v, want ErrIncomplete", err)
	}
	if _, err := c.GetSegments(ctx, s.ID(), r.root, 0, 1); err == nil {
		t.Fatal("GetSegments served a partial replica")
	}
	if acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(2, 3), 5*time.Second); err != nil || len(acked) != 2 {
		t.Fatalf("resend: %v, %v", acked, err)
	}
	if p, err := c.RequestPledge(ctx, s.ID(), r.root); err != nil || VerifyPledge(p, s.Address()) != nil {
		t.Fatalf("pledge: %v", err)
	}
}

func TestAdmission(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Capacity = 1 << 20
		c.PricePerByteDay = big.NewInt(10)
		c.MaxExpiry = 48 * time.Hour
	})
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	o, err := c.Offer(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if o.Free != 1<<20 || o.PricePerByteDay.Int64() != 10 || o.MaxExpiry != 48*time.Hour ||
		o.MaxSealedLen != DefaultMaxSealedLen || o.Peer != s.ID() || o.Latency <= 0 {
		t.Fatalf("offer %+v", o)
	}
	soon := time.Now().Add(time.Hour).Unix()
	req := func(n int64, expires int64, price int64) StoreRequest {
		return StoreRequest{Link: meta.NewLinkID(), SealedLen: n, Expires: expires, Price: big.NewInt(price)}
	}
	for name, tc := range map[string]struct {
		req  StoreRequest
		want error
	}{
		"over capacity":  {req(1<<20+1, soon, 10), meta.ErrNoSpace},
		"over max":       {req(DefaultMaxSealedLen+1, soon, 10), meta.ErrDeclined},
		"empty":          {req(0, soon, 10), meta.ErrDeclined},
		"too far":        {req(100, time.Now().Add(72*time.Hour).Unix(), 10), meta.ErrDeclined},
		"in the past":    {req(100, time.Now().Add(-time.Minute).Unix(), 10), meta.ErrDeclined},
		"price too low":  {req(100, soon, 9), meta.ErrDeclined},
		"nil price is 0": {StoreRequest{Link: meta.NewLinkID(), SealedLen: 100, Expires: soon}, meta.ErrDeclined},
	} {
		if err := c.Store(ctx, s.ID(), tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// Reservations count: two of 600 KiB do not fit 1 MiB.
	first := req(600<<10, soon, 10)
	if err := c.Store(ctx, s.ID(), first); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(ctx, s.ID(), first); err != nil {
		t.Fatalf("asking again for the same link: %v", err)
	}
	if err := c.Store(ctx, s.ID(), req(600<<10, soon, 10)); !errors.Is(err, meta.ErrNoSpace) {
		t.Fatalf("second reservation: %v, want ErrNoSpace", err)
	}
	if st := s.Stats(); st.Reserved != 1 || st.UsedBytes != 600<<10 {
		t.Fatalf("stats %+v", st)
	}
	// Unused reservations are freed by the janitor after their deadline.
	s.sweep(time.Now().Add(2 * time.Hour))
	if st := s.Stats(); st.Reserved != 0 || st.UsedBytes != 0 {
		t.Fatalf("after the sweep: %+v", st)
	}
	if err := c.Store(ctx, s.ID(), req(600<<10, soon, 10)); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
}

func TestSegmentMapChecks(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	r := newReplica(t, 3*16<<10, 16<<10, merkle.HashBlake3)

	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("map without a StoreRequest: %v, want ErrNotFound", err)
	}
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	m := r.segMap()
	m.Root[0] ^= 1
	if err := c.SendSegmentMap(ctx, s.ID(), m); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("hashes that do not rebuild the root: %v, want ErrInvalid", err)
	}
	m = r.segMap()
	m.Hash = merkle.HashKeccak256 // the root was built with blake3
	if err := c.SendSegmentMap(ctx, s.ID(), m); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("wrong hash name: %v, want ErrInvalid", err)
	}
	m.Hash = "sha1"
	if err := c.SendSegmentMap(ctx, s.ID(), m); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("unknown hash: %v, want ErrDeclined", err)
	}
	m = r.segMap()
	m.SealedLen -= 1
	if err := c.SendSegmentMap(ctx, s.ID(), m); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("length differs from the request: %v, want ErrDeclined", err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatalf("the same map again (a resume): %v", err)
	}
	// Another client cannot take over the root, nor ask for its pledge.
	other := startClient(t, s.AddrInfo())
	if err := other.SendSegmentMap(ctx, s.ID(), r.segMap()); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("other client's map: %v", err)
	}
	// An index outside the map is a protocol error.
	if _, err := c.SendSegments(ctx, s.ID(), r.root, []Segment{{Index: 3, Data: []byte("x")}}, time.Second); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("segment outside the map: %v", err)
	}
	if _, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := other.RequestPledge(ctx, s.ID(), r.root); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("other client's pledge request: %v", err)
	}
}

// On a disk smaller than its capacity, a provider counts what it promised
// and has not written yet: a replica's region is a hole until its segments
// arrive, so the disk's free space alone let it accept every request. The
// count survives a restart, and written segments move from promised to
// the disk's own count.
func TestDiskFreeCountsPromisedBytes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", dir).Run(); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	key, err := ethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dir, Key: key, Logger: testLogger(), Capacity: 1 << 40}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	o, err := c.Offer(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	soon := time.Now().Add(time.Hour).Unix()
	var links []meta.LinkID
	for {
		l := meta.NewLinkID()
		err := c.Store(ctx, s.ID(), StoreRequest{Link: l, SealedLen: size, Expires: soon, Price: new(big.Int)})
		if errors.Is(err, meta.ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
		if len(links) > 20 {
			t.Fatalf("%d requests of 8 MiB accepted on a 96 MiB disk (free %d at the start)", len(links), o.Free)
		}
	}
	if want := o.Free / size; int64(len(links)) != want {
		t.Fatalf("%d requests of 8 MiB accepted with %d bytes free, want %d", len(links), o.Free, want)
	}
	t.Logf("%d bytes free: %d requests of 8 MiB accepted", o.Free, len(links))

	// One of them sends its replica: its bytes are written, not promised.
	r := newReplica(t, size, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), StoreRequest{Link: links[0], SealedLen: size, Expires: soon, Price: new(big.Int)}); err != nil {
		t.Fatal(err)
	}
	m := r.segMap()
	m.Link = links[0]
	got, err := c.SendReplica(ctx, s.ID(), m, r.segments(), 5*time.Second)
	if err != nil || got.Pledge == nil {
		t.Fatalf("replica: %+v, %v", got, err)
	}
	if err := c.Store(ctx, s.ID(), StoreRequest{Link: meta.NewLinkID(), SealedLen: size, Expires: soon, Price: new(big.Int)}); !errors.Is(err, meta.ErrNoSpace) {
		t.Fatalf("after writing a promised replica: %v, want ErrNoSpace", err)
	}

	// After a restart, the reservations still count.
	c.Close()
	s.Close()
	if s, err = Start(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c = startClient(t, s.AddrInfo())
	if err := c.Store(ctx, s.ID(), StoreRequest{Link: meta.NewLinkID(), SealedLen: size, Expires: soon, Price: new(big.Int)}); !errors.Is(err, meta.ErrNoSpace) {
		t.Fatalf("after a restart: %v, want ErrNoSpace", err)
	}
}
