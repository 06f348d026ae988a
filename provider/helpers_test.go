package provider

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// testLogger logs to stderr when POINTFS_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("POINTFS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startServer starts a provider in a fresh temp dir; mod may change the
// config first.
func startServer(t testing.TB, mod func(*Config)) *Server {
	t.Helper()
	key, err := ethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), Key: key, Logger: testLogger()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startClient(t testing.TB, boot ...peer.AddrInfo) *Client {
	t.Helper()
	key, err := ethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(testCtx(t), key, ClientConfig{Bootstrap: boot, Logger: testLogger(), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// know tells c where s listens, as Discover would.
func know(c *Client, s *Server) {
	c.Host().Peerstore().AddAddrs(s.ID(), s.Host().Addrs(), peerstore.PermanentAddrTTL)
}

// replica is a sealed replica cut into segments, with its tree.
type replica struct {
	link   meta.LinkID
	data   []byte
	hash   string
	segSz  int
	hashes []meta.ID
	root   meta.ID
}

func newReplica(t testing.TB, size, segSize int, hash string) *replica {
	t.Helper()
	r := &replica{link: meta.NewLinkID(), data: make([]byte, size), hash: hash, segSz: segSize}
	rand.Read(r.data)
	h, err := merkle.HasherFor(hash)
	if err != nil {
		t.Fatal(err)
	}
	r.hashes = merkle.SegmentHashes(h, r.data, segSize)
	r.root = merkle.RootWith(h, r.hashes)
	return r
}

func (r *replica) segMap() SegmentMap {
	return SegmentMap{Link: r.link, Root: r.root, Hash: r.hash, SegmentSize: r.segSz,
		SealedLen: int64(len(r.data)), Hashes: r.hashes}
}

func (r *replica) request(expires time.Time) StoreRequest {
	return StoreRequest{Link: r.link, SealedLen: int64(len(r.data)), Expires: expires.Unix()}
}

func (r *replica) segment(i int) Segment {
	end := min((i+1)*r.segSz, len(r.data))
	return Segment{Index: i, Data: r.data[i*r.segSz : end]}
}

// segments returns the given segments, or all of them when none are given.
func (r *replica) segments(idx ...int) []Segment {
	if len(idx) == 0 {
		for i := range r.hashes {
			idx = append(idx, i)
		}
	}
	out := make([]Segment, len(idx))
	for k, i := range idx {
		out[k] = r.segment(i)
	}
	return out
}

func (r *replica) missing(acked []int) []int {
	got := make(map[int]bool, len(acked))
	for _, i := range acked {
		got[i] = true
	}
	var out []int
	for i := range r.hashes {
		if !got[i] {
			out = append(out, i)
		}
	}
	return out
}

// droppingStore starts a provider that drops every segment whose
// index%4 == 1 the first time it comes (Faults.DropSegmentsOnce), and a
// client that has had a replica of segs 16 KiB segments under hash
// accepted there (STORE_CHUNK_REQUEST).
func droppingStore(t *testing.T, segs int, hash string) (*Server, *Client, *replica, context.Context) {
	t.Helper()
	s := startServer(t, func(c *Config) { c.Faults.DropSegmentsOnce = true })
	c := startClient(t, s.AddrInfo())
	ctx := testCtx(t)
	r := newReplica(t, segs*16<<10, 16<<10, hash)
	if err := c.Store(ctx, s.ID(), r.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	return s, c, r, ctx
}
