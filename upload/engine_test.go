package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/keccak"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/upload"
)

// The tests here run the engine against real providers: libp2p hosts on
// 127.0.0.1 with their own badger stores, in this process. Misbehaving
// providers are real providers told to misbehave (provider.Faults).

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("POINTFS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startProviders starts len(faults) providers bootstrapped to the first.
func startProviders(t *testing.T, faults ...provider.Faults) []*provider.Server {
	t.Helper()
	return startProvidersIn(t, make([]string, len(faults)), faults...)
}

// startProvidersIn is startProviders in data dirs: dirs[i] is provider i's,
// a new one where it is "" (and then set), an earlier provider's own to
// start it again.
func startProvidersIn(t *testing.T, dirs []string, faults ...provider.Faults) []*provider.Server {
	t.Helper()
	ctx := context.Background()
	var out []*provider.Server
	var boot []peer.AddrInfo
	for i, f := range faults {
		if dirs[i] == "" {
			dirs[i] = t.TempDir()
		}
		dir := dirs[i]
		key, err := provider.LoadOrCreateKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := provider.Start(ctx, provider.Config{
			DataDir: dir, Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
			Bootstrap: boot, Faults: f, Logger: testLogger(t).With("provider", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if i == 0 {
			boot = []peer.AddrInfo{s.AddrInfo()}
		}
		out = append(out, s)
	}
	return out
}

func healthy(n int) []provider.Faults { return make([]provider.Faults, n) }

// client is an engine with its store and network, on a data dir that
// outlives it (for restart tests).
type client struct {
	dir    string
	engine *upload.Engine
	db     *badgerdb.DB
	net    *provider.Client
}

func openClient(t *testing.T, dir string, servers []*provider.Server, tweak func(*upload.Config)) *client {
	t.Helper()
	ctx := context.Background()
	key, err := provider.LoadOrCreateKey(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var boot []peer.AddrInfo
	for _, s := range servers {
		boot = append(boot, s.AddrInfo())
	}
	net, err := provider.NewClient(ctx, key, provider.ClientConfig{Bootstrap: boot, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := upload.Config{
		Store: db, Net: net, Master: upload.MasterFromKey(key), CacheDir: filepath.Join(dir, "cache"),
		AckTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond, Logger: testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := upload.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{dir: dir, engine: e, db: db, net: net}
	e.Start()
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	if c.engine == nil {
		return
	}
	c.engine.Close()
	c.net.Close()
	c.db.Close()
	c.engine = nil
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func waitUploaded(t *testing.T, e *upload.Engine, id meta.ID, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.Wait(ctx, id); err != nil {
		st, _ := e.Status(context.Background(), id, false)
		if st != nil {
			t.Fatalf("file %s not uploaded after %v: %v (%d/%d chunks)", id, d, err, st.Uploaded, st.Total)
		}
		t.Fatalf("file %s not uploaded after %v: %v", id, d, err)
	}
}

func readAll(t *testing.T, e *upload.Engine, id meta.ID) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Get(context.Background(), id, &buf); err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return buf.Bytes()
}

// checkDurable asserts that every chunk of the file (the chunkinfo too) has
// at least want signed links at distinct providers, with pledges that
// verify against each provider's address, and none of them at a provider
// in avoid.
func checkDurable(t *testing.T, e *upload.Engine, id meta.ID, want int, avoid map[string]bool) {
	t.Helper()
	st, err := e.Status(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.File.State != meta.FileUploaded || st.Uploaded != st.Total {
		t.Fatalf("file state %s, %d/%d", st.File.State, st.Uploaded, st.Total)
	}
	for _, cs := range st.Chunks {
		seen := map[string]bool{}
		for _, l := range cs.Links {
			if l.State != meta.LinkSigned {
				continue
			}
			if seen[l.Provider] {
				t.Errorf("chunk %d: two signed links at %s", cs.Index, l.Provider)
			}
			seen[l.Provider] = true
			if avoid[l.Provider] {
				t.Errorf("chunk %d: signed link at %s, which should have failed", cs.Index, l.Provider)
			}
			if err := provider.VerifyPledge(l.Pledge, l.Address); err != nil {
				t.Errorf("chunk %d link %s: %v", cs.Index, l.ID, err)
			}
			if l.Pledge.Root != l.Root || l.Pledge.Length != l.SealedLen || l.Pledge.Client != e.Address() {
				t.Errorf("chunk %d: pledge %+v does not match link", cs.Index, l.Pledge)
			}
		}
		if len(seen) < want {
			t.Errorf("chunk %d (%s): %d signed links, want %d", cs.Index, cs.ID, len(seen), want)
		}
	}
}

func putBytes(t *testing.T, e *upload.Engine, data []byte, pol *meta.Policy) meta.ID {
	t.Helper()
	id, err := e.PutFile(context.Background(), bytes.NewReader(data), upload.PutOptions{Policy: pol, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestUpload20MiBToFiveProvidersAndReadBack(t *testing.T) {
	servers := startProviders(t, healthy(5)...)
	c := openClient(t, t.TempDir(), servers, nil)
	data := randomBytes(t, 20<<20)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, 3*time.Minute)
	checkDurable(t, c.engine, id, 3, nil)

	// Read back from the providers, not the local cache.
	if err := os.RemoveAll(filepath.Join(c.dir, "cache")); err != nil {
		t.Fatal(err)
	}
	c.close()
	c = openClient(t, c.dir, servers, nil)
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, differ from the %d put", len(got), len(data))
	}
	// A range in the middle, across a chunk boundary.
	p := make([]byte, 100000)
	off := int64(3*meta.DefaultChunkSize - 5000)
	if n, err := c.engine.ReadAt(context.Background(), id, p, off); err != nil || n != len(p) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(p, data[off:off+int64(len(p))]) {
		t.Fatal("ReadAt returned other bytes")
	}
}

// Chunks damaged on the local disk after their upload are noticed on read
// (each cache record keeps a checksum of its chunk) and read from the
// providers instead: the reader gets the file's bytes, never the damage.
func TestDamagedCacheReadsFromProviders(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, nil)
	cs := meta.DefaultChunkSize
	data := randomBytes(t, 4*cs)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, time.Minute)
	packs, _ := filepath.Glob(filepath.Join(c.dir, "cache", "packs", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	f, err := os.OpenFile(packs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // the chunks went in one after another
		off := int64(i*cs + 1000 + i)
		if _, err := f.WriteAt([]byte{^data[off]}, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes than were put")
	}
}

// reopenWithoutCache closes c, deletes its chunk cache and opens it again
// on servers: its reads then come from the providers.
func reopenWithoutCache(t *testing.T, c *client, servers []*provider.Server) *client {
	t.Helper()
	c.close()
	if err := os.RemoveAll(filepath.Join(c.dir, "cache")); err != nil {
		t.Fatal(err)
	}
	return openClient(t, c.dir, servers, nil)
}

// Providers that serve damaged segments are caught by the link's segment
// tree and the read fails over to one that serves the replica as it was
// sealed. When every provider lies, the read fails with ErrCorrupt and
// hands out none of the damage.
func TestLyingProvidersOnRead(t *testing.T) {
	dirs := make([]string, 3)
	servers := startProvidersIn(t, dirs, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, nil)
	data := randomBytes(t, 6*meta.DefaultChunkSize+1234)
	id := putBytes(t, c.engine, data, nil) // redundancy 3: every chunk at all three
	waitUploaded(t, c.engine, id, time.Minute)
	c.close()
	for _, s := range servers {
		s.Close()
	}

	liar := provider.Faults{GarbageReads: true}
	servers = startProvidersIn(t, dirs, liar, provider.Faults{}, liar)
	c = reopenWithoutCache(t, c, servers)
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes than were put, with one honest provider of three")
	}
	c.close()
	for _, s := range servers {
		s.Close()
	}

	servers = startProvidersIn(t, dirs, liar, liar, liar)
	c = reopenWithoutCache(t, c, servers)
	var buf bytes.Buffer
	err := c.engine.Get(context.Background(), id, &buf)
	if !errors.Is(err, meta.ErrCorrupt) || !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("get from lying providers only: %v, want ErrUnavailable and ErrCorrupt", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("get handed out %d bytes before failing", buf.Len())
	}
	p := make([]byte, 1000)
	if _, err := c.engine.ReadAt(context.Background(), id, p, int64(meta.DefaultChunkSize)); !errors.Is(err, meta.ErrCorrupt) {
		t.Fatalf("ReadAt from lying providers only: %v, want ErrCorrupt", err)
	}
}

// A store is refused under another key than the one its links were
// sealed under (the key file replaced, or lost and made anew): reads of
// its own links would open them into garbage. Under its own key again,
// everything reads back.
func TestAnotherKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	servers := startProviders(t, healthy(3)...)
	dir := t.TempDir()
	c := openClient(t, dir, servers, nil)
	data := randomBytes(t, 300<<10)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, time.Minute)
	c.close()

	keyPath := filepath.Join(dir, "key")
	own, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	other, err := provider.LoadOrCreateKey(keyPath) // a new key
	if err != nil {
		t.Fatal(err)
	}
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	net, err := provider.NewClient(ctx, other, provider.ClientConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := upload.New(upload.Config{Store: db, Net: net, Master: upload.MasterFromKey(other),
		CacheDir: filepath.Join(dir, "cache"), Logger: testLogger(t)})
	if !errors.Is(err, meta.ErrWrongKey) {
		if e != nil {
			e.Close()
		}
		t.Fatalf("engine under another key: %v, want ErrWrongKey", err)
	}
	net.Close()
	db.Close()

	if err := os.WriteFile(keyPath, own, 0o600); err != nil {
		t.Fatal(err)
	}
	c = reopenWithoutCache(t, c, servers)
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes under the data dir's own key")
	}
}

// With a bound on the chunk cache, uploaded chunks leave the local disk
// (as their uploads complete, not at the next audit round) and are read
// from the providers; chunks whose upload cannot complete stay, however
// far past the bound the cache is.
func TestCacheBoundKeepsWhatIsNotUploaded(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	const bound = 4 << 20
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) {
		cfg.CacheMax = bound
		cfg.KeepInterval = time.Hour // no round trims it meanwhile
	})
	ctx := context.Background()
	data := randomBytes(t, 16<<20)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, 2*time.Minute)
	for deadline := time.Now().Add(20 * time.Second); c.engine.Cache().Size() > bound; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("cache at %d bytes 20 s after the upload, bound %d", c.engine.Cache().Size(), bound)
		}
	}
	// Redundancy 5 with 3 providers: this file's chunks stay uploading.
	stuck := randomBytes(t, 6<<20)
	sid := putBytes(t, c.engine, stuck, &meta.Policy{Redundancy: 5, Expires: time.Now().Add(48 * time.Hour)})
	if _, err := c.engine.TrimCache(ctx); err != nil {
		t.Fatal(err)
	}
	if size := c.engine.Cache().Size(); size < int64(len(stuck)) {
		t.Fatalf("cache of %d bytes holds less than the %d not uploaded", size, len(stuck))
	}
	chunks := func(id meta.ID) []meta.ID {
		var ids []meta.ID
		err := c.db.View(ctx, func(tx meta.Tx) (err error) { ids, err = tx.FileChunks(id); return err })
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, ch := range chunks(sid) {
		if !c.engine.Cache().Has(ch) {
			t.Fatalf("chunk %s, not uploaded, left the cache", ch)
		}
	}
	gone := 0
	for _, ch := range chunks(id) {
		if !c.engine.Cache().Has(ch) {
			gone++
		}
	}
	if gone == 0 {
		t.Fatal("no uploaded chunk left the cache")
	}
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("the uploaded file read back other bytes")
	}
	if got := readAll(t, c.engine, sid); !bytes.Equal(got, stuck) {
		t.Fatal("the file still uploading read back other bytes")
	}
	// Released (no file uses them any more), they may go too.
	stuckChunks := chunks(sid)
	if err := c.engine.Release(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if freed, err := c.engine.TrimCache(ctx); err != nil || freed == 0 {
		t.Fatalf("trim after the release: freed %d, %v", freed, err)
	}
	left := 0
	for _, ch := range stuckChunks {
		if c.engine.Cache().Has(ch) {
			left++
		}
	}
	if left == len(stuckChunks) {
		t.Fatal("no released chunk left the cache")
	}
}

func TestEdgeSizes(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, nil)
	cs := meta.DefaultChunkSize
	for _, n := range []int{0, 1, cs, cs + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randomBytes(t, n)
			id := putBytes(t, c.engine, data, nil)
			waitUploaded(t, c.engine, id, time.Minute)
			checkDurable(t, c.engine, id, 3, nil)
			st, err := c.engine.Status(context.Background(), id, false)
			if err != nil {
				t.Fatal(err)
			}
			if st.File.Size != int64(n) {
				t.Fatalf("size %d, want %d", st.File.Size, n)
			}
			if err := os.RemoveAll(filepath.Join(c.dir, "cache")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, want %d equal ones", len(got), n)
			}
		})
	}
}

// TestPutFileIDOfAnyReader checks that a file's chunks and id are those of
// DESIGN §2 whether or not PutFile knows the input's size (a reader with
// Size and under 32 KiB gets a buffer of its own size), at the edges of
// that size, of chunks and of the read buffer (eight chunks).
func TestPutFileIDOfAnyReader(t *testing.T) {
	c := openClient(t, t.TempDir(), startProviders(t, healthy(1)...), nil)
	cs := meta.DefaultChunkSize
	for _, n := range []int{0, 1, 32<<10 - 2, 32<<10 - 1, 32 << 10, cs - 1, cs, cs + 1, 3*cs + 5, 8*cs - 1, 8 * cs, 8*cs + 1, 9*cs + 7} {
		data := randomBytes(t, n)
		var ids []meta.ID
		for off := 0; off < n; off += cs {
			ids = append(ids, keccak.Sum256(data[off:min(off+cs, n)]))
		}
		want := keccak.Sum256(chunkinfo.EncodeFile(ids, int64(n)))
		sized := putBytes(t, c.engine, data, nil)
		plain, err := c.engine.PutFile(context.Background(), struct{ io.Reader }{bytes.NewReader(data)}, upload.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sized != want || plain != want {
			t.Errorf("%d bytes: id %s with a sized reader, %s with a plain one, want %s", n, sized, plain, want)
		}
		if got := readAll(t, c.engine, want); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d bytes, want %d equal ones", n, len(got), n)
		}
	}
}

func TestForgedPledgeFailsTheLink(t *testing.T) {
	faults := healthy(5)
	faults[2].ForgePledge = true
	servers := startProviders(t, faults...)
	c := openClient(t, t.TempDir(), servers, nil)
	data := randomBytes(t, 3<<20)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, 2*time.Minute)
	forger := servers[2].ID().String()
	checkDurable(t, c.engine, id, 3, map[string]bool{forger: true})

	// The forger did get links, and each failed on its pledge.
	st, _ := c.engine.Status(context.Background(), id, true)
	failed := 0
	for _, cs := range st.Chunks {
		for _, l := range cs.Links {
			if l.Provider == forger {
				if l.State != meta.LinkFailed || !strings.Contains(l.Error, "pledge") {
					t.Errorf("link at forger in state %s (%q)", l.State, l.Error)
				}
				failed++
			}
		}
	}
	if failed == 0 {
		t.Fatal("no link was ever placed with the forging provider; the test proves nothing")
	}
}

