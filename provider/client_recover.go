package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// AddTag files the complete replica root at p under one more locator with
// tag (TAG), or replaces the tag it has under that locator. Only the client
// that stored the replica may: another gets an error wrapping
// meta.ErrDeclined; a replica already under 16 locators, meta.ErrNoSpace.
func (c *Client) AddTag(ctx context.Context, p peer.ID, root, locator meta.ID, tag []byte) error {
	if err := c.simple(ctx, p, &wire.Tag{Root: root, Locator: locator, Tag: tag}); err != nil {
		return fmt.Errorf("tag %s at %s: %w", root, p, err)
	}
	return nil
}

// Listed is one replica a provider filed under a locator, as it says: its
// segment map, expiry, the tag under that locator, and the pledge it signed
// for the client that stored it (Pledge.Provider is p's address; nil when
// it sent none). None of it is verified here: check that the segment
// hashes rebuild Root under Hash, the pledge with VerifyPledge, and the
// tag's authenticity before trusting an entry.
type Listed struct {
	Root        meta.ID
	Hash        string
	SegmentSize int
	SealedLen   int64
	Expires     time.Time
	Segments    []meta.ID
	Tag         []byte
	Pledge      *meta.Pledge
}

// List asks p for the complete replicas filed under locator whose root
// comes after after (from the first when after is zero), in root order, at
// most limit of them (wire.MaxList when limit is out of [1, wire.MaxList]);
// the provider may send fewer to fit one frame. more says that entries may
// follow the last one returned. An answer out of order, outside the range
// asked or larger than limit is refused as malformed.
func (c *Client) List(ctx context.Context, p peer.ID, locator, after meta.ID, limit int) ([]Listed, bool, error) {
	if locator.IsZero() {
		return nil, false, fmt.Errorf("%w: list without a locator", meta.ErrInvalid)
	}
	if limit < 1 || limit > wire.MaxList {
		limit = wire.MaxList
	}
	provider, err := AddressOf(p)
	if err != nil {
		return nil, false, err
	}
	var (
		out  []Listed
		more bool
	)
	err = c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, &wire.List{Locator: locator, After: after, Limit: limit})
		if err != nil {
			return err
		}
		m, err := expect[*wire.ListReply](reply, wire.TypeListReply)
		if err != nil {
			return err
		}
		switch {
		case len(m.Entries) > limit:
			return fmt.Errorf("%w: %d entries, asked at most %d", wire.ErrMalformed, len(m.Entries), limit)
		case len(m.Entries) == 0 && m.More:
			return fmt.Errorf("%w: no entries, yet more to come", wire.ErrMalformed)
		case len(m.Entries) > 0 && bytes.Compare(m.Entries[0].Root[:], after[:]) <= 0:
			return fmt.Errorf("%w: entry %s is not after %s", wire.ErrMalformed, m.Entries[0].Root, after)
		}
		// The codec checked the order and form of the entries.
		out, more = make([]Listed, len(m.Entries)), m.More
		for i := range m.Entries {
			out[i] = listed(&m.Entries[i], provider)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list at %s: %w", p, err)
	}
	return out, more, nil
}

func listed(e *wire.ListEntry, provider common.Address) Listed {
	l := Listed{
		Root: e.Root, Hash: e.Hash, SegmentSize: e.SegmentSize, SealedLen: e.SealedLen,
		Expires: time.Unix(e.Expires, 0), Segments: e.Hashes, Tag: bytes.Clone(e.Tag),
	}
	if len(e.Signature) > 0 {
		l.Pledge = &meta.Pledge{Provider: provider, Client: e.Client, Root: e.Root,
			Length: e.PledgeLength, Expires: e.PledgeExpires, Signature: bytes.Clone(e.Signature)}
	}
	return l
}

// ListAll pages through everything p filed under locator (List until no
// more come). ctx bounds the whole walk.
func (c *Client) ListAll(ctx context.Context, p peer.ID, locator meta.ID) ([]Listed, error) {
	var all []Listed
	var after meta.ID
	for {
		page, more, err := c.List(ctx, p, locator, after, wire.MaxList)
		if err != nil {
			return all, err
		}
		all = append(all, page...)
		if !more || len(page) == 0 {
			return all, nil
		}
		after = page[len(page)-1].Root
	}
}

// PutRoot offers the root record r to p (PUT_ROOT). p keeps the newest
// valid record per owner: an error wrapping ErrStaleRootRecord means it
// holds a newer one; meta.ErrDeclined, that r does not verify. The same
// record again is accepted.
func (c *Client) PutRoot(ctx context.Context, p peer.ID, r *RootRecord) error {
	err := c.simple(ctx, p, &wire.PutRoot{Record: *r.wire()})
	var e *wire.Error
	if errors.As(err, &e) && e.Code == wire.CodeStale {
		return fmt.Errorf("put root record at %s: %w: %w", p, ErrStaleRootRecord, err)
	}
	if err != nil {
		return fmt.Errorf("put root record at %s: %w", p, err)
	}
	return nil
}

// GetRoot asks p for the root record it holds for owner (GET_ROOT); an
// error wrapping ErrNoRootRecord means it holds none. The record is
// returned as received: Verify it and check its Owner before trusting it.
func (c *Client) GetRoot(ctx context.Context, p peer.ID, owner common.Address) (*RootRecord, error) {
	var r *RootRecord
	err := c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, &wire.GetRoot{Owner: owner})
		if err != nil {
			return err
		}
		m, err := expect[*wire.RootMsg](reply, wire.TypeRoot)
		if err != nil {
			return err
		}
		r = fromWireRoot(&m.Record)
		return nil
	})
	var e *wire.Error
	if errors.As(err, &e) && e.Code == wire.CodeUnknownLink {
		return nil, fmt.Errorf("root record of %s at %s: %w: %w", owner, p, ErrNoRootRecord, err)
	}
	if err != nil {
		return nil, fmt.Errorf("root record of %s at %s: %w", owner, p, err)
	}
	return r, nil
}

