package provider

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider/wire"
)

func randomID(t testing.TB) meta.ID {
	t.Helper()
	var id meta.ID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// storeTagged stores r at s like storeAll, with the map filing it under
// locator with tag.
func storeTagged(t *testing.T, c *Client, s *Server, r *replica, locator meta.ID, tag []byte) {
	t.Helper()
	ctx := testCtx(t)
	expires := time.Now().Add(24 * time.Hour)
	if err := c.Store(ctx, s.ID(), r.request(expires)); err != nil {
		t.Fatal(err)
	}
	m := r.segMap()
	m.Locator, m.Tag = locator, tag
	if err := c.SendSegmentMap(ctx, s.ID(), m); err != nil {
		t.Fatal(err)
	}
	acked, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second)
	if err != nil || len(acked) != len(r.hashes) {
		t.Fatalf("segments: %d acked, %v", len(acked), err)
	}
}

func roots(ls []Listed) []meta.ID {
	out := make([]meta.ID, len(ls))
	for i, l := range ls {
		out[i] = l.Root
	}
	return out
}

func sortedRoots(rs ...*replica) []meta.ID {
	out := make([]meta.ID, len(rs))
	for i, r := range rs {
		out[i] = r.root
	}
	slices.SortFunc(out, func(a, b meta.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// tagKeys counts the index's locator entries of root.
func tagKeys(t *testing.T, s *Server, root meta.ID) int {
	t.Helper()
	n := 0
	err := s.store.each(prefixTag, func(k, _ []byte) error {
		if bytes.Equal(k[len(meta.ID{}):], root[:]) {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Replicas filed under a locator by their map are listed under it, with
// their map, tag and a pledge for the client that stored them, to anyone
// who asks with that locator, and not under another; TAG files them under
// more locators; RELEASE drops them from every list.
func TestListByLocator(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t)
	know(c, s)
	ctx := testCtx(t)
	own, share, other := randomID(t), randomID(t), randomID(t)

	var mine []*replica
	for i := range 3 {
		r := newReplica(t, 40<<10, 16<<10, merkle.HashBlake3)
		storeTagged(t, c, s, r, own, []byte(fmt.Sprintf("tag %d", i)))
		mine = append(mine, r)
	}
	elsewhere := newReplica(t, 16<<10, 16<<10, merkle.HashKeccak256)
	storeTagged(t, c, s, elsewhere, other, []byte("other"))
	untagged := newReplica(t, 16<<10, 16<<10, merkle.HashBlake3)
	storeAll(t, c, s, untagged, time.Now().Add(time.Hour))
	// Partial replicas are not listed.
	partial := newReplica(t, 32<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), partial.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	pm := partial.segMap()
	pm.Locator = own
	if err := c.SendSegmentMap(ctx, s.ID(), pm); err != nil {
		t.Fatal(err)
	}

	// A reader with the locator (another peer) sees the owner's replicas.
	reader := startClient(t)
	know(reader, s)
	got, err := reader.ListAll(ctx, s.ID(), own)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(roots(got), sortedRoots(mine...)) {
		t.Fatalf("listed %v, want %v", roots(got), sortedRoots(mine...))
	}
	for _, l := range got {
		i := slices.IndexFunc(mine, func(r *replica) bool { return r.root == l.Root })
		r := mine[i]
		if string(l.Tag) != fmt.Sprintf("tag %d", i) || l.Hash != r.hash || l.SegmentSize != r.segSz ||
			l.SealedLen != int64(len(r.data)) || !slices.Equal(l.Segments, r.hashes) || l.Expires.Before(time.Now()) {
			t.Fatalf("entry %+v for replica %d", l, i)
		}
		if l.Pledge == nil || l.Pledge.Client != c.Address() || l.Pledge.Root != r.root ||
			l.Pledge.Expires != l.Expires.Unix() || VerifyPledge(l.Pledge, s.Address()) != nil {
			t.Fatalf("pledge %+v", l.Pledge)
		}
	}
	if got, _ := reader.ListAll(ctx, s.ID(), other); !slices.Equal(roots(got), []meta.ID{elsewhere.root}) {
		t.Fatalf("under the other locator: %v", roots(got))
	}
	if got, more, err := reader.List(ctx, s.ID(), randomID(t), meta.ID{}, 10); err != nil || len(got) != 0 || more {
		t.Fatalf("unknown locator: %d entries, more %v, %v", len(got), more, err)
	}

	// TAG: one more locator (a share), its tag replaced by a second TAG.
	if err := c.AddTag(ctx, s.ID(), mine[0].root, share, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTag(ctx, s.ID(), untagged.root, share, []byte("u")); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTag(ctx, s.ID(), mine[0].root, share, []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, err = reader.ListAll(ctx, s.ID(), share)
	if err != nil || !slices.Equal(roots(got), sortedRoots(mine[0], untagged)) {
		t.Fatalf("shared: %v, %v", roots(got), err)
	}
	for _, l := range got {
		if l.Root == mine[0].root && string(l.Tag) != "second" {
			t.Fatalf("replaced tag is %q", l.Tag)
		}
	}
	// The map's locator keeps its own tag.
	got, _ = reader.ListAll(ctx, s.ID(), own)
	if l := got[slices.Index(roots(got), mine[0].root)]; string(l.Tag) != "tag 0" {
		t.Fatalf("tag under the map's locator became %q", l.Tag)
	}

	// RELEASE drops the replica from both lists and its index entries.
	if tagKeys(t, s, mine[0].root) != 2 {
		t.Fatalf("%d index entries before release", tagKeys(t, s, mine[0].root))
	}
	if err := c.Release(ctx, s.ID(), mine[0].root); err != nil {
		t.Fatal(err)
	}
	if got, _ := reader.ListAll(ctx, s.ID(), own); !slices.Equal(roots(got), sortedRoots(mine[1:]...)) {
		t.Fatalf("after release, own: %v", roots(got))
	}
	if got, _ := reader.ListAll(ctx, s.ID(), share); !slices.Equal(roots(got), []meta.ID{untagged.root}) {
		t.Fatalf("after release, share: %v", roots(got))
	}
	if n := tagKeys(t, s, mine[0].root); n != 0 {
		t.Fatalf("%d index entries left after release", n)
	}

	// The janitor's drop of an expired replica drops its tags too.
	s.dropReplica(mine[1].root, time.Now(), true)
	if got, _ := reader.ListAll(ctx, s.ID(), own); !slices.Equal(roots(got), []meta.ID{mine[2].root}) {
		t.Fatalf("after drop: %v", roots(got))
	}
	if n := tagKeys(t, s, mine[1].root); n != 0 {
		t.Fatalf("%d index entries left after drop", n)
	}
}

// Only the client that stored a replica may tag it, and only when it is
// complete, under at most 16 locators.
func TestTagRefusals(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t)
	know(c, s)
	ctx := testCtx(t)
	r := newReplica(t, 16<<10, 16<<10, merkle.HashBlake3)
	storeTagged(t, c, s, r, randomID(t), nil)

	stranger := startClient(t)
	know(stranger, s)
	loc := randomID(t)
	if err := stranger.AddTag(ctx, s.ID(), r.root, loc, []byte("mine now")); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("TAG by a stranger: %v, want ErrDeclined", err)
	}
	if got, _ := stranger.ListAll(ctx, s.ID(), loc); len(got) != 0 {
		t.Fatalf("a stranger's TAG listed: %v", roots(got))
	}
	if err := c.AddTag(ctx, s.ID(), randomID(t), loc, nil); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("TAG of an unknown root: %v, want ErrNotFound", err)
	}
	partial := newReplica(t, 32<<10, 16<<10, merkle.HashBlake3)
	if err := c.Store(ctx, s.ID(), partial.request(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := c.SendSegmentMap(ctx, s.ID(), partial.segMap()); err != nil {
		t.Fatal(err)
	}
	var e *wire.Error
	if err := c.AddTag(ctx, s.ID(), partial.root, loc, nil); !errors.As(err, &e) || e.Code != wire.CodeIncomplete {
		t.Fatalf("TAG of a partial replica: %v", err)
	}

	// The map's locator is one of the 16.
	locs := []meta.ID{}
	for range maxTags - 1 {
		l := randomID(t)
		locs = append(locs, l)
		if err := c.AddTag(ctx, s.ID(), r.root, l, []byte("t")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddTag(ctx, s.ID(), r.root, randomID(t), nil); !errors.Is(err, meta.ErrNoSpace) {
		t.Fatalf("17th locator: %v, want ErrNoSpace", err)
	}
	if err := c.AddTag(ctx, s.ID(), r.root, locs[3], []byte("replaced")); err != nil {
		t.Fatalf("replacing a tag at the limit: %v", err)
	}
	if n := tagKeys(t, s, r.root); n != maxTags {
		t.Fatalf("%d index entries, want %d", n, maxTags)
	}
}

// fakeComplete writes a complete record filed under locator straight into
// s's index, with n one-byte segments (LIST reads neither the files nor
// checks the tree).
func fakeComplete(t *testing.T, s *Server, client common.Address, locator meta.ID, n int) meta.ID {
	t.Helper()
	root := randomID(t)
	rec := &record{
		Link: meta.NewLinkID(), Client: client, Hash: merkle.HashKeccak256, SegSize: 1,
		SealedLen: int64(n), Hashes: make([]meta.ID, n), Expires: time.Now().Add(time.Hour).Unix(),
		Complete: true, Updated: time.Now().Unix(), Tags: []tagEntry{{Locator: locator, Tag: root[:8]}},
	}
	if err := s.store.adopt(client, rec.Link, root, rec); err != nil {
		t.Fatal(err)
	}
	return root
}

// LIST pages by count and by frame size; ListAll walks every page.
func TestListPages(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t)
	know(c, s)
	ctx := testCtx(t)
	loc := randomID(t)

	var want []meta.ID
	for range 25 {
		want = append(want, fakeComplete(t, s, c.Address(), loc, 1))
	}
	slices.SortFunc(want, func(a, b meta.ID) int { return bytes.Compare(a[:], b[:]) })
	var got []meta.ID
	var after meta.ID
	for page := 0; ; page++ {
		ls, more, err := c.List(ctx, s.ID(), loc, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if wantLen := min(10, 25-10*page); len(ls) != wantLen || more != (page < 2) {
			t.Fatalf("page %d: %d entries, more %v", page, len(ls), more)
		}
		for _, l := range ls {
			if l.Pledge == nil || VerifyPledge(l.Pledge, s.Address()) != nil || l.Pledge.Client != c.Address() {
				t.Fatalf("pledge signed at LIST time: %+v", l.Pledge)
			}
		}
		got = append(got, roots(ls)...)
		if !more {
			break
		}
		after = ls[len(ls)-1].Root
	}
	if !slices.Equal(got, want) {
		t.Fatal("pages do not add up to every root in order")
	}
	all, err := c.ListAll(ctx, s.ID(), loc)
	if err != nil || !slices.Equal(roots(all), want) {
		t.Fatalf("ListAll: %d entries, %v", len(all), err)
	}
	if ls, _, err := c.List(ctx, s.ID(), loc, want[11], 1000); err != nil || !slices.Equal(roots(ls), want[12:]) {
		t.Fatalf("after the 12th: %d entries, %v", len(ls), err)
	}

	// Entries of 40,000 hashes (1.25 MiB) each: three fit a frame.
	big := randomID(t)
	var bigRoots []meta.ID
	for range 5 {
		bigRoots = append(bigRoots, fakeComplete(t, s, c.Address(), big, 40000))
	}
	slices.SortFunc(bigRoots, func(a, b meta.ID) int { return bytes.Compare(a[:], b[:]) })
	ls, more, err := c.List(ctx, s.ID(), big, meta.ID{}, 1000)
	if err != nil || len(ls) != 3 || !more {
		t.Fatalf("big entries: %d, more %v, %v", len(ls), more, err)
	}
	all, err = c.ListAll(ctx, s.ID(), big)
	if err != nil || !slices.Equal(roots(all), bigRoots) || len(all[4].Segments) != 40000 {
		t.Fatalf("ListAll of big entries: %d, %v", len(all), err)
	}
}

func TestRootRecordSignVerify(t *testing.T) {
	k := newKey(t)
	now := time.Now()
	r, err := SignRoot(k, randomID(t), 7, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Owner != ethcrypto.PubkeyToAddress(k.PublicKey) || r.Seq != 7 || r.Time != now.Unix() || len(r.Sig) != 65 {
		t.Fatalf("record %+v", r)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var back RootRecord
	if err := back.Unmarshal(b); err != nil || !sameVersion(&back, r) || !bytes.Equal(back.Sig, r.Sig) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for name, tamper := range map[string]func(*RootRecord){
		"seq":       func(x *RootRecord) { x.Seq++ },
		"time":      func(x *RootRecord) { x.Time-- },
		"root":      func(x *RootRecord) { x.Root[0] ^= 1 },
		"owner":     func(x *RootRecord) { x.Owner[0] ^= 1 },
		"signature": func(x *RootRecord) { x.Sig = x.Sig[:64] },
		"v":         func(x *RootRecord) { x.Sig[64] = 30 },
	} {
		x := *r
		x.Sig = bytes.Clone(r.Sig)
		tamper(&x)
		if err := x.Verify(); !errors.Is(err, ErrBadRootRecord) {
			t.Errorf("tampered %s: %v", name, err)
		}
	}
	if err := (&RootRecord{}).Unmarshal([]byte{wire.Version, byte(wire.TypeOk)}); err == nil {
		t.Fatal("an Ok payload unmarshals as a root record")
	}

	a := &RootRecord{Seq: 2, Time: 1, Root: meta.ID{1}}
	for _, c := range []struct {
		b     *RootRecord
		newer bool
	}{
		{nil, true},
		{&RootRecord{Seq: 1, Time: 9, Root: meta.ID{9}}, true},
		{&RootRecord{Seq: 3, Time: 0, Root: meta.ID{0}}, false},
		{&RootRecord{Seq: 2, Time: 0, Root: meta.ID{9}}, true},
		{&RootRecord{Seq: 2, Time: 2, Root: meta.ID{0}}, false},
		{&RootRecord{Seq: 2, Time: 1, Root: meta.ID{0}}, true},
		{&RootRecord{Seq: 2, Time: 1, Root: meta.ID{2}}, false},
		{&RootRecord{Seq: 2, Time: 1, Root: meta.ID{1}}, false},
	} {
		if Newer(a, c.b) != c.newer {
			t.Errorf("Newer(%+v, %+v) = %v", a, c.b, !c.newer)
		}
	}
	if Newer(nil, a) {
		t.Error("nil is newer")
	}
}

// The DHT validator takes only records signed by the owner their key
// names, and selects the newest.
func TestRootValidator(t *testing.T) {
	k := newKey(t)
	owner := ethcrypto.PubkeyToAddress(k.PublicKey)
	key := RootKey(owner)
	if want := "/pfsroot/" + fmt.Sprintf("%x", owner[:]); key != want {
		t.Fatalf("RootKey = %q, want %q", key, want)
	}
	enc := func(r *RootRecord) []byte {
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r1, _ := SignRoot(k, randomID(t), 1, time.Now())
	r2, _ := SignRoot(k, randomID(t), 2, time.Now())
	other := newKey(t)
	forged, _ := SignRoot(other, randomID(t), 9, time.Now())
	forged.Owner = owner
	stranger, _ := SignRoot(other, randomID(t), 9, time.Now())

	v := rootValidator{}
	if err := v.Validate(key, enc(r1)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		key string
		val []byte
	}{
		"forged":          {key, enc(forged)},
		"another owner":   {key, enc(stranger)},
		"garbage":         {key, []byte("garbage")},
		"upper-case key":  {"/pfsroot/" + fmt.Sprintf("%X", owner[:]), enc(r1)},
		"short key":       {key[:len(key)-2], enc(r1)},
		"other namespace": {"/pk/" + key[len("/pfsroot/"):], enc(r1)},
	} {
		if err := v.Validate(c.key, c.val); !errors.Is(err, ErrBadRootRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if i, err := v.Select(key, [][]byte{enc(r1), enc(forged), enc(r2), []byte("x")}); err != nil || i != 2 {
		t.Fatalf("Select = %d, %v; want 2", i, err)
	}
	if _, err := v.Select(key, [][]byte{enc(forged)}); err == nil {
		t.Fatal("Select of only forged records succeeded")
	}
}

// A provider keeps the newest valid root record per owner, across restarts.
func TestRootRecordAtProvider(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Key: newKey(t), Logger: testLogger()}
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	c := startClient(t)
	know(c, s)
	ctx := testCtx(t)
	k := newKey(t)
	owner := ethcrypto.PubkeyToAddress(k.PublicKey)

	if _, err := c.GetRoot(ctx, s.ID(), owner); !errors.Is(err, ErrNoRootRecord) || !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetRoot before any: %v", err)
	}
	r1, _ := SignRoot(k, randomID(t), 1, time.Now())
	r2, _ := SignRoot(k, randomID(t), 2, time.Now().Add(-time.Hour))
	if err := c.PutRoot(ctx, s.ID(), r1); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRoot(ctx, s.ID(), r2); err != nil {
		t.Fatalf("newer seq, earlier time: %v", err)
	}
	if err := c.PutRoot(ctx, s.ID(), r1); !errors.Is(err, ErrStaleRootRecord) || !errors.Is(err, meta.ErrExists) {
		t.Fatalf("older record: %v, want ErrStaleRootRecord", err)
	}
	if err := c.PutRoot(ctx, s.ID(), r2); err != nil {
		t.Fatalf("the same record again: %v", err)
	}
	forged, _ := SignRoot(newKey(t), randomID(t), 99, time.Now())
	forged.Owner = owner
	if err := c.PutRoot(ctx, s.ID(), forged); !errors.Is(err, meta.ErrDeclined) {
		t.Fatalf("forged record: %v, want ErrDeclined", err)
	}
	got, err := c.GetRoot(ctx, s.ID(), owner)
	if err != nil || !sameVersion(got, r2) || got.Verify() != nil {
		t.Fatalf("GetRoot = %+v, %v; want seq 2", got, err)
	}
	// Tagged replicas survive the restart as well.
	loc := randomID(t)
	r := newReplica(t, 16<<10, 16<<10, merkle.HashBlake3)
	storeTagged(t, c, s, r, loc, []byte("t"))

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	know(c, s)
	got, err = c.GetRoot(ctx, s.ID(), owner)
	if err != nil || !sameVersion(got, r2) {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if err := c.PutRoot(ctx, s.ID(), r1); !errors.Is(err, ErrStaleRootRecord) {
		t.Fatalf("older record after restart: %v", err)
	}
	if ls, err := c.ListAll(ctx, s.ID(), loc); err != nil || len(ls) != 1 || ls[0].Root != r.root || string(ls[0].Tag) != "t" {
		t.Fatalf("list after restart: %v, %v", roots(ls), err)
	}
}

// startNetwork starts n providers bootstrapped to the first and waits until
// a client bootstrapped to the first discovers them all.
func startNetwork(t *testing.T, n int) ([]*Server, *Client) {
	t.Helper()
	first := startServer(t, nil)
	servers := []*Server{first}
	for range n - 1 {
		servers = append(servers, startServer(t, func(c *Config) { c.Bootstrap = []peer.AddrInfo{first.AddrInfo()} }))
	}
	c := startClient(t, first.AddrInfo())
	deadline := time.Now().Add(10 * time.Second)
	for {
		offers, err := c.Discover(testCtx(t))
		if err == nil && len(offers) == n {
			return servers, c
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovered %d of %d providers: %v", len(offers), n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FindRoot asks every provider and picks the newest record that verifies:
// not an older one, not a forged one, not one of another owner.
func TestFindRootPicksNewestValid(t *testing.T) {
	servers, c := startNetwork(t, 4)
	ctx := testCtx(t)
	k := newKey(t)
	owner := ethcrypto.PubkeyToAddress(k.PublicKey)

	if _, err := c.FindRoot(ctx, owner); !errors.Is(err, ErrNoRootRecord) {
		t.Fatalf("FindRoot before any: %v, want ErrNoRootRecord", err)
	}
	r1, _ := SignRoot(k, randomID(t), 1, time.Now())
	r2, _ := SignRoot(k, randomID(t), 2, time.Now())
	if err := c.PutRoot(ctx, servers[0].ID(), r2); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRoot(ctx, servers[1].ID(), r1); err != nil {
		t.Fatal(err)
	}
	// Lies no honest provider would keep, written into their indexes.
	forged, _ := SignRoot(newKey(t), randomID(t), 50, time.Now())
	forged.Owner = owner
	stranger, _ := SignRoot(newKey(t), randomID(t), 60, time.Now())
	for i, lie := range map[int]*RootRecord{2: forged, 3: stranger} {
		b, err := lie.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		err = servers[i].store.db.Update(func(txn *badger.Txn) error { return txn.Set(rootRecordKey(owner), b) })
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.FindRoot(ctx, owner)
	if err != nil || !sameVersion(got, r2) {
		t.Fatalf("FindRoot = %+v, %v; want seq 2", got, err)
	}

	// With only lies and nothing valid: no record.
	k2 := newKey(t)
	owner2 := ethcrypto.PubkeyToAddress(k2.PublicKey)
	forged.Owner = owner2
	b, _ := forged.Marshal()
	if err := servers[0].store.db.Update(func(txn *badger.Txn) error { return txn.Set(rootRecordKey(owner2), b) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindRoot(ctx, owner2); !errors.Is(err, ErrNoRootRecord) {
		t.Fatalf("FindRoot with only a forged record: %v, want ErrNoRootRecord", err)
	}
	// A forged record held does not block a valid one: it is replaced.
	r3, _ := SignRoot(k2, randomID(t), 1, time.Now())
	if err := c.PutRoot(ctx, servers[0].ID(), r3); err != nil {
		t.Fatalf("valid record over a forged one: %v", err)
	}
}

// PublishRoot reaches every provider and the DHT; an older record is
// refused as stale; FindRoot from another client finds the newest.
func TestPublishRoot(t *testing.T) {
	servers, c := startNetwork(t, 3)
	ctx := testCtx(t)
	k := newKey(t)
	owner := ethcrypto.PubkeyToAddress(k.PublicKey)
	r1, _ := SignRoot(k, randomID(t), 1, time.Now())
	r2, _ := SignRoot(k, randomID(t), 2, time.Now())

	if n, err := c.PublishRoot(ctx, r2); err != nil || n != len(servers) {
		t.Fatalf("PublishRoot = %d, %v", n, err)
	}
	if n, err := c.PublishRoot(ctx, r2); err != nil || n != len(servers) {
		t.Fatalf("PublishRoot again = %d, %v", n, err)
	}
	if n, err := c.PublishRoot(ctx, r1); !errors.Is(err, ErrStaleRootRecord) || n != 0 {
		t.Fatalf("PublishRoot of an older record = %d, %v", n, err)
	}
	bad := *r2
	bad.Seq = 3
	if _, err := c.PublishRoot(ctx, &bad); !errors.Is(err, ErrBadRootRecord) {
		t.Fatalf("PublishRoot of a record that does not verify: %v", err)
	}
	for _, s := range servers {
		if got, err := c.GetRoot(ctx, s.ID(), owner); err != nil || !sameVersion(got, r2) {
			t.Fatalf("provider %s holds %+v, %v", s.ID(), got, err)
		}
	}
	other := startClient(t, servers[1].AddrInfo())
	if got, err := other.FindRoot(ctx, owner); err != nil || !sameVersion(got, r2) {
		t.Fatalf("FindRoot = %+v, %v", got, err)
	}
}

// A root record put into the DHT by one client is found by another, through
// the providers' DHT; a newer one replaces it; a forged one is refused.
func TestRootRecordDHT(t *testing.T) {
	servers, a := startNetwork(t, 2)
	b := startClient(t, servers[1].AddrInfo())
	ctx := testCtx(t)
	k := newKey(t)
	owner := ethcrypto.PubkeyToAddress(k.PublicKey)
	a.waitRoutingTable(ctx, 2*time.Second)
	b.waitRoutingTable(ctx, 2*time.Second)

	put := func(r *RootRecord) error {
		v, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return a.dht.PutValue(ctx, RootKey(r.Owner), v)
	}
	get := func() *RootRecord {
		t.Helper()
		v, err := b.dht.GetValue(ctx, RootKey(owner))
		if err != nil {
			t.Fatalf("GetValue: %v", err)
		}
		var r RootRecord
		if err := r.Unmarshal(v); err != nil || r.Verify() != nil {
			t.Fatalf("value from the DHT: %v", err)
		}
		return &r
	}
	r1, _ := SignRoot(k, randomID(t), 1, time.Now())
	if err := put(r1); err != nil {
		t.Fatal(err)
	}
	if got := get(); !sameVersion(got, r1) {
		t.Fatalf("got seq %d, want 1", got.Seq)
	}
	r2, _ := SignRoot(k, randomID(t), 2, time.Now())
	if err := put(r2); err != nil {
		t.Fatal(err)
	}
	if got := get(); !sameVersion(got, r2) {
		t.Fatalf("got seq %d, want 2", got.Seq)
	}
	forged, _ := SignRoot(newKey(t), randomID(t), 9, time.Now())
	forged.Owner = owner
	if err := put(forged); err == nil {
		t.Fatal("a forged record went into the DHT")
	}
	if got := get(); !sameVersion(got, r2) {
		t.Fatalf("after the forgery: seq %d", got.Seq)
	}
	// No provider holds a record (only the DHT does): FindRoot finds it.
	if got, err := b.FindRoot(ctx, owner); err != nil || !sameVersion(got, r2) {
		t.Fatalf("FindRoot through the DHT: %+v, %v", got, err)
	}
}