func TestDroppedSegmentsAreRetransmitted(t *testing.T) {
	faults := healthy(3)
	for i := range faults {
		faults[i].DropSegmentsOnce = true
	}
	servers := startProviders(t, faults...)
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) { cfg.AckTimeout = 300 * time.Millisecond })
	data := randomBytes(t, 1<<20)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, 2*time.Minute)
	checkDurable(t, c.engine, id, 3, nil)

	// The links are signed, and some of their segments needed a second send.
	retried := 0
	_ = c.db.View(context.Background(), func(tx meta.Tx) error {
		chunks, _ := tx.FileChunks(id)
		for _, ch := range chunks {
			links, _ := tx.Links(ch)
			for _, l := range links {
				retried += l.Retransmits
			}
		}
		return nil
	})
	if retried == 0 {
		t.Fatal("no segment was sent twice, though every provider dropped some")
	}
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// signedLinks returns the signed links of a file's chunks, by link id.
func signedLinks(t *testing.T, db *badgerdb.DB, id meta.ID) map[meta.LinkID]*meta.Link {
	t.Helper()
	out := map[meta.LinkID]*meta.Link{}
	for _, l := range fileLinks(t, db, id) {
		if l.State == meta.LinkSigned {
			out[l.ID] = l
		}
	}
	return out
}

