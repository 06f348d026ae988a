package upload

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/pointfs/pointfs/meta"
)

// Cache is the local store of plaintext chunks, one file per chunk id,
// sharded by the id's first byte. Chunks wait here until their links are
// signed, and serve reads without a network round trip after that.
type Cache struct {
	dir string
}

// OpenCache opens (creating) a chunk cache in dir.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("chunk cache: %w", err)
	}
	// The 256 shards up front: Put then needs no MkdirAll (a syscall per
	// chunk) unless one was removed behind its back.
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("chunk cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

func (c *Cache) path(id meta.ID) string {
	h := id.String()
	return filepath.Join(c.dir, h[:2], h)
}

// Has reports whether chunk id is cached.
func (c *Cache) Has(id meta.ID) bool {
	_, err := os.Stat(c.path(id))
	return err == nil
}

// Put stores data as chunk id, atomically: a reader sees the whole chunk or
// none of it. A chunk already present is left as it is (content addressed).
func (c *Cache) Put(id meta.ID, data []byte) error {
	p := c.path(id)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("chunk cache: %w", err)
		}
		tmp, err = os.CreateTemp(filepath.Dir(p), ".tmp-*")
	}
	if err != nil {
		return fmt.Errorf("chunk cache: %w", noSpace(err))
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("chunk cache: %w", noSpace(err))
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("chunk cache: %w", noSpace(err))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("chunk cache: %w", err)
	}
	return nil
}

// ReadInto reads chunk id into buf and returns its length; buf must be
// large enough (meta.ErrTooLarge otherwise).
func (c *Cache) ReadInto(id meta.ID, buf []byte) (int, error) {
	f, err := os.Open(c.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("chunk %s: %w", id, meta.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return n, nil
	case err != nil:
		return n, err
	}
	// buf is full: the chunk is exactly len(buf) long unless more follows.
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return n, fmt.Errorf("chunk %s: %w for buffer of %d", id, meta.ErrTooLarge, len(buf))
	}
	return n, nil
}

// Get returns chunk id.
func (c *Cache) Get(id meta.ID) ([]byte, error) {
	b, err := os.ReadFile(c.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk %s: %w", id, meta.ErrNotFound)
	}
	return b, err
}

// Remove drops chunk id from the cache (it can still be fetched from its
// providers).
func (c *Cache) Remove(id meta.ID) error {
	err := os.Remove(c.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func noSpace(err error) error {
	if errors.Is(err, errNOSPC) {
		return fmt.Errorf("%w: %w", meta.ErrNoSpace, err)
	}
	return err
}

// buffer is a pooled chunk-sized byte slice: sealing and retrieval reuse
// them so the hot path does not allocate a chunk per link.
type buffer struct {
	b    []byte
	full []byte
}

var bufPool sync.Pool

func getBuffer(n int) *buffer {
	if v, ok := bufPool.Get().(*buffer); ok && cap(v.full) >= n {
		v.b = v.full[:n]
		return v
	}
	full := make([]byte, max(n, meta.DefaultChunkSize))
	return &buffer{b: full[:n], full: full}
}

func (b *buffer) release() {
	if cap(b.full) > 4*meta.DefaultChunkSize {
		return // an odd large one (a big chunkinfo): let it go
	}
	b.b = nil
	bufPool.Put(b)
}
