package provider

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

// Defaults of a ClientConfig.
const (
	DefaultInFlight       = 4
	DefaultRequestTimeout = 30 * time.Second
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Bootstrap peers of the DHT; Discover also offers them directly.
	Bootstrap []peer.AddrInfo
	// Listen are libp2p multiaddrs; the client listens on none when empty
	// (it only dials).
	Listen []string
	// InFlight bounds the requests in flight to one provider
	// (DefaultInFlight when 0).
	InFlight int
	// RequestTimeout bounds each request (DefaultRequestTimeout when 0).
	RequestTimeout time.Duration
	// Logger receives the client's logs (discarded when nil).
	Logger *slog.Logger
}

// Client speaks the storage protocol to providers over its own libp2p host,
// whose identity is the client's Ethereum key: providers learn the client's
// address from the stream, so pledges name the right client.
//
// Requests to one provider are bounded (ClientConfig.InFlight) and reuse
// streams from a small pool; a stream is dropped on any failure. Every
// request has a deadline (the earlier of ctx's and RequestTimeout).
type Client struct {
	cfg  ClientConfig
	log  *slog.Logger
	addr common.Address
	host host.Host
	dht  *dht.IpfsDHT

	mu     sync.Mutex
	closed bool
	peers  map[peer.ID]*peerPool
}

// NewClient starts the client's host and DHT (client mode: it asks the DHT
// but does not serve it) and connects to the bootstrap peers. ctx bounds
// the start only.
func NewClient(ctx context.Context, key *ecdsa.PrivateKey, cfg ClientConfig) (_ *Client, err error) {
	if key == nil {
		return nil, errors.New("provider: NewClient needs a key")
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Client{
		cfg:   cfg,
		log:   cfg.Logger,
		addr:  ethcrypto.PubkeyToAddress(key.PublicKey),
		peers: make(map[peer.ID]*peerPool),
	}
	if c.host, err = newHost(key, cfg.Listen); err != nil {
		return nil, err
	}
	if c.dht, err = newDHT(ctx, c.host, dht.ModeClient, cfg.Bootstrap, c.log); err != nil {
		c.host.Close()
		return nil, err
	}
	return c, nil
}

// Address returns the client's Ethereum address.
func (c *Client) Address() common.Address { return c.addr }

// ID returns the client's peer id.
func (c *Client) ID() peer.ID { return c.host.ID() }

// Host returns the client's libp2p host.
func (c *Client) Host() host.Host { return c.host }

// Close drops pooled streams and stops the DHT and the host.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	pools := c.peers
	c.peers = nil
	c.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
	return errors.Join(c.dht.Close(), c.host.Close())
}

func (c *Client) pool(p peer.ID) (*peerPool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, meta.ErrClosed
	}
	pp := c.peers[p]
	if pp == nil {
		pp = &peerPool{sem: make(chan struct{}, c.cfg.InFlight)}
		c.peers[p] = pp
	}
	return pp, nil
}
