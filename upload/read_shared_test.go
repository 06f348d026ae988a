package upload_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// Readers share the chunk buffers of the read cache, and those buffers go
// back to a pool that sealing draws from too. Whole-file gets, random
// ranges and an upload run at once over a file four times the read
// cache's size, so that chunks are evicted while being read and buffers
// reused as soon as they are free: every byte read must still be the
// file's (run with -race too).
func TestConcurrentReadsShareBuffers(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	const cs = 16 << 10
	small := func(c *upload.Config) { c.ChunkSize = cs }
	c := openClient(t, t.TempDir(), servers, small)
	data := randomBytes(t, 256*cs+777)
	id := putBytes(t, c.engine, data, &meta.Policy{Redundancy: 1, Expires: time.Now().Add(24 * time.Hour)})
	waitUploaded(t, c.engine, id, 2*time.Minute)
	// Reads from the providers, not the local cache.
	c.close()
	if err := os.RemoveAll(filepath.Join(c.dir, "cache")); err != nil {
		t.Fatal(err)
	}
	c = openClient(t, c.dir, servers, small)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			if err := c.engine.Get(ctx, id, &buf); err != nil {
				errs <- "get: " + err.Error()
			} else if !bytes.Equal(buf.Bytes(), data) {
				errs <- "get returned other bytes"
			}
			_ = g
		}()
	}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			p := make([]byte, 3*cs)
			for range 150 {
				off := r.Int64N(int64(len(data)))
				n := 1 + r.IntN(len(p)-1)
				got, err := c.engine.ReadAt(ctx, id, p[:n], off)
				want := data[off:min(off+int64(n), int64(len(data)))]
				if (err != nil && got != len(want)) || !bytes.Equal(p[:got], want) {
					errs <- "ReadAt returned other bytes"
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		// Sealing takes buffers from the same pool meanwhile.
		defer wg.Done()
		other := putBytes(t, c.engine, randomBytes(t, 64*cs), &meta.Policy{Redundancy: 1, Expires: time.Now().Add(24 * time.Hour)})
		if err := c.engine.Wait(ctx, other); err != nil {
			errs <- "upload during reads: " + err.Error()
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// And once more, alone, after all that.
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes than were put")
	}
}
