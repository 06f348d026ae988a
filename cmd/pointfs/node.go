package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/pay/devchain"
	"github.com/pointfs/pointfs/upload"
)

// node is an engine running on a data dir: its store, its connection to the
// provider network (an embedded devnet when none is configured) and its
// local API.
type node struct {
	Data     string
	Engine   *upload.Engine
	Store    meta.Store
	Embedded bool // an in-process devnet serves this node
	Log      *slog.Logger

	db      *badgerdb.DB
	net     *provider.Client
	key     *ecdsa.PrivateKey // the user's key: pledges, payments, root records
	devnet  []*provider.Server
	chain   *devchain.DevChain // the embedded devnet's chain
	api     *apiServer
	closers []func() error

	mu sync.Mutex
	// share publishes a directory of the mounted tree (set by the mount).
	share func(ctx context.Context, rel string) (*publishReply, error)
}

// nodeOptions change how openNode starts a node.
type nodeOptions struct {
	// readOnly: an engine that only reads (a shared tree): no uploads,
	// audits, renewals or payments.
	readOnly bool
	// deferStart leaves the engine stopped, for work that must come before
	// its loops (a recovery); the caller calls Engine.Start.
	deferStart bool
}

// openNode opens the data dir and starts the engine and the local API. One
// process at a time may hold a data dir.
func openNode(ctx context.Context, data string, log *slog.Logger) (*node, error) {
	return openNodeWith(ctx, data, log, nodeOptions{})
}

