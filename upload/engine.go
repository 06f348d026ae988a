// Package upload is the client engine of pointfs: putFile (chunkify, policy,
// reconsider), the tick that drives every storage link through the states of
// DESIGN §1, sealing on a bounded worker pool, and retrieval with
// verification and fail-over.
//
// Everything the engine needs to resume is in the meta.Store: a link is
// persisted at every state change, so a killed engine picks each link up
// where it was. What lives only in memory is a cache of what is running.
package upload

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/provider/pay"
)

// Network is what the engine needs of the provider network.
// *provider.Client implements it.
type Network interface {
	Address() common.Address
	Discover(ctx context.Context) ([]provider.Offer, error)
	Store(ctx context.Context, p peer.ID, req provider.StoreRequest) error
	SendSegmentMap(ctx context.Context, p peer.ID, m provider.SegmentMap) error
	SendSegments(ctx context.Context, p peer.ID, root meta.ID, segs []provider.Segment, ackTimeout time.Duration) ([]int, error)
	// SendReplica does what SendSegmentMap, SendSegments and RequestPledge
	// do, in one round trip.
	SendReplica(ctx context.Context, p peer.ID, m provider.SegmentMap, segs []provider.Segment, ackTimeout time.Duration) (provider.Replica, error)
	RequestPledge(ctx context.Context, p peer.ID, root meta.ID) (*meta.Pledge, error)
	// ReadSegments hands each segment to fn, valid until fn returns.
	ReadSegments(ctx context.Context, p peer.ID, root meta.ID, first, count int, fn func(i int, seg []byte) error) error
	Challenge(ctx context.Context, p peer.ID, root meta.ID, index int, nonce [32]byte) (*provider.Proof, error)
	Renew(ctx context.Context, p peer.ID, root meta.ID, expires int64) (*meta.Pledge, error)
	Release(ctx context.Context, p peer.ID, root meta.ID) error
	// ListAll and AddTag find replicas by tag again (recover.go).
	ListAll(ctx context.Context, p peer.ID, locator meta.ID) ([]provider.Listed, error)
	AddTag(ctx context.Context, p peer.ID, root, locator meta.ID, tag []byte) error
}

