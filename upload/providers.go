package upload

import (
	"context"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider"
)

// providerSet is what the engine knows of the providers: their last offers
// and how they behaved for us lately.
type providerSet struct {
	mu         sync.Mutex
	offers     map[peer.ID]provider.Offer
	failures   map[peer.ID]int // consecutive failed links
	refreshed  time.Time
	refreshing bool
}

func newProviderSet() *providerSet {
	return &providerSet{offers: make(map[peer.ID]provider.Offer), failures: make(map[peer.ID]int)}
}

// ensureProviders refreshes the offers when they are stale. The first
// refresh blocks (nothing can be placed without it); later ones run in the
// background so a slow peer never stalls the tick.
func (e *Engine) ensureProviders(ctx context.Context) {
	ps := e.providers
	ps.mu.Lock()
	stale := time.Since(ps.refreshed) > e.cfg.DiscoverInterval
	first := len(ps.offers) == 0
	if !stale && !first || ps.refreshing {
		ps.mu.Unlock()
		return
	}
	ps.refreshing = true
	ps.mu.Unlock()
	if first {
		e.discover(ctx)
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.discover(e.ctx)
	}()
}

func (e *Engine) discover(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	offers, err := e.net.Discover(ctx)
	ps := e.providers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.refreshing = false
	if err != nil {
		e.log.Warn("discover providers", "err", err)
		return
	}
	ps.refreshed = time.Now()
	if len(offers) == 0 {
		return
	}
	ps.offers = make(map[peer.ID]provider.Offer, len(offers))
	for _, o := range offers {
		ps.offers[o.Peer] = o
	}
	e.log.Debug("providers", "n", len(offers))
}

// forgetOffers makes the next tick ask the network again (after a provider
// vanished, for instance).
func (e *Engine) forgetOffers() {
	e.providers.mu.Lock()
	e.providers.refreshed = time.Time{}
	e.providers.mu.Unlock()
}

// providerResult records how a link ended at p, to weigh later choices.
func (e *Engine) providerResult(p peer.ID, ok bool) {
	ps := e.providers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ok {
		ps.failures[p] = 0
		return
	}
	ps.failures[p]++
	if ps.failures[p] >= 3 {
		// Probably gone: drop it until discovery finds it again.
		delete(ps.offers, p)
		ps.refreshed = time.Time{}
	}
}

// choose is chooseProviderCandidate (DESIGN §6): among live providers that
// hold no live link of this chunk, fit price, expiry and size, and have a
// free slot, the least busy, then the least failing, then the fastest.
// Providers that failed this chunk before are a last resort.
func (e *Engine) choose(expires time.Time, sealedLen int64, holders, failed map[peer.ID]bool) (provider.Offer, error) {
	ps := e.providers
	ps.mu.Lock()
	offers := make([]provider.Offer, 0, len(ps.offers))
	fails := make(map[peer.ID]int, len(ps.offers))
	for id, o := range ps.offers {
		offers = append(offers, o)
		fails[id] = ps.failures[id]
	}
	ps.mu.Unlock()

	window := 2 * e.cfg.InFlightPerProvider
	need := time.Until(expires)
	e.mu.Lock()
	active := make(map[peer.ID]int, len(e.active))
	for p, n := range e.active {
		active[p] = n
	}
	e.mu.Unlock()

	var best []provider.Offer
	bestScore := 0.0
	busy := false
	for pass := 0; pass < 2 && len(best) == 0; pass++ {
		for _, o := range offers {
			if holders[o.Peer] || (pass == 0 && failed[o.Peer]) {
				continue
			}
			if o.Free < sealedLen || (o.MaxSealedLen > 0 && o.MaxSealedLen < sealedLen) {
				continue
			}
			if o.MaxExpiry > 0 && o.MaxExpiry < need {
				continue
			}
			if e.cfg.MaxPrice != nil && o.PricePerByteDay != nil && o.PricePerByteDay.Cmp(e.cfg.MaxPrice) > 0 {
				continue
			}
			if active[o.Peer] >= window {
				busy = true
				continue
			}
			score := float64(active[o.Peer]) + 2*float64(fails[o.Peer]) + o.Latency.Seconds()*10
			switch {
			case len(best) == 0 || score < bestScore:
				best, bestScore = append(best[:0], o), score
			case score == bestScore:
				best = append(best, o)
			}
		}
	}
	if len(best) == 0 {
		if busy {
			return provider.Offer{}, errNoSlot
		}
		return provider.Offer{}, meta.ErrNoProviders
	}
	return best[rand.IntN(len(best))], nil
}

// slot returns the semaphore bounding links in flight to p.
func (e *Engine) slot(p peer.ID) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.slots[p]
	if !ok {
		s = make(chan struct{}, e.cfg.InFlightPerProvider)
		e.slots[p] = s
	}
	return s
}

// linkPrice is what a link costs: price per byte per day × size × days,
// rounded up to whole days.
func linkPrice(perByteDay *big.Int, size int64, d time.Duration) *big.Int {
	if perByteDay == nil {
		return new(big.Int)
	}
	days := int64((d + 24*time.Hour - 1) / (24 * time.Hour))
	if days < 1 {
		days = 1
	}
	p := new(big.Int).Mul(perByteDay, big.NewInt(size))
	return p.Mul(p, big.NewInt(days))
}
