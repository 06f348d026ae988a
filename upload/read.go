package upload

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/upload/seal"
)

// maxFetchBytes bounds one GET_CHUNK reply (the wire caps frames at 4 MiB).
const maxFetchBytes = 2 << 20

// readAhead is how many chunks past a sequential read are fetched early
// (4 MiB of 256 KiB chunks): a fetch is a round trip, a verification and an
// unsealing, and the mount's reads come 128 KiB at a time.
const readAhead = 16

// fileChunks returns a file's size, chunk size and chunk list.
func (e *Engine) fileChunks(ctx context.Context, id meta.ID) (*meta.File, error) {
	if f := e.reads.file(id); f != nil {
		return f, nil
	}
	var f *meta.File
	err := e.store.View(ctx, func(tx meta.Tx) (err error) {
		if f, err = tx.File(id); err != nil {
			return err
		}
		f.Chunks, err = tx.FileChunks(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.reads.putFile(f)
	return f, nil
}

// ReadAt reads len(p) bytes of file id at off. It fetches only the chunks
// the range touches (local cache first, then providers), every byte verified,
// and reads ahead when reads are sequential.
func (e *Engine) ReadAt(ctx context.Context, id meta.ID, p []byte, off int64) (int, error) {
	f, err := e.fileChunks(ctx, id)
	if err != nil {
		return 0, err
	}
	if off >= f.Size {
		return 0, io.EOF
	}
	cs := int64(f.ChunkSize)
	start, n := off, 0
	for n < len(p) && off < f.Size {
		i := int(off / cs)
		c, err := e.chunk(ctx, f.Chunks[i])
		if err != nil {
			return n, err
		}
		k := copy(p[n:], c.data()[off-int64(i)*cs:])
		c.release()
		n += k
		off += int64(k)
	}
	if ahead := e.reads.sequential(id, start, off, readAhead*cs); ahead >= 0 {
		// From the chunk after this read's to readAhead chunks past the
		// furthest read so far.
		last := int(min((ahead+cs-1)/cs+readAhead, int64(len(f.Chunks))))
		for i := int((off + cs - 1) / cs); i < last; i++ {
			e.prefetch(f.Chunks[i])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Get writes the whole file id to w, verified, fetching a few chunks at a
// time in parallel.
func (e *Engine) Get(ctx context.Context, id meta.ID, w io.Writer) error {
	f, err := e.fileChunks(ctx, id)
	if err != nil {
		return err
	}
	const window = 8
	type result struct {
		c   *chunkRef
		err error
	}
	pending := make([]chan result, 0, window)
	next := 0
	start := func() {
		ch := make(chan result, 1)
		c := f.Chunks[next]
		next++
		go func() {
			d, err := e.chunk(ctx, c)
			ch <- result{d, err}
		}()
		pending = append(pending, ch)
	}
	for next < len(f.Chunks) && len(pending) < window {
		start()
	}
	// On an error the chunks still coming are left to the collector.
	for len(pending) > 0 {
		r := <-pending[0]
		pending = pending[1:]
		if r.err != nil {
			return r.err
		}
		_, err := w.Write(r.c.data())
		r.c.release()
		if err != nil {
			return err
		}
		if next < len(f.Chunks) {
			start()
		}
	}
	return nil
}

func (e *Engine) prefetch(id meta.ID) {
	if !e.reads.wanted(id) {
		return // in memory, or being fetched
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
		defer cancel()
		c, err := e.chunk(ctx, id)
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Debug("read-ahead", "chunk", id, "err", err)
			}
			return
		}
		c.release() // it stays in the read cache
	}()
}

// chunk returns the plaintext of chunk id: from memory, the local cache,
// or its providers. Concurrent calls for one chunk share one fetch (a read
// that catches up with its read-ahead waits for it instead of fetching the
// chunk a second time). The caller releases what it gets, once it is done
// with its bytes.
func (e *Engine) chunk(ctx context.Context, id meta.ID) (*chunkRef, error) {
	for {
		if c := e.reads.chunk(id); c != nil {
			return c, nil
		}
		f, leader := e.reads.join(id)
		if leader {
			c, err := e.load(ctx, id)
			e.reads.land(id, f, c, err)
			return c, err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			e.reads.leave(f)
			return nil, ctx.Err()
		}
		if f.err == nil {
			return f.c, nil // land held it for us
		}
		if !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded) {
			return nil, f.err
		}
		// The one fetching gave up (its reader went away): fetch it ourselves.
	}
}

// load reads chunk id from the local cache, else from its providers, and
// keeps it in the read cache.
func (e *Engine) load(ctx context.Context, id meta.ID) (*chunkRef, error) {
	b, checked, err := e.cache.getPooled(id)
	switch {
	case err == nil && (checked || merkle.Keccak256(b.b) == id):
		// Checked: the bytes are those PutFile hashed to id, or a fetch
		// verified, when they went in.
		return e.reads.putChunk(id, newChunkRef(b)), nil
	case err == nil || errors.Is(err, meta.ErrCorrupt):
		e.log.Warn("cached chunk is corrupt; fetching it again", "chunk", id, "err", err)
		if b != nil {
			b.release()
		}
		_ = e.cache.Remove(id)
	}
	b, err = e.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.reads.putChunk(id, newChunkRef(b)), nil
}

// chunkRef is a chunk's plaintext in a pooled buffer, shared by the read
// cache and the readers it hands it to. Each holder releases its
// reference once done with the bytes; the last one gives the buffer back
// for the next chunk. A cold get of 256 MiB allocated 315 MB and ran 14-16
// collections with a new buffer per chunk; 64-87 MB and 3-6 with these.
// A reference never released leaves the buffer to the collector; one
// released twice is a bug that would hand the bytes to another chunk
// while a reader still copies them, so it panics.
type chunkRef struct {
	buf  *buffer
	refs atomic.Int32
}

// newChunkRef holds b with one reference, the caller's.
func newChunkRef(b *buffer) *chunkRef {
	c := &chunkRef{buf: b}
	c.refs.Store(1)
	return c
}

func (c *chunkRef) data() []byte { return c.buf.b }

func (c *chunkRef) hold() { c.refs.Add(1) }

func (c *chunkRef) release() {
	switch n := c.refs.Add(-1); {
	case n == 0:
		b := c.buf
		c.buf = nil
		b.release()
	case n < 0:
		panic("upload: chunk buffer released more often than held")
	}
}

// flight is one fetch of a chunk that others may wait for.
type flight struct {
	done chan struct{}
	c    *chunkRef // held once for each waiter when it landed
	err  error
	// Under readCache.mu: the waiters, and whether it landed.
	waiters int
	landed  bool
}

// fetch gets chunk id from the providers of its signed links, fastest
// first, failing over on any error; every segment is checked against the
// link's tree (and the opened chunk of a shared link against its id).
func (e *Engine) fetch(ctx context.Context, id meta.ID) (*buffer, error) {
	var links []*meta.Link
	err := e.store.View(ctx, func(tx meta.Tx) (err error) {
		links, err = tx.Links(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	links = slices.DeleteFunc(links, func(l *meta.Link) bool { return l.State != meta.LinkSigned })
	if len(links) == 0 {
		return nil, fmt.Errorf("chunk %s: no signed link: %w", id, meta.ErrUnavailable)
	}
	e.orderByLatency(links)
	var errs []error
	for _, l := range links {
		d, err := e.fetchLink(ctx, l)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e.log.Info("fetch failed over", "chunk", id, "provider", l.Provider, "err", err)
		// Dead or lying: the next reads try it last.
		if p, perr := peer.Decode(l.Provider); perr == nil {
			e.providerResult(p, false)
		}
		errs = append(errs, fmt.Errorf("%s: %w", l.Provider, err))
	}
	return nil, fmt.Errorf("chunk %s: %w: %w", id, meta.ErrUnavailable, errors.Join(errs...))
}

// fetchLink returns l's chunk, opened, in a pooled buffer.
func (e *Engine) fetchLink(ctx context.Context, l *meta.Link) (*buffer, error) {
	p, err := peer.Decode(l.Provider)
	if err != nil {
		return nil, err
	}
	h, err := merkle.HasherFor(l.SegmentHash)
	if err != nil {
		return nil, err
	}
	if merkle.RootWith(h, l.Segments) != l.Root {
		return nil, fmt.Errorf("%w: link record's segments do not give its root", meta.ErrCorrupt)
	}
	// Each segment is opened into place as it is checked: the reply's
	// buffer is read once.
	buf := getBuffer(int(l.SealedLen))
	out := buf.b
	open := seal.NewOpener(e.linkKey(l))
	per := max(1, maxFetchBytes/l.SegmentSize)
	for first := 0; first < len(l.Segments); first += per {
		count := min(per, len(l.Segments)-first)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got := 0
		err := e.net.ReadSegments(ctx, p, l.Root, first, count, func(i int, s []byte) error {
			want := min(l.SegmentSize, int(l.SealedLen)-i*l.SegmentSize)
			if i != first+got || len(s) != want || h(s) != l.Segments[i] {
				return fmt.Errorf("%w: segment %d from %s", meta.ErrCorrupt, i, l.Provider)
			}
			open.OpenAt(out[i*l.SegmentSize:], s, int64(i*l.SegmentSize))
			got++
			return nil
		})
		cancel()
		if err == nil && got != count {
			err = fmt.Errorf("%w: got %d segments, want %d", meta.ErrCorrupt, got, count)
		}
		if err != nil {
			// ReadSegments calls back only before it returns: nothing
			// writes into buf any more.
			buf.release()
			return nil, err
		}
	}
	// Every segment matched the link's tree, and that tree's root is one
	// this engine computed over its own sealing (or recovered under an
	// owner tag, which authenticates the root): the bytes are exactly the
	// replica sealed from the chunk, and opening it under a key derived
	// from the master gives that chunk back. Hashing it again (Keccak, the
	// slowest step of a read by far) proves nothing more. A shared link's
	// key came from someone else's tag, so what it opens is checked.
	if l.Key != nil && merkle.Keccak256(out) != l.Chunk {
		buf.release()
		return nil, fmt.Errorf("%w: opened chunk does not hash to %s", meta.ErrCorrupt, l.Chunk)
	}
	return buf, nil
}

func (e *Engine) orderByLatency(links []*meta.Link) {
	ps := e.providers
	ps.mu.Lock()
	lat := make(map[string]time.Duration, len(links))
	for _, l := range links {
		p, err := peer.Decode(l.Provider)
		if err != nil {
			continue
		}
		o, ok := ps.offers[p]
		switch {
		case !ok:
			lat[l.Provider] = time.Hour // unknown or gone: last
		default:
			lat[l.Provider] = o.Latency + time.Duration(ps.failures[p])*time.Second
		}
	}
	ps.mu.Unlock()
	slices.SortStableFunc(links, func(a, b *meta.Link) int { return int(lat[a.Provider] - lat[b.Provider]) })
}

// readCache keeps recently read chunks and file chunk lists in memory (a
// small LRU: read-ahead lands here) and tracks sequential readers.
type readCache struct {
	mu       sync.Mutex
	max      int
	order    *list.List // of meta.ID, most recent first
	chunks   map[meta.ID]*list.Element
	files    map[meta.ID]*meta.File
	lastEnd  map[meta.ID]int64 // furthest end read, per file
	fetching map[meta.ID]*flight
}

type lruEntry struct {
	id meta.ID
	c  *chunkRef // one reference is the cache's
}

func newReadCache(n int) *readCache {
	return &readCache{max: n, order: list.New(), chunks: make(map[meta.ID]*list.Element),
		files: make(map[meta.ID]*meta.File), lastEnd: make(map[meta.ID]int64), fetching: make(map[meta.ID]*flight)}
}

// chunk returns chunk id, held for the caller, if it is in memory.
func (r *readCache) chunk(id meta.ID) *chunkRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.chunks[id]
	if !ok {
		return nil
	}
	r.order.MoveToFront(el)
	c := el.Value.(*lruEntry).c
	c.hold()
	return c
}

// putChunk keeps c (holding it once more) as chunk id, and returns it.
// If id is in memory already, c is released and the one kept returned.
func (r *readCache) putChunk(id meta.ID, c *chunkRef) *chunkRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.chunks[id]; ok {
		r.order.MoveToFront(el)
		kept := el.Value.(*lruEntry).c
		kept.hold()
		c.release()
		return kept
	}
	c.hold()
	r.chunks[id] = r.order.PushFront(&lruEntry{id, c})
	for r.order.Len() > r.max {
		el := r.order.Back()
		r.order.Remove(el)
		e := el.Value.(*lruEntry)
		delete(r.chunks, e.id)
		e.c.release()
	}
	return c
}

func (r *readCache) file(id meta.ID) *meta.File {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[id]
}

func (r *readCache) putFile(f *meta.File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.files) > 256 {
		clear(r.files)
		clear(r.lastEnd)
	}
	r.files[f.ID] = f
}

// sequential records a read of file id from start to end. When the read
// begins at 0 or within window of the furthest end read so far (reads of a
// sequential reader arrive out of order: the kernel sends a FUSE file's
// reads 128 KiB at a time, several at once), it returns that furthest end
// for read-ahead to start from; otherwise -1.
func (r *readCache) sequential(id meta.ID, start, end, window int64) int64 {
	if end <= start {
		return -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.lastEnd[id]
	if ok && (start < prev-window || start > prev+window) || !ok && start != 0 {
		r.lastEnd[id] = end // a seek: a sequential run may start here
		return -1
	}
	furthest := max(prev, end)
	r.lastEnd[id] = furthest
	return furthest
}

// wanted reports whether chunk id is neither in memory nor being fetched.
func (r *readCache) wanted(id meta.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, cached := r.chunks[id]
	_, fetching := r.fetching[id]
	return !cached && !fetching
}

// join returns the fetch of chunk id in progress, or starts one that the
// caller (leader) must land.
func (r *readCache) join(id meta.ID) (f *flight, leader bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.fetching[id]; f != nil {
		f.waiters++
		return f, false
	}
	f = &flight{done: make(chan struct{})}
	r.fetching[id] = f
	return f, true
}

// land ends a fetch: its waiters get its outcome, c held once for each.
func (r *readCache) land(id meta.ID, f *flight, c *chunkRef, err error) {
	r.mu.Lock()
	if r.fetching[id] == f {
		delete(r.fetching, id)
	}
	f.landed = true
	if err == nil {
		c.refs.Add(int32(f.waiters))
	}
	f.c, f.err = c, err
	r.mu.Unlock()
	close(f.done)
}

// leave is a waiter of f giving up: it will not take the chunk.
func (r *readCache) leave(f *flight) {
	r.mu.Lock()
	if !f.landed {
		f.waiters--
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	<-f.done // closed right after landed was set
	if f.err == nil {
		f.c.release()
	}
}

func (r *readCache) forgetFile(id meta.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.files, id)
	delete(r.lastEnd, id)
}
