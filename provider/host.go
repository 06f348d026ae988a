package provider

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/multiformats/go-multihash"

	"github.com/pointfs/pointfs/provider/wire"
)

// ProtocolID is the stream protocol of the storage layer.
const ProtocolID = wire.ProtocolID

// DHTPrefix keeps pointfs's Kademlia DHT apart from the public IPFS one
// (and from its address filters, which would drop loopback providers).
const DHTPrefix = "/pointfs"

// DefaultListen are the addresses a provider listens on when none are given.
var DefaultListen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// ServiceCID is the DHT key every provider announces itself under.
var ServiceCID = func() cid.Cid {
	h, err := multihash.Sum([]byte("pointfs/storage/1"), multihash.SHA2_256, -1)
	if err != nil {
		panic(err) // sha2-256 is always registered
	}
	return cid.NewCidV1(cid.Raw, h)
}()

// newHost starts a libp2p host whose identity is key: TCP and QUIC, noise,
// yamux, nothing else (no relay, no metrics registry shared between hosts).
func newHost(key *ecdsa.PrivateKey, listen []string) (host.Host, error) {
	priv, err := libp2pKey(key)
	if err != nil {
		return nil, err
	}
	// A noise message carries at most noise.MaxPlaintextLength (65,519)
	// bytes; yamux's default frame is 64 KiB with its header, so every
	// full frame took two messages, the second of 17 bytes: two AEAD
	// seals, two writes and two reads for each 64 KiB of replica data.
	// Frames that fit one message halve that. Peers with the default
	// frames are read as before: the frame size is the sender's choice.
	mux := *yamux.DefaultTransport
	mux.MaxMessageSize = noise.MaxPlaintextLength
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, &mux),
		libp2p.SwarmOpts(swarm.WithDialRanker(preferTCPLocally)),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: libp2p host: %w", err)
	}
	return h, nil
}

// preferTCPLocally ranks dials like libp2p's default ranker except that on
// loopback and private networks TCP goes first: there TCP+noise+yamux moves
// bulk segments more than twice as fast as QUIC (notes/libp2p.md), and the
// reachability QUIC buys does not matter. QUIC follows shortly in case TCP
// is blocked.
func preferTCPLocally(addrs []ma.Multiaddr) []network.AddrDelay {
	var local, other []ma.Multiaddr
	for _, a := range addrs {
		if manet.IsPrivateAddr(a) || manet.IsIPLoopback(a) {
			local = append(local, a)
		} else {
			other = append(other, a)
		}
	}
	res := swarm.DefaultDialRanker(other)
	for _, a := range local {
		d := swarm.PrivateQUICDelay
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			d = 0
		}
		res = append(res, network.AddrDelay{Addr: a, Delay: d})
	}
	return res
}

// newDHT starts a Kademlia DHT on h under pointfs's prefix and connects to
// the bootstrap peers (best effort: an unreachable one is logged). Its
// values are root records only (RootNamespace, checked by rootValidator),
// next to the default namespaces that pointfs does not use.
func newDHT(ctx context.Context, h host.Host, mode dht.ModeOpt, bootstrap []peer.AddrInfo, log *slog.Logger) (*dht.IpfsDHT, error) {
	var boot []peer.AddrInfo
	for _, b := range bootstrap {
		if b.ID != h.ID() {
			boot = append(boot, b)
		}
	}
	opts := []dht.Option{dht.Mode(mode), dht.ProtocolPrefix(DHTPrefix),
		dht.NamespacedValidator(RootNamespace, rootValidator{})}
	if len(boot) > 0 {
		opts = append(opts, dht.BootstrapPeers(boot...))
	}
	d, err := dht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: dht: %w", err)
	}
	connectAll(ctx, h, boot, log)
	if err := d.Bootstrap(ctx); err != nil {
		log.Warn("dht bootstrap", "err", err)
	}
	return d, nil
}

// connectAll dials peers concurrently, each within 10 s.
func connectAll(ctx context.Context, h host.Host, peers []peer.AddrInfo, log *slog.Logger) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := h.Connect(cctx, p); err != nil {
				log.Warn("bootstrap peer unreachable", "peer", p.ID, "err", err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ok
}

// fullAddrs returns h's listen addresses with its /p2p/ id appended.
func fullAddrs(h host.Host) []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}
