package provider

import (
	"context"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// data answers STORE_CHUNK_DATA. A segment is checked against its hash
// before it is written; a wrong one is answered CodeBadSegment and not
// stored. A segment already held is acknowledged again without rewriting,
// so retransmissions are harmless. An unknown root or an index outside the
// map is a protocol error: every Data pipelined after it would be wrong too.
func (s *Server) data(m *wire.Data) (wire.Msg, error) {
	s.dataMsgs.Add(1)
	s.mu.Lock()
	s.perRoot[m.Root]++
	s.mu.Unlock()
	ack := &wire.DataAck{Root: m.Root, Index: m.Index}

	u, err := s.upload(m.Root)
	switch {
	case errors.Is(err, errComplete):
		return ack, nil
	case errors.Is(err, meta.ErrNotFound):
		return nil, wire.Errorf(wire.CodeUnknownLink, "no segment map for root %s", m.Root)
	case err != nil:
		return s.internal("load replica", err), nil
	}
	if m.Index >= len(u.rec.Hashes) {
		return nil, wire.Errorf(wire.CodeMalformed, "segment %d of a %d-segment map", m.Index, len(u.rec.Hashes))
	}
	if s.cfg.Faults.DropSegmentsOnce && m.Index%4 == 1 {
		k := segKey{m.Root, m.Index}
		s.mu.Lock()
		_, seen := s.dropped[k]
		s.dropped[k] = struct{}{}
		s.mu.Unlock()
		if !seen {
			s.droppedSegments.Add(1)
			return nil, nil
		}
	}
	u.mu.Lock()
	held := u.done || (u.err == nil && u.have[m.Index])
	u.mu.Unlock()
	if held {
		return ack, nil
	}
	if _, n := u.rec.segment(m.Index); len(m.Bytes) != n || u.hash(m.Bytes) != u.rec.Hashes[m.Index] {
		s.badSegments.Add(1)
		ack.Code = wire.CodeBadSegment
		return ack, nil
	}
	if err := s.storeSegment(u, m.Index, m.Bytes); err != nil {
		s.log.Error("store segment", "root", m.Root, "index", m.Index, "err", err)
		ack.Code = wire.CodeInternal
	}
	return ack, nil
}

// signatureRequest answers STORE_CHUNK_SIGNATURE_REQUEST: when every
// segment is present (each was checked against its hash on receipt or by
// the resume scan), it makes the replica durable, then signs.
func (s *Server) signatureRequest(client common.Address, root meta.ID) wire.Msg {
	rec, err := s.store.record(root)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && rec.Client != client) {
		// Pledges go to the client that stored the replica only: no one
		// else is owed one, nor pays for it.
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s stored for %s", root, client)
	}
	if err != nil {
		return s.internal("read record", err)
	}
	if !rec.Complete {
		u, err := s.upload(root)
		switch {
		case errors.Is(err, errComplete):
		case err != nil:
			return s.internal("load replica", err)
		default:
			u.mu.Lock()
			missing, done := u.missing, u.done
			u.mu.Unlock()
			if !done {
				return wire.Errorf(wire.CodeIncomplete, "%d of %d segments missing", missing, len(rec.Hashes))
			}
		}
		if rec, err = s.store.record(root); err != nil {
			return s.internal("read record", err)
		}
	}
	// One sync, after the pledge and its bill are written and before the
	// pledge leaves, makes the replica's data, the pledge and the bill
	// durable together. A pledge signed before is handed out again after
	// a sync too: the one that signed it may have failed to sync.
	forge := s.cfg.Faults.ForgePledge
	p := rec.Pledge
	if p == nil || forge || p.Client != client || p.Expires != rec.Expires || p.Length != rec.SealedLen {
		key := s.cfg.Key
		if forge {
			if key, err = ethcrypto.GenerateKey(); err != nil {
				return s.internal("forge key", err)
			}
		}
		if p, err = SignPledge(key, client, root, rec.SealedLen, rec.Expires); err != nil {
			return s.internal("sign", err)
		}
		if !forge {
			s.keepPledge(client, root, p, nil)
		}
		s.pledges.Add(1)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.t.write)
	defer cancel()
	if err := s.sync.Wait(ctx); err != nil {
		return s.internal("sync", err)
	}
	return &wire.PledgeMsg{Root: root, Length: p.Length, Expires: p.Expires, Signature: p.Signature}
}

// frameBudget is how many segment bytes one ChunkData may carry.
const frameBudget = wire.MaxFrame - 4<<10

// getChunk answers GET_CHUNK with as many of the asked segments as fit one
// frame (at least one); the client asks again for the rest. The segments
// are read into *buf (grown when short), which the reply aliases.
func (s *Server) getChunk(g *wire.GetChunk, buf *[]byte) (wire.Msg, error) {
	rec, err := s.store.record(g.Root)
	if errors.Is(err, meta.ErrNotFound) {
		return wire.Errorf(wire.CodeUnknownLink, "no replica %s", g.Root), nil
	}
	if err != nil {
		return s.internal("read record", err), nil
	}
	if !rec.Complete {
		return wire.Errorf(wire.CodeIncomplete, "replica %s is still being received", g.Root), nil
	}
	n := len(rec.Hashes)
	if g.First >= n {
		return nil, wire.Errorf(wire.CodeMalformed, "segment %d of a %d-segment replica", g.First, n)
	}
	count := min(g.Count, n-g.First, max(1, frameBudget/(rec.SegSize+8)))
	start, _ := rec.segment(g.First)
	lastOff, lastLen := rec.segment(g.First + count - 1)
	size := int(lastOff + int64(lastLen) - start)
	if cap(*buf) < size {
		*buf = make([]byte, size)
	}
	b := (*buf)[:size]
	if err := s.store.readReplica(g.Root, rec, b, start); err != nil {
		return s.internal("read replica", err), nil
	}
	segs := make([][]byte, count)
	for i := range segs {
		off, l := rec.segment(g.First + i)
		segs[i] = b[off-start : off-start+int64(l)]
		if s.cfg.Faults.GarbageReads {
			segs[i][l/2] ^= 0x40
		}
	}
	return &wire.ChunkData{Root: g.Root, First: g.First, Segments: segs}, nil
}
