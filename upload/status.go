package upload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pointfs/pointfs/meta"
)

// FileStatus is what `pointfs status` and the xattrs show of a file.
type FileStatus struct {
	File *meta.File `json:"file"`
	// Uploaded counts distinct chunks that are durable (signed, unexpired
	// links at the file's redundancy); Total counts all distinct chunks.
	Uploaded int `json:"uploaded"`
	Total    int `json:"total"`
	// Repairing counts chunks (with detail only) that lost a signed link
	// (a failed audit, a lapse) and are getting a new one.
	Repairing int           `json:"repairing,omitempty"`
	Chunks    []ChunkStatus `json:"chunks,omitempty"`
	// With detail and payments on (pay.go): Cost is what the providers
	// acknowledged being paid for the file's links (wei), Spend splits it
	// by provider, and Payment says why uploads wait for money, if they do.
	Cost    string          `json:"cost,omitempty"`
	Spend   []ProviderSpend `json:"spend,omitempty"`
	Payment string          `json:"payment,omitempty"`
}

// ChunkStatus is one chunk of a file with its links.
type ChunkStatus struct {
	Index      int             `json:"index"` // position in the file; -1 for the chunkinfo
	ID         meta.ID         `json:"id"`
	State      meta.ChunkState `json:"state"`
	Redundancy int             `json:"redundancy"`
	Durable    int             `json:"durable"`
	Repairing  bool            `json:"repairing,omitempty"`
	Links      []*meta.Link    `json:"links"`
}

// summarize fills the counts of cs from its links.
func (cs *ChunkStatus) summarize(now time.Time) {
	for _, l := range cs.Links {
		l.Progress = nil // bulky and only the engine's business
		if l.Durable(now) {
			cs.Durable++
		}
		if l.State == meta.LinkFailed && l.Pledge != nil && cs.State == meta.ChunkUploading {
			cs.Repairing = true
		}
	}
}

