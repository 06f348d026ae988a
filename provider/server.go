package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/pay"
)

// Server is a storage provider: it answers the storage protocol on a libp2p
// host, keeps replicas in its data dir and announces itself on the DHT.
type Server struct {
	cfg   Config
	t     timings
	log   *slog.Logger
	addr  common.Address
	host  host.Host
	dht   *dht.IpfsDHT
	store *store
	sync  *groupSync

	payee     *pay.Payee // nil: payments off (payments.go)
	maxUnpaid *big.Int

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	admitMu sync.Mutex // serializes reservations and maps (they are rare)

	mu       sync.Mutex
	closed   bool
	used     int64    // sealed bytes held, receiving or reserved
	stored   int      // complete replicas
	partial  int      // replicas receiving segments
	reserved int      // reservations waiting for their map
	promised promised // bytes promised, not written yet (promised.go)
	uploads  map[meta.ID]*upload
	dropped  map[segKey]struct{} // Faults.DropSegmentsOnce memory
	perRoot  map[meta.ID]int64   // Data messages per root
	streams  map[network.Stream]struct{}

	dataMsgs, badSegments, droppedSegments, pledges, protoErrors atomic.Int64
}

type segKey struct {
	root  meta.ID
	index int
}

// Stats are a provider's counters, for tests and status pages.
type Stats struct {
	Stored    int   // complete replicas
	Partial   int   // replicas receiving segments
	Reserved  int   // accepted StoreRequests waiting for their map
	UsedBytes int64 // sealed bytes held, receiving or reserved
	Capacity  int64
	// DataMsgs counts every Data message received (stored, repeated, bad
	// or dropped) since Start; DataMsgsByRoot splits it by root.
	DataMsgs        int64
	DataMsgsByRoot  map[meta.ID]int64
	BadSegments     int64 // segments refused for a wrong hash or size
	DroppedSegments int64 // segments ignored by Faults.DropSegmentsOnce
	Pledges         int64 // pledges signed
	Syncs           int64 // group-commit rounds
	ProtocolErrors  int64 // streams closed for a malformed message
}

// Start opens the data dir, starts the host, serves the storage protocol
// and announces the provider on the DHT. ctx bounds the start only; the
// server runs until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return start(ctx, cfg, defaultTimings)
}

