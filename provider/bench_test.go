package provider

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/pointfs/pointfs/meta/merkle"
)

// BenchmarkSendSegments measures the per-provider ceiling of the data path:
// 64 MiB in 16 KiB segments pipelined through SendSegments to one provider
// on loopback, which checks each segment's hash and writes it to disk.
func BenchmarkSendSegments(b *testing.B) {
	for _, transport := range []string{"tcp", "quic"} {
		for _, hash := range []string{merkle.HashBlake3, merkle.HashKeccak256} {
			b.Run(fmt.Sprintf("%s/%s", transport, hash), func(b *testing.B) {
				benchSend(b, transport, hash)
			})
		}
	}
}

func benchSend(b *testing.B, transport, hash string) {
	const size, segSize = 64 << 20, 16 << 10
	s := startServer(b, nil)
	c := startClient(b)
	// Only the transport under test, so the client cannot pick the other.
	for _, a := range s.Host().Addrs() {
		proto := ma.P_TCP
		if transport == "quic" {
			proto = ma.P_QUIC_V1
		}
		if _, err := a.ValueForProtocol(proto); err == nil {
			c.Host().Peerstore().AddAddrs(s.ID(), []ma.Multiaddr{a}, peerstore.PermanentAddrTTL)
		}
	}
	ctx := testCtx(b)
	r := newReplica(b, size, segSize, hash)
	h, _ := merkle.HasherFor(hash)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// A fresh replica each round: a root already held is not rewritten.
		r.data[0]++
		r.link[0]++
		r.hashes[0] = h(r.data[:segSize])
		r.root = merkle.RootWith(h, r.hashes)
		if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
			b.Fatal(err)
		}
		if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
			b.Fatal(err)
		}
		segs := r.segments()
		b.StartTimer()
		acked, err := c.SendSegments(ctx, s.ID(), r.root, segs, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if len(acked) != len(segs) {
			b.Fatalf("%d of %d acked", len(acked), len(segs))
		}
	}
}

// BenchmarkReadSegments measures the per-provider ceiling of the read path,
// the counterpart of BenchmarkSendSegments: a 64 MiB replica stored once,
// then read back from one provider on loopback a chunk's 16 segments per
// GET_CHUNK, as a cold read asks for them, each segment checked against
// its hash as the client does. It leaves out the client's decryption and
// the hand-off to the reader, so it bounds what a cold read can reach on
// this machine's cores.
func BenchmarkReadSegments(b *testing.B) {
	const size, segSize, perChunk = 64 << 20, 16 << 10, 16
	s := startServer(b, nil)
	c := startClient(b)
	for _, a := range s.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			c.Host().Peerstore().AddAddrs(s.ID(), []ma.Multiaddr{a}, peerstore.PermanentAddrTTL)
		}
	}
	ctx := testCtx(b)
	r := newReplica(b, size, segSize, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		b.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
		b.Fatal(err)
	}
	segs := r.segments()
	if acked, err := c.SendSegments(ctx, s.ID(), r.root, segs, 10*time.Second); err != nil || len(acked) != len(segs) {
		b.Fatalf("stored %d of %d segments: %v", len(acked), len(segs), err)
	}
	h, _ := merkle.HasherFor(merkle.HashBlake3)
	check := func(i int, seg []byte) error {
		if h(seg) != r.hashes[i] {
			return fmt.Errorf("segment %d does not match its hash", i)
		}
		return nil
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A few chunks in flight at once, as a read-ahead keeps them.
		var g errgroup.Group
		g.SetLimit(4)
		for first := 0; first < len(segs); first += perChunk {
			g.Go(func() error {
				return c.ReadSegments(ctx, s.ID(), r.root, first, min(perChunk, len(segs)-first), check)
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