// fileLinks is every link of file id's chunks and chunkinfo, in any state.
func fileLinks(t *testing.T, db *badgerdb.DB, id meta.ID) []*meta.Link {
	t.Helper()
	var out []*meta.Link
	err := db.View(context.Background(), func(tx meta.Tx) error {
		chunks, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		for _, ch := range append(chunks, id) {
			links, err := tx.Links(ch)
			if err != nil {
				return err
			}
			out = append(out, links...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dataMsgs is how many data messages each provider got per root.
func dataMsgs(servers []*provider.Server) map[meta.ID]int64 {
	out := map[meta.ID]int64{}
	for _, s := range servers {
		for r, n := range s.Stats().DataMsgsByRoot {
			out[r] += n
		}
	}
	return out
}

func TestEngineRestartMidUploadResendsNothingSigned(t *testing.T) {
	servers := startProviders(t, healthy(5)...)
	dir := t.TempDir()
	// One link at a time per provider, so that the engine is stopped with
	// much of the file still to send.
	slow := func(cfg *upload.Config) { cfg.InFlightPerProvider = 1 }
	c := openClient(t, dir, servers, slow)
	data := randomBytes(t, 12<<20)
	id := putBytes(t, c.engine, data, nil)

	deadline := time.Now().Add(time.Minute)
	for len(signedLinks(t, c.db, id)) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("no links signed within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.close()
	db := reopenDB(t, dir)
	before := signedLinks(t, db, id)
	db.Close()
	st0 := dataMsgs(servers)
	total := 3 * (len(data)/meta.DefaultChunkSize + 1)
	if len(before) >= total {
		t.Fatalf("all %d links were signed before the stop; the test proves nothing", len(before))
	}
	t.Logf("stopped with %d of %d links signed", len(before), total)

	c = openClient(t, dir, servers, nil)
	waitUploaded(t, c.engine, id, 3*time.Minute)
	checkDurable(t, c.engine, id, 3, nil)
	after := signedLinks(t, c.db, id)
	st1 := dataMsgs(servers)
	for lid, l := range before {
		a, ok := after[lid]
		if !ok || a.Root != l.Root {
			t.Errorf("link %s signed before the restart is not signed after it", lid)
		}
		if st1[l.Root] != st0[l.Root] {
			t.Errorf("link %s (root %s) was sent again: %d data messages before the restart, %d after",
				lid, l.Root, st0[l.Root], st1[l.Root])
		}
	}
	if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// reopenDB opens a stopped client's store for inspection; the caller
// closes it before the client opens it again.
func reopenDB(t *testing.T, dir string) *badgerdb.DB {
	t.Helper()
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// A client cut off after sending a replica but before it persisted the
// fact resends the segment map; the provider answers ECHUNKALREADYSTORED
// and the link must go straight to asking for its signature, sending no
// data again (the original node got stuck here).
func TestAlreadyStoredGoesToSignature(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	dir := t.TempDir()
	c := openClient(t, dir, servers, nil)
	data := randomBytes(t, 600<<10)
	id := putBytes(t, c.engine, data, nil)
	waitUploaded(t, c.engine, id, time.Minute)
	c.close()

	// Rewind one chunk to the state a crash would have left: its link at
	// sending_segment_map without a pledge, the chunk and file uploading.
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rewound *meta.Link
	err = db.Update(context.Background(), func(tx meta.Tx) error {
		chunks, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		links, err := tx.Links(chunks[1])
		if err != nil {
			return err
		}
		rewound = links[0]
		rewound.State, rewound.Pledge = meta.LinkSendingSegmentMap, nil
		ch, err := tx.Chunk(chunks[1])
		if err != nil {
			return err
		}
		ch.State = meta.ChunkUploading
		f, err := tx.File(id)
		if err != nil {
			return err
		}
		f.Pending, f.State = 1, meta.FileUploading
		for _, do := range []func() error{
			func() error { return tx.PutLink(rewound) },
			func() error { return tx.PutChunk(ch) },
			func() error { return tx.PutFile(f) },
		} {
			if err := do(); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	sent := dataMsgs(servers)[rewound.Root]

	c = openClient(t, dir, servers, nil)
	waitUploaded(t, c.engine, id, time.Minute)
	checkDurable(t, c.engine, id, 3, nil)
	l := signedLinks(t, c.db, id)[rewound.ID]
	if l == nil {
		t.Fatal("the rewound link did not get signed again")
	}
	if got := dataMsgs(servers)[rewound.Root]; got != sent {
		t.Fatalf("data sent again after ECHUNKALREADYSTORED: %d messages, was %d", got, sent)
	}
	// Only the rewound link was driven again: no replacement was needed.
	st, _ := c.engine.Status(context.Background(), id, true)
	for _, cs := range st.Chunks {
		if len(cs.Links) != 3 {
			t.Errorf("chunk %d has %d links, want exactly 3", cs.Index, len(cs.Links))
		}
	}
}

// stateLog is a Store that records, per link, the states its committed
// transactions wrote.
type stateLog struct {
	meta.Store
	mu     sync.Mutex
	states map[meta.LinkID][]meta.LinkState
}

type stateLogTx struct {
	meta.Tx
	wrote []*meta.Link
}

func (t *stateLogTx) PutLink(l *meta.Link) error {
	t.wrote = append(t.wrote, &meta.Link{ID: l.ID, State: l.State})
	return t.Tx.PutLink(l)
}

func (s *stateLog) Update(ctx context.Context, fn func(meta.Tx) error) error {
	var last *stateLogTx
	err := s.Store.Update(ctx, func(tx meta.Tx) error {
		last = &stateLogTx{Tx: tx}
		return fn(last)
	})
	if err == nil && last != nil {
		s.mu.Lock()
		for _, l := range last.wrote {
			if st := s.states[l.ID]; len(st) == 0 || st[len(st)-1] != l.State {
				s.states[l.ID] = append(st, l.State)
			}
		}
		s.mu.Unlock()
	}
	return err
}

// Every link goes through every state of the seed's machine, persisted in
// order, also when the replica goes out in one round trip.
func TestEveryLinkStatePersistedInOrder(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	log := &stateLog{states: map[meta.LinkID][]meta.LinkState{}}
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) {
		log.Store = cfg.Store
		cfg.Store = log
	})
	id := putBytes(t, c.engine, randomBytes(t, 600<<10), nil)
	waitUploaded(t, c.engine, id, time.Minute)
	want := []meta.LinkState{meta.LinkCreated, meta.LinkAgreed, meta.LinkEncrypting, meta.LinkEncrypted,
		meta.LinkSendingSegmentMap, meta.LinkSendingData, meta.LinkDataReceived, meta.LinkAskingForSignature, meta.LinkSigned}
	signed := signedLinks(t, c.db, id)
	if len(signed) != 12 {
		t.Fatalf("%d signed links, want 12", len(signed))
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for lid := range signed {
		if got := log.states[lid]; !slices.Equal(got, want) {
			t.Errorf("link %s went through %v, want %v", lid, got, want)
		}
	}
}
