package provider

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider/wire"
)

// challenge answers an audit with the asked segment and its Merkle proof
// against the replica's root. Anyone may audit: the answer reveals only
// sealed bytes.
func (s *Server) challenge(c *wire.Challenge) wire.Msg {
	rec, err := s.store.record(c.Root)
	if errors.Is(err, meta.ErrNotFound) {
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s", c.Root)
	}
	if err != nil {
		return s.internal("read record", err)
	}
	if !rec.Complete {
		return wire.Errorf(wire.CodeIncomplete, "replica %s is still being received", c.Root)
	}
	if c.Index >= len(rec.Hashes) {
		return wire.Errorf(wire.CodeMalformed, "segment %d of a %d-segment replica", c.Index, len(rec.Hashes))
	}
	h, err := merkle.HasherFor(rec.Hash)
	if err != nil {
		return s.internal("hash", err)
	}
	off, n := rec.segment(c.Index)
	seg := make([]byte, n)
	if s.cfg.Faults.GarbageAudits {
		_, _ = rand.Read(seg)
	} else if err := s.store.readReplica(c.Root, rec, seg, off); err != nil {
		// A replica whose bytes are gone or short cannot answer: say so,
		// the auditor fails the link and repairs it elsewhere.
		s.log.Warn("audit of a replica that cannot be read", "root", c.Root, "err", err)
		return wire.Errorf(wire.CodeUnknownLink, "replica %s cannot be read", c.Root)
	}
	proof, err := merkle.ProofWith(h, rec.Hashes, c.Index)
	if err != nil {
		return s.internal("proof", err)
	}
	return &wire.ChallengeReply{Root: c.Root, Index: c.Index, Nonce: c.Nonce, Segment: seg, Proof: proof}
}

// renew extends the pledge of a replica the client stored and signs it
// again with the new expiry.
func (s *Server) renew(client common.Address, r *wire.Renew) wire.Msg {
	limit := time.Now().Add(s.cfg.MaxExpiry).Unix()
	if r.Expires > limit {
		return wire.Errorf(wire.CodeDeclined, "expiry %d is past this provider's limit %d", r.Expires, limit)
	}
	err := s.store.updateRecord(r.Root, func(rec *record) error {
		if rec.Client != client || !rec.Complete {
			return meta.ErrNotFound
		}
		if r.Expires > rec.Expires {
			rec.Expires = r.Expires
			rec.Updated = time.Now().Unix()
		}
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s stored for %s", r.Root, client)
	}
	if err != nil {
		return s.internal("renew", err)
	}
	return s.signatureRequest(client, r.Root)
}

// release drops a replica at the request of the client that stored it.
func (s *Server) release(client common.Address, root meta.ID) wire.Msg {
	rec, err := s.store.record(root)
	if errors.Is(err, meta.ErrNotFound) {
		return &wire.Ok{} // already gone: releasing is idempotent
	}
	if err != nil {
		return s.internal("read record", err)
	}
	if rec.Client != client {
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s stored for %s", root, client)
	}
	s.dropReplica(root, time.Now(), true)
	return &wire.Ok{}
}
