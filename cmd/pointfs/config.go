package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// clientConfig is DATA/config.json: the network a data dir uses and the
// engine's settings. `pointfs devnet` writes one; a user may write their own.
// A data dir without one (or with no bootstrap peers) gets an embedded
// devnet.
type clientConfig struct {
	Bootstrap   []string `json:"bootstrap"`
	EthRPC      string   `json:"eth_rpc,omitempty"`
	Contract    string   `json:"contract,omitempty"` // the PaymentChannel contract at EthRPC
	Redundancy  int      `json:"redundancy,omitempty"`
	Expiry      string   `json:"expiry,omitempty"` // Go duration, e.g. "720h"
	Autorenew   *bool    `json:"autorenew,omitempty"`
	ChunkSize   int      `json:"chunk_size,omitempty"`
	SegmentSize int      `json:"segment_size,omitempty"`
	SegmentHash string   `json:"segment_hash,omitempty"`
	MaxPrice    string   `json:"max_price,omitempty"` // wei per byte per day
	InFlight    int      `json:"in_flight_per_provider,omitempty"`
	AckTimeout  string   `json:"ack_timeout,omitempty"`
	// AuditInterval is how often each signed link is challenged (Go
	// duration, default "1h").
	AuditInterval string `json:"audit_interval,omitempty"`
	// EmbeddedProviders sizes the embedded devnet (default 5).
	EmbeddedProviders int `json:"embedded_providers,omitempty"`
	// CacheMaxMB bounds the local chunk cache, in MiB (default 10240):
	// beyond it, uploaded chunks leave the disk and are read from the
	// providers again. -1: no bound.
	CacheMaxMB int64 `json:"cache_max_mb,omitempty"`
}

// cacheMax is the engine's CacheMax for the configured bound.
func (c *clientConfig) cacheMax() int64 {
	if c.CacheMaxMB < 0 {
		return -1
	}
	return c.CacheMaxMB << 20
}

func configPath(data string) string { return filepath.Join(data, "config.json") }

func loadConfig(data string) (*clientConfig, error) {
	var c clientConfig
	b, err := os.ReadFile(configPath(data))
	if errors.Is(err, fs.ErrNotExist) {
		return &c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", configPath(data), err)
	}
	return &c, nil
}

func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (c *clientConfig) expiry() (time.Duration, error) {
	if c.Expiry == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.Expiry)
	if err != nil {
		return 0, fmt.Errorf("config expiry: %w", err)
	}
	return d, nil
}

func (c *clientConfig) ackTimeout() (time.Duration, error) {
	return parseDuration("ack_timeout", c.AckTimeout)
}

func (c *clientConfig) auditInterval() (time.Duration, error) {
	return parseDuration("audit_interval", c.AuditInterval)
}

// parseDuration reads an optional duration setting; empty means default.
func parseDuration(name, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("config %s %q is not a duration", name, v)
	}
	return d, nil
}

func (c *clientConfig) maxPrice() (*big.Int, error) {
	if c.MaxPrice == "" {
		return nil, nil
	}
	p, ok := new(big.Int).SetString(c.MaxPrice, 10)
	if !ok || p.Sign() < 0 {
		return nil, fmt.Errorf("config max_price %q is not a number of wei", c.MaxPrice)
	}
	return p, nil
}

// parsePeers turns /…/p2p/ID multiaddrs into address infos, merging the
// addresses of one peer.
func parsePeers(addrs []string) ([]peer.AddrInfo, error) {
	var mas []multiaddr.Multiaddr
	for _, a := range addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("peer address %q: %w", a, err)
		}
		mas = append(mas, ma)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("peer addresses: %w", err)
	}
	return infos, nil
}

// networkFile is DATA/network.json, written by `pointfs devnet`.
type networkFile struct {
	ChainRPC  string            `json:"chain_rpc"`
	Contract  string            `json:"contract"` // the PaymentChannel contract on it
	Bootstrap []string          `json:"bootstrap"`
	Providers []networkProvider `json:"providers"`
}

type networkProvider struct {
	PID     int      `json:"pid"`
	PeerID  string   `json:"peer_id"`
	Address string   `json:"address"`
	Data    string   `json:"data"`
	Addrs   []string `json:"addrs"`
}
