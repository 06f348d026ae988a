package provider

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/pointfs/pointfs/meta"
)

// discoverParallel bounds the OFFER requests Discover has in flight.
const discoverParallel = 16

// Discover finds providers (those announced on the DHT and the bootstrap
// peers) and asks each for its offer, concurrently and each within
// RequestTimeout. Peers that do not answer, or answer wrongly, are left
// out. The offers come sorted by latency. Addresses learnt here are kept,
// so the client can later reach every peer it returns. With no provider
// found the error wraps meta.ErrNoProviders.
func (c *Client) Discover(ctx context.Context) ([]Offer, error) {
	candidates := make(map[peer.ID]struct{})
	for _, b := range c.cfg.Bootstrap {
		if b.ID != c.host.ID() {
			c.host.Peerstore().AddAddrs(b.ID, b.Addrs, peerstore.PermanentAddrTTL)
			candidates[b.ID] = struct{}{}
		}
	}
	c.waitRoutingTable(ctx, 2*time.Second)
	fctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	for ai := range c.dht.FindProvidersAsync(fctx, ServiceCID, 0) {
		if ai.ID == c.host.ID() {
			continue
		}
		if len(ai.Addrs) > 0 {
			// The DHT keeps provider addresses only briefly; the engine
			// may come back to this peer much later.
			c.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		}
		candidates[ai.ID] = struct{}{}
	}
	cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var (
		mu      sync.Mutex
		offers  []Offer
		lastErr error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, discoverParallel)
	)
	for p := range candidates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			o, err := c.Offer(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.log.Debug("provider left out", "peer", p, "err", err)
				lastErr = err
				return
			}
			offers = append(offers, o)
		}()
	}
	wg.Wait()
	if len(offers) == 0 {
		if lastErr != nil {
			return nil, fmt.Errorf("%w: %d candidates, none answered (last: %w)", meta.ErrNoProviders, len(candidates), lastErr)
		}
		return nil, fmt.Errorf("%w: none found", meta.ErrNoProviders)
	}
	slices.SortFunc(offers, func(a, b Offer) int { return cmp.Compare(a.Latency, b.Latency) })
	return offers, nil
}

// waitRoutingTable gives a fresh client's DHT a moment to take its
// bootstrap peers into its routing table (that follows identify
// asynchronously); a lookup on an empty table finds nothing.
func (c *Client) waitRoutingTable(ctx context.Context, d time.Duration) {
	if len(c.cfg.Bootstrap) == 0 || c.dht.RoutingTable().Size() > 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.dht.RoutingTable().Size() == 0 {
		select {
		case <-tick.C:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