// Config wires an Engine. Zero values take the defaults noted.
type Config struct {
	Store meta.Store
	Net   Network
	// Master is the client's master secret: every link key derives from it
	// (DESIGN §3). MasterFromKey derives it from the user's key.
	Master []byte
	// CacheDir holds plaintext chunks until (and after) they are uploaded.
	CacheDir string
	// CacheMax bounds the chunk cache, in bytes: past it, chunks that are
	// uploaded leave it, oldest first, and are read from their providers
	// again (chunks not uploaded yet always stay). Default
	// DefaultCacheMax; negative: no bound.
	CacheMax int64

	ChunkSize   int    // default meta.DefaultChunkSize
	SegmentSize int    // default meta.DefaultSegmentSize
	SegmentHash string // default merkle.HashBlake3

	Redundancy int           // default meta.DefaultRedundancy
	Expiry     time.Duration // default meta.DefaultExpiry
	Autorenew  *bool         // default true
	MaxPrice   *big.Int      // highest price per byte per day accepted; nil: any
	// Payer pays the providers (DESIGN §5, pay.go); nil: the engine pays
	// nothing. PayRetry is how often unacknowledged payments go out again
	// and a link waiting for money tries again; default 5s.
	Payer    *pay.Payer
	PayRetry time.Duration

	SealWorkers         int           // default GOMAXPROCS
	InFlightPerProvider int           // links sent to one provider at once; default 4
	AckTimeout          time.Duration // retransmit unacknowledged segments after; default 10s
	MaxSegmentTries     int           // sends of one segment before the link fails; default 5
	TickInterval        time.Duration // default 1s
	DiscoverInterval    time.Duration // default 30s
	// HoldQuiet, HoldMax and HoldRun shape HoldOff (holdoff.go): no new
	// link starts until HoldQuiet passed without a call (default 200 ms),
	// for HoldMax in a row (default 5 s); past that, while the calls go
	// on, new links start only in the first HoldRun of every HoldMax
	// (default a fifth of it).
	HoldQuiet, HoldMax, HoldRun time.Duration

	AuditInterval time.Duration // how often each signed link is challenged; default 1h
	AuditTimeout  time.Duration // a later answer is a failed audit; default 30s
	AuditBatch    int           // links audited (or renewed) per round at most; default 256
	RenewBefore   time.Duration // renew pledges this long before they end; default min(24h, Expiry/4)
	KeepInterval  time.Duration // how often audit and renewal rounds run; default 1m

	// ReadOnly makes an engine that only reads (a share mounted by a
	// reader): Start runs no tick, audits, renewals or payments.
	ReadOnly bool

	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Store == nil || c.Net == nil {
		return fmt.Errorf("%w: engine needs a store and a network", meta.ErrInvalid)
	}
	if len(c.Master) < 16 {
		return fmt.Errorf("%w: master secret too short", meta.ErrInvalid)
	}
	if c.CacheDir == "" {
		return fmt.Errorf("%w: engine needs a cache dir", meta.ErrInvalid)
	}
	if c.CacheMax == 0 {
		c.CacheMax = DefaultCacheMax
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.ChunkSize, meta.DefaultChunkSize)
	def(&c.SegmentSize, meta.DefaultSegmentSize)
	def(&c.Redundancy, meta.DefaultRedundancy)
	def(&c.SealWorkers, runtime.GOMAXPROCS(0))
	def(&c.InFlightPerProvider, 4)
	def(&c.MaxSegmentTries, 5)
	if c.SegmentHash == "" {
		c.SegmentHash = merkle.HashBlake3
	}
	if _, err := merkle.HasherFor(c.SegmentHash); err != nil {
		return err
	}
	if c.Expiry <= 0 {
		c.Expiry = meta.DefaultExpiry
	}
	if c.Autorenew == nil {
		t := true
		c.Autorenew = &t
	}
	def(&c.AuditBatch, 256)
	if c.AuditInterval <= 0 {
		c.AuditInterval = time.Hour
	}
	if c.AuditTimeout <= 0 {
		c.AuditTimeout = 30 * time.Second
	}
	if c.RenewBefore <= 0 {
		c.RenewBefore = min(24*time.Hour, c.Expiry/4)
	}
	if c.KeepInterval <= 0 {
		c.KeepInterval = time.Minute
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.TickInterval <= 0 {
		c.TickInterval = time.Second
	}
	if c.HoldQuiet <= 0 {
		c.HoldQuiet = 200 * time.Millisecond
	}
	if c.HoldMax <= 0 {
		c.HoldMax = 5 * time.Second
	}
	if c.HoldRun <= 0 {
		c.HoldRun = c.HoldMax / 5
	}
	c.HoldRun = min(c.HoldRun, c.HoldMax) // a run as long as HoldMax: never held past it
	if c.DiscoverInterval <= 0 {
		c.DiscoverInterval = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Engine uploads files to providers and reads them back.
type Engine struct {
	cfg   Config
	store meta.Store // cfg.Store in a watchStore (brief.go)
	net   Network
	log   *slog.Logger
	cache *Cache
	seal  chan struct{} // sealing worker slots

	kick chan struct{}
	// trimKick asks trimLoop for a trim (kickTrim).
	trimKick chan struct{}

	mu        sync.Mutex
	dirty     idQueue // chunks to visit at the next pass, in order
	dirtySet  map[meta.ID]struct{}
	running   map[meta.LinkID]peer.ID // links a worker is driving
	active    map[peer.ID]int         // running links per provider
	slots     map[peer.ID]chan struct{}
	providers *providerSet
	changed   chan struct{} // closed and replaced when a file changes state

	reads      *readCache
	briefs     *briefCache // the state of files read (brief.go)
	linkWrites linkWrites  // group commit of link states (persist.go)
	hold       holdOff     // writers first (holdoff.go)
	// putMu is held shared by a put from caching a batch of chunks until
	// it registered them, and exclusively by TrimCache while it decides on
	// and drops one pack (trim.go).
	putMu  sync.RWMutex
	pay    *payments   // nil: payments off
	owner  tagSecrets  // the owner's locator and tag key (tag.go)
	shared atomic.Bool // the store holds a share (share.go)

	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	started bool
}

// New makes an engine. Call Run to start the tick, Close to stop it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	pays, err := newPayments(&cfg)
	if err != nil {
		return nil, err
	}
	cache, err := OpenCache(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	if cfg.CacheMax > 0 {
		cache.limitPacks(cfg.CacheMax / 8)
	}
	ctx, cancel := context.WithCancel(context.Background())
	briefs := newBriefCache()
	e := &Engine{
		cfg:       cfg,
		store:     watchStore{Store: cfg.Store, briefs: briefs},
		briefs:    briefs,
		net:       cfg.Net,
		log:       cfg.Logger,
		cache:     cache,
		seal:      make(chan struct{}, cfg.SealWorkers),
		kick:      make(chan struct{}, 1),
		trimKick:  make(chan struct{}, 1),
		dirtySet:  make(map[meta.ID]struct{}),
		running:   make(map[meta.LinkID]peer.ID),
		active:    make(map[peer.ID]int),
		slots:     make(map[peer.ID]chan struct{}),
		providers: newProviderSet(),
		changed:   make(chan struct{}),
		reads:     newReadCache(64),
		pay:       pays,
		owner:     ownerSecrets(cfg.Master),
		ctx:       ctx,
		cancel:    cancel,
	}
	if err := e.checkOwner(ctx); err != nil {
		cancel()
		cache.Close()
		return nil, err
	}
	shared, err := e.anyShare(ctx)
	if err != nil {
		cancel()
		cache.Close()
		return nil, err
	}
	e.shared.Store(shared)
	return e, nil
}

// Start runs the tick loop in the background until Close.
func (e *Engine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return
	}
	e.started = true
	if e.cfg.ReadOnly {
		return
	}
	if e.pay != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.payLoop(e.ctx)
		}()
	}
	e.wg.Add(3)
	go func() {
		defer e.wg.Done()
		e.loop(e.ctx)
	}()
	go func() {
		defer e.wg.Done()
		e.trimLoop(e.ctx)
	}()
	go func() {
		defer e.wg.Done()
		e.keepLoop(e.ctx)
	}()
	e.Kick()
}