// Status returns file id's status; with detail, every chunk and its links
// (the chunkinfo chunk first, index -1).
func (e *Engine) Status(ctx context.Context, id meta.ID, detail bool) (*FileStatus, error) {
	st := &FileStatus{}
	err := e.store.View(ctx, func(tx meta.Tx) error {
		f, err := tx.File(id)
		if err != nil {
			return err
		}
		st.File = f
		st.Total = f.Distinct
		st.Uploaded = f.Distinct - f.Pending
		if !detail {
			return nil
		}
		chunks, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		now := e.cfg.Now()
		add := func(i int, cid meta.ID) error {
			c, links, err := chunkLinks(tx, cid)
			if err != nil {
				return err
			}
			cs := ChunkStatus{Index: i, ID: cid, State: c.State, Redundancy: c.Redundancy, Links: links}
			cs.summarize(now)
			if cs.Repairing {
				st.Repairing++
			}
			st.Chunks = append(st.Chunks, cs)
			return nil
		}
		if err := add(-1, id); err != nil {
			return err
		}
		for i, c := range chunks {
			if err := add(i, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if detail {
		e.fillPayments(ctx, st)
	}
	return st, nil
}

// ChunkStatus returns chunk n of file id (the xattr user.point.chunk.<n>).
func (e *Engine) ChunkStatus(ctx context.Context, id meta.ID, n int) (*ChunkStatus, error) {
	var cs *ChunkStatus
	err := e.store.View(ctx, func(tx meta.Tx) error {
		chunks, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		if n < 0 || n >= len(chunks) {
			return fmt.Errorf("chunk %d of %d: %w", n, len(chunks), meta.ErrNotFound)
		}
		c, links, err := chunkLinks(tx, chunks[n])
		if err != nil {
			return err
		}
		cs = &ChunkStatus{Index: n, ID: c.ID, State: c.State, Redundancy: c.Redundancy, Links: links}
		cs.summarize(e.cfg.Now())
		return nil
	})
	return cs, err
}

// Files lists every file the engine knows.
func (e *Engine) Files(ctx context.Context) ([]*meta.File, error) {
	var out []*meta.File
	err := e.store.View(ctx, func(tx meta.Tx) error {
		return tx.Files(func(f *meta.File) error { out = append(out, f); return nil })
	})
	return out, err
}

// SetPolicy changes file id's policy. Chunks get the highest redundancy and
// latest expiry any file using them asks; a chunk that now lacks links goes
// back to uploading and the tick adds links; links beyond a lowered
// redundancy are released (RELEASE).
func (e *Engine) SetPolicy(ctx context.Context, id meta.ID, pol meta.Policy) error {
	if err := e.checkPolicy(&pol); err != nil {
		return err
	}
	var chunks []meta.ID
	err := e.store.Update(ctx, func(tx meta.Tx) error {
		f, err := tx.File(id)
		if err != nil {
			return err
		}
		f.Policy = pol
		if err := tx.PutFile(f); err != nil {
			return err
		}
		list, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		f.Chunks = list
		chunks = f.DistinctChunks()
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := e.settleChunkPolicy(ctx, c); err != nil {
			return err
		}
		if err := e.reconsider(ctx, c); err != nil {
			return err
		}
		if err := e.trim(ctx, c); err != nil {
			return err
		}
	}
	e.reads.forgetFile(id)
	e.markDirty(chunks...)
	return nil
}

// settleChunkPolicy sets a chunk's redundancy and expiry to the most any
// file using it asks.
func (e *Engine) settleChunkPolicy(ctx context.Context, id meta.ID) error {
	return e.store.Update(ctx, func(tx meta.Tx) error {
		c, err := tx.Chunk(id)
		if err != nil {
			return err
		}
		files, err := tx.ChunkFiles(id)
		if err != nil {
			return err
		}
		red, exp, renew := 0, c.Expires, false
		for _, fid := range files {
			f, err := tx.File(fid)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			red = max(red, f.Policy.Redundancy)
			renew = renew || f.Policy.Autorenew
			if f.Policy.Expires.After(exp) {
				exp = f.Policy.Expires
			}
		}
		if red == 0 {
			return nil
		}
		c.Redundancy, c.Expires, c.Autorenew = red, exp, renew
		return tx.PutChunk(c)
	})
}

// Release drops one reference to file id (a tree node that stopped pointing
// at it, or a deleted put). When none is left the file goes: its chunks lose
// a reference, and a chunk no file uses any more stops uploading. Signed
// links of a chunk no file uses are released (RELEASE). Cached plaintext
// stays for the cache's eviction to take: a put of the same content may be
// reusing it.
func (e *Engine) Release(ctx context.Context, id meta.ID) error {
	var chunks []meta.ID
	last := false
	err := e.store.Update(ctx, func(tx meta.Tx) error {
		f, err := tx.File(id)
		if err != nil {
			return err
		}
		if f.Refs > 1 {
			f.Refs--
			last = false
			return tx.PutFile(f)
		}
		last = true
		if f.Chunks, err = tx.FileChunks(id); err != nil {
			return err
		}
		chunks = f.DistinctChunks()
		return nil
	})
	if err != nil || !last {
		return err
	}
	// References go in batches (a large file has more chunks than one
	// transaction holds), each dropped only if still there, so a Release
	// cut short and run again never counts a chunk twice; the file record
	// goes last.
	var orphans []meta.ID
	const batch = 500 // within the store's transaction limit twice over
	for start := 0; start < len(chunks); start += batch {
		part := chunks[start:min(start+batch, len(chunks))]
		var gone []meta.ID
		err = e.store.Update(ctx, func(tx meta.Tx) error {
			gone = gone[:0]
			// Every read before the first write: badger sorts a
			// transaction's pending writes for each iterator it opens
			// (ChunkFiles scans), which made a batch quadratic in its
			// size.
			used := make([]*meta.Chunk, 0, len(part))
			for _, cid := range part {
				users, err := tx.ChunkFiles(cid)
				if err != nil {
					return err
				}
				if !slices.Contains(users, id) {
					continue
				}
				c, err := tx.Chunk(cid)
				if err != nil {
					return err
				}
				used = append(used, c)
			}
			for _, c := range used {
				c.Refs--
				if c.Refs <= 0 {
					c.Refs = 0
					c.State = meta.ChunkCreated
					gone = append(gone, c.ID)
				}
				if err := tx.PutChunk(c); err != nil {
					return err
				}
				if err := tx.RemoveChunkRef(c.ID, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		orphans = append(orphans, gone...)
	}
	if err := e.store.Update(ctx, func(tx meta.Tx) error { return tx.DeleteFile(id) }); err != nil {
		return err
	}
	for _, c := range orphans {
		if err := e.trim(ctx, c); err != nil {
			return err
		}
	}
	e.reads.forgetFile(id)
	e.notifyChanged()
	return nil
}
