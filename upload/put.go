package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/keccak"
	"github.com/pointfs/pointfs/meta/merkle"
)

// PutOptions tune one PutFile.
type PutOptions struct {
	Policy *meta.Policy // nil: the engine's defaults
	Name   string       // what the user calls the file, for listings
}

// DefaultPolicy is the policy a file gets when it asks for none.
func (e *Engine) DefaultPolicy() meta.Policy {
	return meta.Policy{
		Redundancy: e.cfg.Redundancy,
		Expires:    e.cfg.Now().Add(e.cfg.Expiry).Truncate(timeUnit),
		Autorenew:  *e.cfg.Autorenew,
	}
}

// checkPolicy validates pol for a put or a policy change, filling in an
// unset expiry with the default term. An expiry that has passed would have
// every store request declined: with autorenew on, the file is kept for
// one more term from now, as a renewal would have done (newLink does the
// same for a chunk whose term ends before it is stored); with it off, the
// call is refused.
func (e *Engine) checkPolicy(pol *meta.Policy) error {
	if pol.Redundancy < 1 {
		return fmt.Errorf("%w: redundancy %d", meta.ErrInvalid, pol.Redundancy)
	}
	now := e.cfg.Now()
	switch {
	case pol.Expires.After(now):
	case pol.Expires.IsZero() || pol.Autorenew:
		pol.Expires = now.Add(e.cfg.Expiry).Truncate(timeUnit)
	default:
		return fmt.Errorf("%w: expiry %s has passed and autorenew is off", meta.ErrInvalid, pol.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// registerBatch is how many chunks are registered per transaction while a
// file is chunkified: their upload starts while the rest is still read.
const registerBatch = 64

// PutFile is the seed's putFile: it chunkifies r (streaming: only one chunk
// is in memory), keeps the chunks in the local cache, registers them for
// upload with the file's policy and returns the file id. It does not wait
// for the upload (Wait does); uploads of the first chunks begin while later
// ones are still being read.
func (e *Engine) PutFile(ctx context.Context, r io.Reader, opts PutOptions) (id meta.ID, err error) {
	if e.cfg.ReadOnly {
		return meta.ID{}, fmt.Errorf("%w: this engine reads a shared tree", meta.ErrReadOnly)
	}
	pol := e.DefaultPolicy()
	if opts.Policy != nil {
		pol = *opts.Policy
	}
	if err := e.checkPolicy(&pol); err != nil {
		return meta.ID{}, err
	}
	buf := getPutBuffer(e.cfg.ChunkSize, r)
	defer buf.release()
	cs := e.cfg.ChunkSize
	msgs := make([][]byte, 0, hashTogether)
	sums := make([]meta.ID, hashTogether)
	var (
		ids   []meta.ID
		size  int64
		batch = make(map[meta.ID]int, registerBatch)
		fresh []meta.ID // chunks this put registered first
	)
	defer func() {
		if err != nil {
			e.abandon(fresh)
		}
	}()
	// A batch's chunks are cached and registered under putMu (shared), so
	// that TrimCache never takes a chunk this put just found cached for
	// garbage (trim.go).
	locked := false
	unlock := func() {
		if locked {
			e.putMu.RUnlock()
			locked = false
		}
	}
	defer unlock()
	for {
		if err := ctx.Err(); err != nil {
			return meta.ID{}, err
		}
		n, rerr := io.ReadFull(r, buf.b)
		msgs = msgs[:0]
		for off := 0; off < n; off += cs {
			msgs = append(msgs, buf.b[off:min(off+cs, n)])
		}
		keccak.Sum256All(sums[:len(msgs)], msgs)
		for i, data := range msgs {
			id := sums[i]
			if !locked {
				e.putMu.RLock()
				locked = true
			}
			if err := e.cache.Put(id, data); err != nil {
				return meta.ID{}, err
			}
			ids = append(ids, id)
			size += int64(len(data))
			batch[id] = len(data)
			if len(batch) >= registerBatch {
				f, err := e.register(ctx, batch, pol)
				unlock()
				fresh = append(fresh, f...)
				if err != nil {
					return meta.ID{}, err
				}
				clear(batch)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return meta.ID{}, fmt.Errorf("read: %w", rerr)
		}
	}
	info := chunkinfo.EncodeFile(ids, size)
	fid := keccak.Sum256(info)
	if !locked {
		e.putMu.RLock()
		locked = true
	}
	if err := e.cache.Put(fid, info); err != nil {
		return meta.ID{}, err
	}
	batch[fid] = len(info)
	f, err := e.register(ctx, batch, pol)
	unlock()
	fresh = append(fresh, f...)
	if err != nil {
		return meta.ID{}, err
	}
	if err := e.commitFile(ctx, fid, ids, size, pol, opts.Name); err != nil {
		return meta.ID{}, err
	}
	e.Kick()
	return fid, nil
}

// hashTogether is how many chunks PutFile reads and hashes at once:
// keccak.Sum256All hashes eight chunks of one length in one pass.
const hashTogether = 8

// putBuffer is PutFile's read buffer: hashTogether chunks, or the whole
// input when it is known to be smaller.
type putBuffer struct {
	b      []byte
	pooled bool
}

var putBufs sync.Pool

// smallPut is the largest input getPutBuffer gives a buffer of its own:
// Go's largest small-object size. Buffers of every larger size take pages
// of the heap's each (with them, untarring Go's source tree collected more
// often in two runs, not less, though within this machine's noise).
const smallPut = 32<<10 - 1

// getPutBuffer returns a buffer for reading r. A reader that cannot yield
// more than Size() bytes (io.SectionReader, which the mount's puts read
// spool files through, bytes.Reader) and is small gets one of its own size
// plus one byte, so that one read sees its end. (Each put of a small file
// took a pooled 2 MiB buffer, and at the daemon's memory limit the pool is
// emptied by every collection: untarring Go's source tree, 11,500 files
// most of them under 32 KiB, allocated 1.2 GB of them, zeroed.)
func getPutBuffer(chunkSize int, r io.Reader) *putBuffer {
	n := hashTogether * chunkSize
	if sr, ok := r.(interface{ Size() int64 }); ok && sr.Size() < int64(min(n, smallPut)) {
		return &putBuffer{b: make([]byte, max(sr.Size(), 0)+1)}
	}
	if v, ok := putBufs.Get().(*putBuffer); ok && len(v.b) == n {
		return v
	}
	return &putBuffer{b: make([]byte, n), pooled: true}
}

func (b *putBuffer) release() {
	if b.pooled {
		putBufs.Put(b)
	}
}

// PutPath puts the file at path.
func (e *Engine) PutPath(ctx context.Context, path string, pol *meta.Policy) (meta.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return meta.ID{}, err
	}
	defer f.Close()
	return e.PutFile(ctx, f, PutOptions{Policy: pol, Name: filepath.Base(path)})
}

// register makes sure each chunk has a record that asks at least pol of
// the network. A new chunk starts uploading at once; a known chunk is shared
// (content addressing), and only uploads again if pol asks more of it. It
// returns the chunks it created.
func (e *Engine) register(ctx context.Context, sizes map[meta.ID]int, pol meta.Policy) ([]meta.ID, error) {
	var raised, fresh []meta.ID
	err := e.store.Update(ctx, func(tx meta.Tx) error {
		raised, fresh = raised[:0], fresh[:0]
		for id, n := range sizes {
			c, err := tx.Chunk(id)
			switch {
			case errors.Is(err, meta.ErrNotFound):
				c = &meta.Chunk{ID: id, Size: n, State: meta.ChunkUploading, Redundancy: pol.Redundancy,
					Expires: pol.Expires, Autorenew: pol.Autorenew}
				fresh = append(fresh, id)
			case err != nil:
				return err
			default:
				if pol.Redundancy <= c.Redundancy && !pol.Expires.After(c.Expires) && (c.Autorenew || !pol.Autorenew) {
					continue
				}
				c.Autorenew = c.Autorenew || pol.Autorenew
				if c.State == meta.ChunkCreated || c.State == meta.ChunkExpired {
					// Released or lapsed before, wanted again now.
					c.State = meta.ChunkUploading
					raised = append(raised, id)
				}
				if pol.Redundancy > c.Redundancy {
					c.Redundancy = pol.Redundancy
					raised = append(raised, id)
				}
				if pol.Expires.After(c.Expires) {
					c.Expires = pol.Expires
				}
			}
			if err := tx.PutChunk(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("register chunks: %w", err)
	}
	for _, id := range raised {
		if err := e.reconsider(ctx, id); err != nil {
			return fresh, err
		}
	}
	e.markDirty(append(slices.Clone(fresh), raised...)...)
	return fresh, nil
}

// abandon stops the upload of chunks a failed or cancelled put registered
// and no file came to use: they go back to created, out of the tick's way.
func (e *Engine) abandon(ids []meta.ID) {
	if len(ids) == 0 {
		return
	}
	err := e.store.Update(context.Background(), func(tx meta.Tx) error {
		for _, id := range ids {
			c, err := tx.Chunk(id)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if c.Refs == 0 && c.State == meta.ChunkUploading {
				c.State = meta.ChunkCreated
				if err := tx.PutChunk(c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("abandon chunks of a failed put", "err", err)
	}
}

// commitFile records the file and its references to its chunks. The
// references go first, in batches (a large file has more than one badger
// transaction can hold), then the file record with its pending count, read
// in the same transaction as the chunk states it counts, so a chunk that
// finishes meanwhile is counted exactly once.
func (e *Engine) commitFile(ctx context.Context, fid meta.ID, ids []meta.ID, size int64, pol meta.Policy, name string) error {
	return e.commitFileSized(ctx, fid, ids, size, e.cfg.ChunkSize, pol, name)
}

// commitFileSized is commitFile for a file cut into chunks of chunkSize
// (an adopted file may have been cut with another size than ours).
func (e *Engine) commitFileSized(ctx context.Context, fid meta.ID, ids []meta.ID, size int64, chunkSize int, pol meta.Policy, name string) error {
	if ids == nil {
		ids = []meta.ID{} // an empty file still has a (empty) chunk list
	}
	f := &meta.File{ID: fid, Refs: 1, Size: size, ChunkSize: chunkSize, Chunks: ids,
		Merkle: merkle.Root(ids), Policy: pol, Created: e.cfg.Now(), Name: name}
	distinct := f.DistinctChunks()
	f.Distinct = len(distinct)

	exists := false
	err := e.store.Update(ctx, func(tx meta.Tx) error {
		old, err := tx.File(fid)
		if errors.Is(err, meta.ErrNotFound) {
			exists = false
			return nil
		}
		if err != nil {
			return err
		}
		exists = true
		old.Refs++
		// The same content put again: it asks the most of either policy.
		old.Policy.Redundancy = max(old.Policy.Redundancy, pol.Redundancy)
		if pol.Expires.After(old.Policy.Expires) {
			old.Policy.Expires = pol.Expires
		}
		old.Policy.Autorenew = old.Policy.Autorenew || pol.Autorenew
		if name != "" {
			old.Name = name
		}
		return tx.PutFile(old)
	})
	if err != nil || exists {
		return err
	}
	const refBatch = 500 // within the store's transaction limit twice over
	for start := 0; start < len(distinct); start += refBatch {
		part := distinct[start:min(start+refBatch, len(distinct))]
		err := e.store.Update(ctx, func(tx meta.Tx) error {
			for _, id := range part {
				c, err := tx.Chunk(id)
				if err != nil {
					return err
				}
				c.Refs++
				if err := tx.PutChunk(c); err != nil {
					return err
				}
				if err := tx.AddChunkRef(id, fid); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reference chunks: %w", err)
		}
	}
	err = e.store.Update(ctx, func(tx meta.Tx) error {
		f.Pending = 0
		for _, id := range distinct {
			c, err := tx.Chunk(id)
			if err != nil {
				return err
			}
			if c.State != meta.ChunkUploaded {
				f.Pending++
			}
		}
		f.State = fileState(f.Pending)
		return tx.PutFile(f)
	})
	if err != nil {
		return fmt.Errorf("record file: %w", err)
	}
	e.notifyChanged()
	return nil
}

// Wait returns when file id is uploaded (durable on its redundancy), or
// with ctx's error.
func (e *Engine) Wait(ctx context.Context, id meta.ID) error {
	for {
		ch := e.changedChan()
		var f *meta.File
		err := e.store.View(ctx, func(tx meta.Tx) (err error) {
			f, err = tx.File(id)
			return err
		})
		if err != nil {
			return err
		}
		if f.State == meta.FileUploaded {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
