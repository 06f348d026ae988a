package provider

import (
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// Defaults of a provider's Config.
const (
	DefaultCapacity     = 10 << 30
	DefaultMaxExpiry    = 400 * 24 * time.Hour
	DefaultMaxSealedLen = 64 << 20
)

// Faults makes a provider misbehave on demand, for tests of the client's
// defences. The zero value is an honest provider.
type Faults struct {
	// ForgePledge signs pledges with a random other key.
	ForgePledge bool
	// DropSegmentsOnce ignores (no ack, not stored) the first receipt of
	// every segment whose index%4 == 1.
	DropSegmentsOnce bool
	// GarbageAudits answers every audit challenge with random bytes.
	GarbageAudits bool
	// GarbageReads serves every segment a client reads (GET_CHUNK) with
	// one byte flipped, as a disk that rots or a provider that lies would.
	GarbageReads bool
}

// Config configures a provider.
type Config struct {
	// DataDir holds the replicas and the index. Required.
	DataDir string
	// Key is the provider's identity (peer id and Ethereum address).
	// When nil, LoadOrCreateKey(DataDir/key) is used.
	Key *ecdsa.PrivateKey
	// Listen are libp2p multiaddrs; DefaultListen when empty.
	Listen []string
	// Bootstrap peers of the DHT.
	Bootstrap []peer.AddrInfo
	// Capacity is how many sealed bytes the provider takes (DefaultCapacity
	// when 0). Free space on the disk bounds it further.
	Capacity int64
	// PricePerByteDay is the least price accepted, in wei (0 when nil).
	PricePerByteDay *big.Int
	// MaxExpiry is how far ahead a pledge may run (DefaultMaxExpiry when 0).
	MaxExpiry time.Duration
	Faults    Faults
	// Pay turns payments on (DESIGN §5); the zero value asks for none.
	Pay PayConfig
	// Logger receives the provider's logs (discarded when nil).
	Logger *slog.Logger
}

// timings are a provider's internal periods; tests shorten them.
type timings struct {
	idle         time.Duration // a stream waiting this long for a request is closed
	write        time.Duration // bound on writing one reply
	reservation  time.Duration // room of a StoreRequest without a map is freed after it
	partial      time.Duration // an upload with no new segment for this long is dropped
	expiredGrace time.Duration // a replica is deleted this long after its expiry
	janitor      time.Duration // period of the sweep that applies the three above
	reprovide    time.Duration // period of the DHT announcement
	clockSlack   time.Duration // tolerated clock difference on expiry checks
}

var defaultTimings = timings{
	idle:         2 * time.Minute,
	write:        30 * time.Second,
	reservation:  time.Hour,
	partial:      24 * time.Hour,
	expiredGrace: 24 * time.Hour,
	janitor:      5 * time.Minute,
	reprovide:    time.Hour,
	clockSlack:   5 * time.Minute,
}

// withDefaults returns cfg with its zero fields filled in.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DataDir == "" {
		return cfg, fmt.Errorf("%w: provider needs a DataDir", meta.ErrInvalid)
	}
	if cfg.Key == nil {
		k, err := LoadOrCreateKey(filepath.Join(cfg.DataDir, "key"))
		if err != nil {
			return cfg, err
		}
		cfg.Key = k
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultListen
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.PricePerByteDay == nil {
		cfg.PricePerByteDay = new(big.Int)
	}
	if cfg.PricePerByteDay.Sign() < 0 || cfg.PricePerByteDay.BitLen() > 8*wire.MaxPriceBytes {
		return cfg, fmt.Errorf("%w: price %v", meta.ErrInvalid, cfg.PricePerByteDay)
	}
	if cfg.MaxExpiry <= 0 {
		cfg.MaxExpiry = DefaultMaxExpiry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg, nil
}
