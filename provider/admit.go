package provider

import (
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider/wire"
)

// offer answers OFFER with the provider's current terms.
func (s *Server) offer() *wire.Offer {
	return &wire.Offer{
		Address:         s.addr,
		PricePerByteDay: s.cfg.PricePerByteDay,
		FreeBytes:       s.free(),
		MaxExpiry:       int64(s.cfg.MaxExpiry / time.Second),
		MaxSegmentSize:  wire.MaxSegment,
		MaxSealedLen:    DefaultMaxSealedLen,
	}
}

// storeRequest answers STORE_CHUNK_REQUEST: it reserves room for the link
// or declines. Asking again for the same link is harmless (Ok again).
func (s *Server) storeRequest(client common.Address, req *wire.StoreRequest) wire.Msg {
	now := time.Now()
	switch {
	case req.SealedLen < 1 || req.SealedLen > DefaultMaxSealedLen:
		return wire.Errorf(wire.CodeDeclined, "sealed length %d out of [1, %d]", req.SealedLen, DefaultMaxSealedLen)
	case req.Expires <= now.Unix():
		return wire.Errorf(wire.CodeDeclined, "expiry %d is in the past", req.Expires)
	case req.Expires > now.Add(s.cfg.MaxExpiry+s.t.clockSlack).Unix():
		return wire.Errorf(wire.CodeDeclined, "expiry %d is further than %v", req.Expires, s.cfg.MaxExpiry)
	}
	price := req.Price
	if price == nil {
		price = new(big.Int)
	}
	if price.Cmp(s.cfg.PricePerByteDay) < 0 {
		return wire.Errorf(wire.CodeDeclined, "price %v below %v wei per byte-day", price, s.cfg.PricePerByteDay)
	}
	if refuse := s.refuseDebtor(client); refuse != nil {
		return refuse
	}

	s.admitMu.Lock()
	defer s.admitMu.Unlock()
	if _, err := s.store.linkRoot(client, req.LinkID); err == nil {
		return &wire.Ok{} // its map already came: nothing more to reserve
	}
	old, err := s.store.reservation(client, req.LinkID)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return s.internal("read reservation", err)
	}
	var held int64
	if old != nil {
		held = old.SealedLen
	}
	if grow := req.SealedLen - held; grow > 0 && grow > s.free() {
		return wire.Errorf(wire.CodeNoSpace, "%d bytes asked, %d free", grow, s.free())
	}
	res := &reservation{
		SealedLen: req.SealedLen,
		Expires:   req.Expires,
		Price:     price.String(),
		Deadline:  now.Add(s.t.reservation).Unix(),
	}
	if err := s.store.putReservation(client, req.LinkID, res); err != nil {
		return s.internal("write reservation", err)
	}
	s.mu.Lock()
	s.used += req.SealedLen - held
	if old == nil {
		s.reserved++
	}
	s.promised.set(reservationPromise(client, req.LinkID), req.SealedLen)
	s.mu.Unlock()
	return &wire.Ok{}
}

