package provider

import (
	"context"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// Recovery and sharing (issue #7): a client that knows only its key finds
// its replicas again by the locators it filed them under (TAG, the map's
// locator; LIST), and its tree by its signed root record (PUT_ROOT,
// GET_ROOT, and the DHT under RootKey).

// tag answers TAG: the client that stored a complete replica files it
// under one more locator.
func (s *Server) tag(client common.Address, m *wire.Tag) wire.Msg {
	err := s.store.setTag(m.Root, client, m.Locator, m.Tag, true)
	if r := tagRefusal(m.Root, err); r != nil {
		return r
	}
	if err != nil {
		return s.internal("tag replica", err)
	}
	return &wire.Ok{}
}

// tagRefusal returns the Error reply that reports a refusal of setTag, or
// nil when err is none of those.
func tagRefusal(root meta.ID, err error) *wire.Error {
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s", root)
	case errors.Is(err, errNotClient):
		return wire.Errorf(wire.CodeDeclined, "replica %s was stored by another client", root)
	case errors.Is(err, errIncomplete):
		return wire.Errorf(wire.CodeIncomplete, "replica %s is still being received", root)
	case errors.Is(err, errTooManyTags):
		return wire.Errorf(wire.CodeNoSpace, "replica %s: %v", root, err)
	}
	return nil
}

// listBudget is how many bytes of entries one ListReply may carry.
const listBudget = wire.MaxFrame - 4<<10

// list answers LIST with the complete replicas filed under the locator,
// each with the pledge signed for the client that stored it (signed now,
// after a sync, when it has none that matches the record).
func (s *Server) list(m *wire.List) wire.Msg {
	reply := &wire.ListReply{}
	var unsigned []int // entries that need a pledge
	size, full := 0, false
	more, err := s.store.tagged(m.Locator, m.After, func(root meta.ID, tag []byte, r *record) bool {
		if !r.Complete {
			return true
		}
		e := wire.ListEntry{
			Root: root, Hash: r.Hash, SegmentSize: r.SegSize, SealedLen: r.SealedLen,
			Expires: r.Expires, Hashes: r.Hashes, Tag: tag,
			Client: r.Client, PledgeLength: r.SealedLen, PledgeExpires: r.Expires,
		}
		sign := false
		if p := keptPledge(r); p != nil && !s.cfg.Faults.ForgePledge {
			e.Signature = p.Signature
		} else {
			e.Signature = make([]byte, wire.SignatureLen) // for its size; signed below
			sign = true
		}
		if len(reply.Entries) > 0 && size+e.Size() > listBudget {
			full = true // this one comes next time
			return false
		}
		if sign {
			unsigned = append(unsigned, len(reply.Entries))
		}
		size += e.Size()
		reply.Entries = append(reply.Entries, e)
		return len(reply.Entries) < m.Limit
	})
	if err != nil {
		return s.internal("list", err)
	}
	reply.More = more || full
	if len(unsigned) > 0 {
		if r := s.signListed(reply.Entries, unsigned); r != nil {
			return r
		}
	}
	if len(reply.Entries) > 0 {
		// The pledges go out: their replicas, and the pledges and bills
		// just written, must be durable first (a pledge kept before may be
		// one whose own sync failed).
		ctx, cancel := context.WithTimeout(s.ctx, s.t.write)
		defer cancel()
		if err := s.sync.Wait(ctx); err != nil {
			return s.internal("sync", err)
		}
	}
	return reply
}

// signListed signs the pledges of the listed entries at idx and keeps
// them (unsynced: the caller syncs before they go out).
func (s *Server) signListed(entries []wire.ListEntry, idx []int) *wire.Error {
	key, forge := s.cfg.Key, s.cfg.Faults.ForgePledge
	for _, i := range idx {
		e := &entries[i]
		if forge {
			var err error
			if key, err = ethcrypto.GenerateKey(); err != nil {
				return s.internal("forge key", err)
			}
		}
		p, err := SignPledge(key, e.Client, e.Root, e.PledgeLength, e.PledgeExpires)
		if err != nil {
			return s.internal("sign", err)
		}
		e.Signature = p.Signature
		if forge {
			continue
		}
		s.keepPledge(e.Client, e.Root, p, func(r *record) bool {
			return r.Client == p.Client && r.SealedLen == p.Length && r.Expires == p.Expires
		})
		s.pledges.Add(1)
	}
	return nil
}

// keptPledge returns the pledge kept with r if it covers r as it is now.
func keptPledge(r *record) *meta.Pledge {
	p := r.Pledge
	if p == nil || p.Client != r.Client || p.Length != r.SealedLen || p.Expires != r.Expires ||
		len(p.Signature) != wire.SignatureLen {
		return nil
	}
	return p
}

// putRoot answers PUT_ROOT: it keeps the record when it is signed by its
// owner and newer than the one held. The same version again is Ok.
func (s *Server) putRoot(m *wire.PutRoot) wire.Msg {
	r := fromWireRoot(&m.Record)
	if err := r.Verify(); err != nil {
		return wire.Errorf(wire.CodeDeclined, "%v", err)
	}
	old, replaced, err := s.store.putRootRecord(r)
	if err != nil {
		return s.internal("keep root record", err)
	}
	if !replaced {
		if sameVersion(r, old) {
			return &wire.Ok{}
		}
		return wire.Errorf(wire.CodeStale, "root record %d of %s is older than the one held (%d)", r.Seq, r.Owner, old.Seq)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.t.write)
	defer cancel()
	if err := s.sync.Wait(ctx); err != nil {
		return s.internal("sync", err)
	}
	s.log.Info("root record kept", "owner", r.Owner, "seq", r.Seq, "time", time.Unix(r.Time, 0))
	return &wire.Ok{}
}

// getRoot answers GET_ROOT with the record held for the owner. Anyone may
// ask: records are signed and public (they are in the DHT too).
func (s *Server) getRoot(m *wire.GetRoot) wire.Msg {
	r, err := s.store.rootRecord(m.Owner)
	if errors.Is(err, meta.ErrNotFound) {
		return wire.Errorf(wire.CodeUnknownLink, "no root record for %s", m.Owner)
	}
	if err != nil {
		return s.internal("read root record", err)
	}
	return &wire.RootMsg{Record: *r.wire()}
}