func start(ctx context.Context, cfg Config, t timings) (_ *Server, err error) {
	s := &Server{
		cfg:     cfg,
		t:       t,
		log:     cfg.Logger,
		addr:    ethcrypto.PubkeyToAddress(cfg.Key.PublicKey),
		uploads: make(map[meta.ID]*upload),
		dropped: make(map[segKey]struct{}),
		perRoot: make(map[meta.ID]int64),
		streams: make(map[network.Stream]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = openStore(cfg.DataDir, s.log); err != nil {
		return nil, err
	}
	if err = s.count(); err != nil {
		return nil, err
	}
	if err = s.store.packs.dropUnused(); err != nil {
		return nil, err
	}
	extra := unlessSameFilesystem(cfg.DataDir, s.store.indexDir(), s.store.db.Sync)
	if s.sync, err = newGroupSync(cfg.DataDir, extra); err != nil {
		return nil, err
	}
	if err = s.startPayee(); err != nil {
		return nil, err
	}
	if s.host, err = newHost(cfg.Key, cfg.Listen); err != nil {
		return nil, err
	}
	s.host.SetStreamHandler(protocol.ID(ProtocolID), s.handleStream)
	if s.dht, err = newDHT(ctx, s.host, dht.ModeServer, cfg.Bootstrap, s.log); err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.advertise()
	go s.janitor()
	s.log.Info("provider started", "peer", s.host.ID(), "address", s.addr, "addrs", s.host.Addrs(),
		"data", cfg.DataDir, "used", s.used, "capacity", cfg.Capacity)
	return s, nil
}

// count sums up the index at start: replicas, reservations, room used.
func (s *Server) count() error {
	err := s.store.each(prefixRecord, func(k, v []byte) error {
		var r record
		if err := decodeRecord(v, &r); err != nil {
			return err
		}
		s.used += r.SealedLen
		if r.Pack != 0 {
			s.store.packs.claim(r.Pack, r.Off+r.SealedLen)
		}
		if r.Complete {
			s.stored++
		} else {
			s.partial++
			// Until it is loaded and its segments counted, all of it.
			s.promised.set(replicaPromise(meta.ID(k)), r.SealedLen)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("provider: read index: %w", err)
	}
	return s.store.each(prefixReservation, func(k, v []byte) error {
		var r reservation
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		s.used += r.SealedLen
		s.promised.set(string(append([]byte{prefixReservation}, k...)), r.SealedLen)
		s.reserved++
		return nil
	})
}

// ID returns the provider's peer id.
func (s *Server) ID() peer.ID { return s.host.ID() }

// Address returns the provider's Ethereum address (the pledge signer).
func (s *Server) Address() common.Address { return s.addr }

// Addrs returns the provider's listen addresses with /p2p/ appended.
func (s *Server) Addrs() []ma.Multiaddr { return fullAddrs(s.host) }

// AddrInfo returns the provider's peer id and listen addresses, the form a
// bootstrap list takes.
func (s *Server) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: s.host.ID(), Addrs: s.host.Addrs()}
}

// Host returns the provider's libp2p host.
func (s *Server) Host() host.Host { return s.host }

// Stats returns a snapshot of the provider's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{
		Stored: s.stored, Partial: s.partial, Reserved: s.reserved,
		UsedBytes: s.used, Capacity: s.cfg.Capacity,
		DataMsgsByRoot: make(map[meta.ID]int64, len(s.perRoot)),
	}
	for k, v := range s.perRoot {
		st.DataMsgsByRoot[k] = v
	}
	s.mu.Unlock()
	st.DataMsgs = s.dataMsgs.Load()
	st.BadSegments = s.badSegments.Load()
	st.DroppedSegments = s.droppedSegments.Load()
	st.Pledges = s.pledges.Load()
	st.ProtocolErrors = s.protoErrors.Load()
	if s.sync != nil {
		st.Syncs = s.sync.Rounds()
	}
	return st
}

// free returns how many more sealed bytes the provider can take: what its
// capacity leaves, bounded by the free space of the data dir's disk less
// what it promised and has not written yet (promised.go). A reserved
// region is a hole that takes blocks only as segments are written (as a
// .part file grew), and a deleted one's blocks are given back by punching
// it (as by removing its file). Where holes cannot be punched, the disk's
// count is the lower one.
func (s *Server) free() int64 {
	s.mu.Lock()
	free := s.cfg.Capacity - s.used
	unwritten := s.promised.sum
	s.mu.Unlock()
	var st unix.Statfs_t
	if err := unix.Statfs(s.cfg.DataDir, &st); err == nil {
		// Keep 1% of the disk (at most 1 GiB) for the index and the system.
		total := int64(st.Blocks) * st.Bsize
		disk := int64(st.Bavail)*st.Bsize - min(total/100, 1<<30) - unwritten
		free = min(free, disk)
	}
	return max(free, 0)
}

// Close stops serving, resets open streams, and closes the host, the DHT
// and the index. Data already acknowledged stays on disk.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	streams := make([]network.Stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	s.cancel()
	var errs []error
	if s.host != nil {
		s.host.RemoveStreamHandler(protocol.ID(ProtocolID))
	}
	for _, st := range streams {
		st.Reset()
	}
	s.wg.Wait() // handlers and background loops
	if s.dht != nil {
		errs = append(errs, s.dht.Close())
	}
	if s.host != nil {
		errs = append(errs, s.host.Close())
	}
	s.mu.Lock()
	for _, u := range s.uploads {
		u.mu.Lock()
		errs = append(errs, u.closeFile())
		u.err = meta.ErrClosed
		u.mu.Unlock()
	}
	s.uploads = map[meta.ID]*upload{}
	s.mu.Unlock()
	if s.sync != nil {
		errs = append(errs, s.sync.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// sleep waits d or until the server closes; it reports whether to go on.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}
