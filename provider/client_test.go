package provider

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// A stream the provider closed while it sat in the client's pool is
// replaced transparently.
func TestPooledStreamClosedByProvider(t *testing.T) {
	key, _ := ethcrypto.GenerateKey()
	cfg, err := Config{DataDir: t.TempDir(), Key: key, Logger: testLogger()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tm := defaultTimings
	tm.idle = 100 * time.Millisecond
	s, err := start(testCtx(t), cfg, tm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := startClient(t, s.AddrInfo())
	for range 3 {
		if _, err := c.Offer(testCtx(t), s.ID()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the provider drops the idle stream
	}
	// A whole replica too, though its pipeline is no simple request.
	r := newReplica(t, 3*16<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(testCtx(t), s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	got, err := c.SendReplica(testCtx(t), s.ID(), r.segMap(), r.segments(), 5*time.Second)
	if err != nil || got.Pledge == nil || len(got.Acked) != 3 {
		t.Fatalf("replica on a stream the provider closed: %+v, %v", got, err)
	}
}

// Many links at once to one provider: the client bounds what is in flight,
// every pledge verifies, and signing shares syncs (group commit).
func TestConcurrentUploads(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	const n = 64
	reps := make([]*replica, n)
	for i := range reps {
		reps[i] = newReplica(t, 64<<10+i, 16<<10, merkle.HashBlake3)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, r := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testCtx(t)
			if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
				errs <- err
				return
			}
			if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
				errs <- err
				return
			}
			if acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second); err != nil || len(acked) != len(r.hashes) {
				errs <- errors.Join(err, errors.New("not all acked"))
				return
			}
			p, err := c.RequestPledge(ctx, s.ID(), r.root)
			if err == nil {
				err = VerifyPledge(p, s.Address())
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("%d links in %v, %d syncs for %d pledges", n, time.Since(start), st.Syncs, st.Pledges)
	if st.Stored != n || st.Pledges != n {
		t.Fatalf("stats %+v", st)
	}
}

// Pledges are signed in groups: many waiting requests share one syncfs.
func TestGroupSyncBatches(t *testing.T) {
	g, err := newGroupSync(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d waiters served by %d syncs in %v", n, g.Rounds(), time.Since(start))
	if g.Rounds() >= n/2 {
		t.Fatalf("%d syncs for %d waiters: no grouping", g.Rounds(), n)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(context.Background()); !errors.Is(err, meta.ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

// A cancelled context ends a pipelined send at once.
func TestSendSegmentsCancel(t *testing.T) {
	s, c, r, ctx := droppingStore(t, 8, merkle.HashBlake3)
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SendSegments(cctx, s.ID(), r.root, r.segments(), time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v, want DeadlineExceeded soon", time.Since(start), err)
	}
	// The client goes on working with the provider.
	if _, err := c.Offer(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
}

// SendReplica: map, data and signature request in one round trip; the same
// again finds the replica stored and still gets the pledge.
func TestSendReplica(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	r := newReplica(t, 5*16<<10+123, 16<<10, merkle.HashBlake3)
	ctx := testCtx(t)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	got, err := c.SendReplica(ctx, s.ID(), r.segMap(), r.segments(), 5*time.Second)
	if err != nil || !got.MapDone || got.MapErr != nil || len(got.Acked) != len(r.hashes) || got.PledgeErr != nil {
		t.Fatalf("replica: %+v, %v", got, err)
	}
	if err := VerifyPledge(got.Pledge, s.Address()); err != nil || got.Pledge.Root != r.root {
		t.Fatalf("pledge %+v: %v", got.Pledge, err)
	}
	again, err := c.SendReplica(ctx, s.ID(), r.segMap(), r.segments(), 5*time.Second)
	if err != nil || !errors.Is(again.MapErr, meta.ErrAlreadyStored) || again.Pledge == nil || VerifyPledge(again.Pledge, s.Address()) != nil {
		t.Fatalf("again: %+v, %v; want already stored, with the pledge", again, err)
	}
	if st := s.Stats(); st.Stored != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Segments the provider does not acknowledge (it drops some, once) show as
// missing, the pledge is refused as incomplete, and the stream stays in
// step: what is missing, sent again step by step, completes the replica.
func TestSendReplicaIncomplete(t *testing.T) {
	s, c, r, ctx := droppingStore(t, 8, merkle.HashBlake3)
	start := time.Now()
	got, err := c.SendReplica(ctx, s.ID(), r.segMap(), r.segments(), time.Minute)
	if err != nil || !got.MapDone || got.MapErr != nil || got.Pledge != nil || !errors.Is(got.PledgeErr, ErrIncomplete) {
		t.Fatalf("replica: %+v, %v; want the pledge refused as incomplete", got, err)
	}
	if len(got.Acked) == 0 || len(got.Acked) == len(r.hashes) {
		t.Fatalf("acked %v of %d; the fault drops some", got.Acked, len(r.hashes))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: waited for the ack timeout", d)
	}
	acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(r.missing(got.Acked)...), 5*time.Second)
	if err != nil || len(acked)+len(got.Acked) != len(r.hashes) {
		t.Fatalf("resent: acked %v, %v", acked, err)
	}
	p, err := c.RequestPledge(ctx, s.ID(), r.root)
	if err != nil || VerifyPledge(p, s.Address()) != nil {
		t.Fatalf("pledge: %+v, %v", p, err)
	}
}

// A segment map the provider refuses ends SendReplica with its error, and
// the data written behind it does no harm: the next request works.
func TestSendReplicaRefusedMap(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t, s.AddrInfo())
	r := newReplica(t, 4*16<<10, 16<<10, merkle.HashBlake3)
	ctx := testCtx(t)
	// No STORE_CHUNK_REQUEST first: the provider knows no such link.
	got, err := c.SendReplica(ctx, s.ID(), r.segMap(), r.segments(), 5*time.Second)
	if err == nil || got.MapErr == nil || got.Pledge != nil || len(got.Acked) != 0 {
		t.Fatalf("replica of an unknown link: %+v, %v; want the map refused", got, err)
	}
	t.Logf("refused: %v", err)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	got, err = c.SendReplica(ctx, s.ID(), r.segMap(), r.segments(), 5*time.Second)
	if err != nil || got.Pledge == nil || len(got.Acked) != len(r.hashes) {
		t.Fatalf("after the store request: %+v, %v", got, err)
	}
}