// segmentMap answers STORE_CHUNK_SEGMENTS. A root held complete is
// ECHUNKALREADYSTORED (the client goes on to ask for the signature); a root
// partly received for the same client resumes; otherwise the link's
// reservation becomes the replica's record once the hashes are shown to
// rebuild the root. The map's locator and tag, if any, file the replica
// for LIST (also when the same client's root is already held).
func (s *Server) segmentMap(client common.Address, m *wire.SegmentMap) (wire.Msg, error) {
	s.admitMu.Lock()
	defer s.admitMu.Unlock()
	rec, err := s.store.record(m.Root)
	switch {
	case err == nil && rec.Client != client:
		if rec.Complete {
			return wire.Errorf(wire.CodeAlreadyStored, "root %s", m.Root), nil
		}
		return wire.Errorf(wire.CodeDeclined, "root %s is being stored for another client", m.Root), nil
	case err == nil:
		// This link's own reservation (if it is a new link for a root we
		// have) is not needed: the room is already counted for the root.
		// Its expiry, if later, extends the replica's, so that the pledge
		// the client asks for next covers what it asked for.
		if rec.Link != m.LinkID {
			if res := s.dropReservation(client, m.LinkID); res != nil && res.Expires > rec.Expires {
				err := s.store.updateRecord(m.Root, func(r *record) error {
					r.Expires = max(r.Expires, res.Expires)
					return nil
				})
				if err != nil {
					return s.internal("extend record", err), nil
				}
			}
		}
		if !m.Locator.IsZero() {
			// The map's locator and tag, as TAG would add them.
			err := s.store.setTag(m.Root, client, m.Locator, m.Tag, false)
			if r := tagRefusal(m.Root, err); r != nil {
				return r, nil
			}
			if err != nil {
				return s.internal("tag replica", err), nil
			}
		}
		if rec.Complete {
			return wire.Errorf(wire.CodeAlreadyStored, "root %s", m.Root), nil
		}
		return &wire.Ok{}, nil // a resumed upload: send what is missing
	case !errors.Is(err, meta.ErrNotFound):
		return s.internal("read record", err), nil
	}

	res, err := s.store.reservation(client, m.LinkID)
	if errors.Is(err, meta.ErrNotFound) {
		if _, err := s.store.linkRoot(client, m.LinkID); err == nil {
			return wire.Errorf(wire.CodeDeclined, "link %s already carries another root", m.LinkID), nil
		}
		return wire.Errorf(wire.CodeUnknownLink, "no STORE_CHUNK_REQUEST for link %s", m.LinkID), nil
	}
	if err != nil {
		return s.internal("read reservation", err), nil
	}
	if m.SealedLen != res.SealedLen {
		return wire.Errorf(wire.CodeDeclined, "sealed length %d, the request said %d", m.SealedLen, res.SealedLen), nil
	}
	h, err := merkle.HasherFor(m.Hash)
	if err != nil {
		return wire.Errorf(wire.CodeDeclined, "segment hash %q not supported", m.Hash), nil
	}
	if got := merkle.RootWith(h, m.Hashes); got != m.Root {
		return nil, wire.Errorf(wire.CodeMalformed, "segment hashes rebuild root %s, not %s", got, m.Root)
	}
	rec = &record{
		Link:      m.LinkID,
		Client:    client,
		Hash:      m.Hash,
		SegSize:   m.SegmentSize,
		SealedLen: m.SealedLen,
		Hashes:    m.Hashes,
		Expires:   res.Expires,
		Updated:   time.Now().Unix(),
		Rate:      res.Price,
	}
	if !m.Locator.IsZero() {
		rec.Tags = []tagEntry{{Locator: m.Locator, Tag: m.Tag}}
	}
	// The region is reserved (the pack grown over it) before the record
	// names it: a region whose record never commits is only a hole.
	rec.Pack, rec.Off, err = s.store.packs.reserve(rec.SealedLen)
	if errors.Is(err, meta.ErrNoSpace) {
		s.log.Warn("no room on disk for a replica", "root", m.Root, "err", err)
		return wire.Errorf(wire.CodeNoSpace, "no room on disk for %d bytes", rec.SealedLen), nil
	}
	if err != nil {
		return s.internal("reserve room in a pack", err), nil
	}
	if err := s.store.adopt(client, m.LinkID, m.Root, rec); err != nil {
		s.store.packs.unreserve(rec.Pack)
		return s.internal("write record", err), nil
	}
	s.mu.Lock()
	s.reserved--
	s.partial++
	s.promised.set(reservationPromise(client, m.LinkID), 0)
	s.promised.set(replicaPromise(m.Root), rec.SealedLen)
	s.mu.Unlock()
	s.begin(m.Root, rec)
	return &wire.Ok{}, nil
}

// dropReservation frees a reservation if there is one and returns it.
// admitMu is held.
func (s *Server) dropReservation(client common.Address, l meta.LinkID) *reservation {
	res, err := s.store.reservation(client, l)
	if err != nil {
		return nil
	}
	if err := s.store.deleteReservation(client, l); err != nil {
		s.log.Error("drop reservation", "err", err)
		return nil
	}
	s.mu.Lock()
	s.used -= res.SealedLen
	s.reserved--
	s.promised.set(reservationPromise(client, l), 0)
	s.mu.Unlock()
	return res
}