// PublishRoot puts the root record r into the DHT (under RootKey) and
// offers it to every provider Discover finds, concurrently. It returns how
// many providers accepted it. A DHT failure is only logged when providers
// accepted (the DHT forgets records within days and on restarts; the
// providers keep them). An error wrapping ErrStaleRootRecord means some
// provider holds a newer record (accepted counts the others); one wrapping
// meta.ErrNoProviders, that no provider took it.
func (c *Client) PublishRoot(ctx context.Context, r *RootRecord) (accepted int, err error) {
	if err := r.Verify(); err != nil {
		return 0, err
	}
	value, err := r.Marshal()
	if err != nil {
		return 0, err
	}
	var dhtErr error
	dhtDone := make(chan struct{})
	go func() {
		defer close(dhtDone)
		c.waitRoutingTable(ctx, 2*time.Second)
		dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		dhtErr = c.dht.PutValue(dctx, RootKey(r.Owner), value)
	}()

	offers, err := c.Discover(ctx)
	if err != nil {
		<-dhtDone
		return 0, fmt.Errorf("publish root record %d of %s: %w", r.Seq, r.Owner, err)
	}
	var (
		mu           sync.Mutex
		stale        []peer.ID
		lastErr      error
		acceptedPeer int
	)
	c.eachProvider(ctx, offers, func(p peer.ID) {
		err := c.PutRoot(ctx, p, r)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			acceptedPeer++
		case errors.Is(err, ErrStaleRootRecord):
			stale = append(stale, p)
		default:
			c.log.Debug("root record not published", "peer", p, "err", err)
			lastErr = err
		}
	})
	<-dhtDone
	accepted = acceptedPeer
	switch {
	case len(stale) > 0:
		return accepted, fmt.Errorf("publish root record %d of %s: %w at %d of %d providers (first %s)",
			r.Seq, r.Owner, ErrStaleRootRecord, len(stale), len(offers), stale[0])
	case accepted == 0:
		return 0, fmt.Errorf("publish root record %d of %s: %w: none of %d accepted it (last: %w; DHT: %v)",
			r.Seq, r.Owner, meta.ErrNoProviders, len(offers), orCtx(ctx, lastErr), dhtErr)
	}
	if dhtErr != nil {
		c.log.Warn("root record not put into the DHT", "owner", r.Owner, "seq", r.Seq, "err", dhtErr)
	}
	return accepted, nil
}

// FindRoot finds owner's newest root record: it asks the DHT (a failure
// there is tolerated) and every provider Discover finds, concurrently, and
// verifies every answer. A record that does not verify or names another
// owner is ignored (and logged). The error wraps ErrNoRootRecord when
// providers answered but none had a valid record, meta.ErrNoProviders when
// no provider could be asked.
func (c *Client) FindRoot(ctx context.Context, owner common.Address) (*RootRecord, error) {
	type candidate struct {
		r    *RootRecord
		from string
	}
	var (
		mu         sync.Mutex
		candidates []candidate
		answered   int
		lastErr    error
	)
	dhtDone := make(chan struct{})
	go func() {
		defer close(dhtDone)
		c.waitRoutingTable(ctx, 2*time.Second)
		dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		value, err := c.dht.GetValue(dctx, RootKey(owner))
		if err != nil {
			c.log.Debug("no root record from the DHT", "owner", owner, "err", err)
			return
		}
		r := new(RootRecord)
		if err := r.Unmarshal(value); err != nil {
			c.log.Warn("root record from the DHT ignored", "owner", owner, "err", err)
			return
		}
		mu.Lock()
		candidates = append(candidates, candidate{r, "dht"})
		mu.Unlock()
	}()

	offers, derr := c.Discover(ctx)
	if derr == nil {
		c.eachProvider(ctx, offers, func(p peer.ID) {
			r, err := c.GetRoot(ctx, p, owner)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				answered++
				candidates = append(candidates, candidate{r, p.String()})
			case errors.Is(err, ErrNoRootRecord):
				answered++
			default:
				c.log.Debug("root record not asked", "peer", p, "err", err)
				lastErr = err
			}
		})
	}
	<-dhtDone

	var best *RootRecord
	for _, cd := range candidates {
		if cd.r.Owner != owner {
			c.log.Warn("root record of another owner ignored", "from", cd.from, "owner", cd.r.Owner, "want", owner)
			continue
		}
		if err := cd.r.Verify(); err != nil {
			c.log.Warn("root record that does not verify ignored", "from", cd.from, "owner", owner, "err", err)
			continue
		}
		if Newer(cd.r, best) {
			best = cd.r
		}
	}
	switch {
	case best != nil:
		return best, nil
	case answered > 0:
		return nil, fmt.Errorf("root record of %s: %w (%d providers answered)", owner, ErrNoRootRecord, answered)
	case derr != nil:
		return nil, fmt.Errorf("root record of %s: %w", owner, derr)
	}
	return nil, fmt.Errorf("root record of %s: %w: none of %d answered (last: %w)",
		owner, meta.ErrNoProviders, len(offers), orCtx(ctx, lastErr))
}

// orCtx returns err, or when it is nil (nothing was tried) why not.
func orCtx(ctx context.Context, err error) error {
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return err
}

// eachProvider runs fn for every offer's peer, concurrently (at most
// discoverParallel at once), and returns when all are done.
func (c *Client) eachProvider(ctx context.Context, offers []Offer, fn func(p peer.ID)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, discoverParallel)
	for _, o := range offers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			fn(o.Peer)
		}()
	}
	wg.Wait()
}