// Close stops the tick and every link worker and waits for them. Links
// keep the state they last persisted and resume at the next start.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// Kick asks for a tick soon; kicks coalesce.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Cache is the engine's local chunk cache.
func (e *Engine) Cache() *Cache { return e.cache }

// Address is the client's Ethereum address (the one pledges name).
func (e *Engine) Address() common.Address { return e.net.Address() }

func (e *Engine) loop(ctx context.Context) {
	t := time.NewTicker(e.cfg.TickInterval)
	defer t.Stop()
	full := true
	for {
		if full {
			if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("tick", "err", err)
			}
		} else {
			e.tickDirty(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
			full = false
		case <-t.C:
			full = true
		}
	}
}

// notifyChanged wakes everyone waiting for a file state change.
func (e *Engine) notifyChanged() {
	e.mu.Lock()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

func (e *Engine) changedChan() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// timeUnit is the precision of policy times: pledges carry unix seconds.
const timeUnit = time.Second

// Store is the engine's metadata store (the mount keeps its tree there too).
func (e *Engine) Store() meta.Store { return e.cfg.Store }

// MasterFromKey derives the client's master secret from its key, so that
// the key file alone is enough to derive every link key again.
func MasterFromKey(k *ecdsa.PrivateKey) []byte {
	m := merkle.Keccak256([]byte("pointfs master secret v1"), k.D.FillBytes(make([]byte, 32)))
	return m[:]
}