// openNodeWith is openNode with options.
func openNodeWith(ctx context.Context, data string, log *slog.Logger, opts nodeOptions) (*node, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	n := &node{Data: data, Log: log}
	startDebug(log)
	// The collector runs when the heap has grown 50% past what the last
	// collection kept, under a 192 MiB backstop. It was a 160 MiB limit
	// alone: with the live heap near it, the collector had no room.
	// Untarring Go's source tree (11,500 files, ~130 MB live, most of it
	// badger's pooled table buffers) ran 1,300-2,800 collections; with
	// this, 290-320, and the daemon's CPU until uploaded fell by a fifth
	// (79-91 → 64-68 s), for a peak RSS of 320 MiB instead of 280-290.
	// Uploading 1 GiB (60-104 MB live): peak RSS 219-234 MiB against
	// 214-219, durable after close 18.7-21.2 s against 17.8-19.4 (GOGC=30
	// kept the RSS lower but collected 3-5 times as often there: 20-27 s).
	// The rest of the RSS is badger's mapped tables (80 MB). $GOGC and
	// $GOMEMLIMIT override them.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(192 << 20)
	}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	db, err := badgerdb.Open(filepath.Join(data, "meta"), log)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("data dir %s is in use by another pointfs process", data)
		}
		return nil, err
	}
	n.db, n.Store = db, db
	n.closers = append(n.closers, db.Close)

	cfg, err := loadConfig(data)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(data, "key")
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		// A key made anew would only be refused by the engine, and would
		// sit where the user's own key belongs.
		if owned, err := upload.HasOwner(ctx, db); err != nil {
			return nil, err
		} else if owned {
			return nil, fmt.Errorf("%w: data dir %s holds data but its key file is gone: put the key back at %s (or use an empty data dir)",
				meta.ErrWrongKey, data, keyPath)
		}
	}
	key, err := provider.LoadOrCreateKey(keyPath)
	if err != nil {
		return nil, err
	}
	n.key = key
	boot, err := parsePeers(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	if len(boot) == 0 {
		count := cfg.EmbeddedProviders
		if count <= 0 {
			count = 5
		}
		if n.chain, err = startDevChain(ctx, false, addressOf(key)); err != nil {
			return nil, fmt.Errorf("embedded devnet: %w", err)
		}
		servers, err := startEmbedded(ctx, filepath.Join(data, "devnet"), count, log, n.chain)
		if err != nil {
			return nil, fmt.Errorf("embedded devnet: %w", err)
		}
		n.devnet, n.Embedded = servers, true
		for _, s := range servers {
			boot = append(boot, s.AddrInfo())
		}
		fmt.Fprintf(os.Stderr, "pointfs: no network configured in %s: started an embedded devnet of %d providers on 127.0.0.1\n", data, len(servers))
	}

	client, err := provider.NewClient(ctx, key, provider.ClientConfig{Bootstrap: boot, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	n.net = client
	n.closers = append(n.closers, client.Close)

	// Payments: the embedded chain, or the endpoint the config names.
	var chain *pay.Chain
	switch {
	case n.chain != nil:
		chain = n.chain.Chain()
	case cfg.EthRPC != "":
		if chain, err = dialChain(ctx, cfg.EthRPC, cfg.Contract); err != nil {
			return nil, fmt.Errorf("payments: %w", err)
		}
		n.closers = append(n.closers, func() error { chain.Close(); return nil })
	}
	var payer *pay.Payer
	if chain != nil && !opts.readOnly {
		if payer, err = newPayer(chain, key, db, log); err != nil {
			return nil, err
		}
	}

	ecfg := upload.Config{
		Store:       db,
		Net:         client,
		Master:      upload.MasterFromKey(key),
		CacheDir:    filepath.Join(data, "cache"),
		CacheMax:    cfg.cacheMax(),
		ChunkSize:   cfg.ChunkSize,
		SegmentSize: cfg.SegmentSize,
		SegmentHash: cfg.SegmentHash,
		Redundancy:  cfg.Redundancy,
		Autorenew:   cfg.Autorenew,

		InFlightPerProvider: cfg.InFlight,
		Payer:               payer,
		ReadOnly:            opts.readOnly,
		Logger:              log,
	}
	if ecfg.Expiry, err = cfg.expiry(); err != nil {
		return nil, err
	}
	if ecfg.AckTimeout, err = cfg.ackTimeout(); err != nil {
		return nil, err
	}
	if ecfg.AuditInterval, err = cfg.auditInterval(); err != nil {
		return nil, err
	}
	if ecfg.MaxPrice, err = cfg.maxPrice(); err != nil {
		return nil, err
	}
	eng, err := upload.New(ecfg)
	if err != nil {
		return nil, err
	}
	n.Engine = eng
	if !opts.deferStart {
		eng.Start()
	}

	api, err := startAPI(n)
	if err != nil {
		eng.Close()
		n.Engine = nil
		return nil, err
	}
	n.api = api
	ok = true
	return n, nil
}

// Close stops the API, the engine, the network and the store, in that
// order, so that every state reached is persisted.
func (n *node) Close() error {
	var errs []error
	if n.api != nil {
		errs = append(errs, n.api.Close())
		n.api = nil
	}
	if n.Engine != nil {
		errs = append(errs, n.Engine.Close())
		n.Engine = nil
	}
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	n.closers = nil
	for _, s := range n.devnet {
		errs = append(errs, s.Close())
	}
	n.devnet = nil
	if n.chain != nil {
		errs = append(errs, n.chain.Close())
		n.chain = nil
	}
	return errors.Join(errs...)
}

// startEmbedded runs count providers in this process, each with its own key
// and data dir under dir (kept across runs, so what they stored survives a
// remount), all bootstrapped to the first. With a chain, each is funded on
// it and charges devnetPrice, paid on it.
func startEmbedded(ctx context.Context, dir string, count int, log *slog.Logger, chain *devchain.DevChain) ([]*provider.Server, error) {
	var servers []*provider.Server
	var boot []peer.AddrInfo
	for i := 1; i <= count; i++ {
		pdir := filepath.Join(dir, fmt.Sprintf("p%d", i))
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return nil, err
		}
		key, err := provider.LoadOrCreateKey(filepath.Join(pdir, "key"))
		if err != nil {
			return nil, err
		}
		var pc provider.PayConfig
		var price *big.Int
		if chain != nil {
			if err := chain.Fund(ctx, nil, addressOf(key)); err != nil {
				return nil, err
			}
			pc, price = provider.PayConfig{Chain: chain.Chain()}, devnetPrice
		}
		s, err := provider.Start(ctx, provider.Config{
			DataDir:         pdir,
			Key:             key,
			Listen:          []string{"/ip4/127.0.0.1/tcp/0"},
			Bootstrap:       boot,
			PricePerByteDay: price,
			Pay:             pc,
			Logger:          log.With("provider", i),
		})
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return nil, err
		}
		servers = append(servers, s)
		if i == 1 {
			boot = []peer.AddrInfo{s.AddrInfo()}
		}
	}
	return servers, nil
}

// newLogger logs to stderr at the level in $POINTFS_LOG (default warn).
func newLogger() *slog.Logger { return slogFor("warn") }

// slogFor logs to stderr at the level in $POINTFS_LOG, else at def.
func slogFor(def string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(def)}))
}

func logLevel(def string) slog.Level {
	s := os.Getenv("POINTFS_LOG")
	if s == "" {
		s = def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelWarn
	}
	return l
}
