package provider

import (
	"encoding/json"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
)

// janitor frees what nobody will use: reservations whose map never came,
// uploads that stalled, and replicas past their expiry (plus a grace
// period, so a renewal that comes a little late still finds the data).
func (s *Server) janitor() {
	defer s.wg.Done()
	for s.sleep(s.t.janitor) {
		s.sweep(time.Now())
	}
}

func (s *Server) sweep(now time.Time) {
	type linkRef struct {
		client common.Address
		link   meta.LinkID
	}
	var stale []linkRef
	err := s.store.each(prefixReservation, func(k, v []byte) error {
		var r reservation
		if err := json.Unmarshal(v, &r); err != nil || r.Deadline >= now.Unix() {
			return err
		}
		var ref linkRef
		copy(ref.client[:], k)
		copy(ref.link[:], k[len(ref.client):])
		stale = append(stale, ref)
		return nil
	})
	if err != nil {
		s.log.Error("sweep reservations", "err", err)
	}
	if len(stale) > 0 {
		s.admitMu.Lock()
		for _, ref := range stale {
			s.dropReservation(ref.client, ref.link)
		}
		s.admitMu.Unlock()
		s.log.Info("freed unused reservations", "count", len(stale))
	}

	var gone []meta.ID
	err = s.store.each(prefixRecord, func(k, v []byte) error {
		var r record
		if err := decodeRecord(v, &r); err != nil {
			return err
		}
		if r.Complete && r.Expires < now.Add(-s.t.expiredGrace).Unix() ||
			!r.Complete && r.Updated < now.Add(-s.t.partial).Unix() {
			gone = append(gone, meta.ID(k))
		}
		return nil
	})
	if err != nil {
		s.log.Error("sweep replicas", "err", err)
	}
	for _, root := range gone {
		s.drop(root, now)
	}
}

// drop deletes a replica that expired or stalled, unless segments arrived
// for it lately.
func (s *Server) drop(root meta.ID, now time.Time) { s.dropReplica(root, now, false) }

// dropReplica deletes a replica; unless force, not one that received
// segments lately.
func (s *Server) dropReplica(root meta.ID, now time.Time, force bool) {
	s.mu.Lock()
	u := s.uploads[root]
	s.mu.Unlock()
	if u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if !force && u.err == nil && u.touched.After(now.Add(-s.t.partial)) {
			return
		}
		u.err = meta.ErrNotFound
		s.forget(u)
	}
	s.admitMu.Lock()
	defer s.admitMu.Unlock()
	rec, err := s.store.record(root)
	if err != nil {
		return
	}
	if err := s.store.deleteRecord(root, rec); err != nil {
		s.log.Error("drop replica", "root", root, "err", err)
		return
	}
	s.mu.Lock()
	s.used -= rec.SealedLen
	s.promised.set(replicaPromise(root), 0)
	if rec.Complete {
		s.stored--
	} else {
		s.partial--
	}
	delete(s.perRoot, root)
	s.mu.Unlock()
	s.log.Info("dropped replica", "root", root, "complete", rec.Complete, "expires", time.Unix(rec.Expires, 0))
}
