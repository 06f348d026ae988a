package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/provider"
)

// A worker started from a copy of a link read before the link was signed
// (the tick read it while the link's own worker was finishing) must not
// drive it again: that wrote the copy's earlier state over the signed
// record, and the file, reported uploaded, had a chunk with a link back in
// asking_for_signature.
func TestStaleLinkCopyIsNotDrivenAgain(t *testing.T) {
	ctx := context.Background()
	var boot []peer.AddrInfo
	for range 3 {
		dir := t.TempDir()
		key, err := provider.LoadOrCreateKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := provider.Start(ctx, provider.Config{DataDir: dir, Key: key,
			Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		boot = append(boot, s.AddrInfo())
	}
	dir := t.TempDir()
	key, err := provider.LoadOrCreateKey(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	net, err := provider.NewClient(ctx, key, provider.ClientConfig{Bootstrap: boot})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	e, err := New(Config{Store: db, Net: net, Master: MasterFromKey(key), CacheDir: filepath.Join(dir, "cache"),
		TickInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Start()
	data := make([]byte, 100<<10)
	rand.Read(data)
	id, err := e.PutFile(ctx, bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := e.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}

	var signed *meta.Link
	err = db.View(ctx, func(tx meta.Tx) error {
		ls, err := tx.Links(id)
		for _, l := range ls {
			if l.State == meta.LinkSigned {
				signed = l
			}
		}
		return err
	})
	if err != nil || signed == nil {
		t.Fatalf("no signed link of the chunkinfo: %v", err)
	}
	stale := *signed
	stale.State, stale.Pledge = meta.LinkAskingForSignature, nil
	p, err := peer.Decode(signed.Provider)
	if err != nil {
		t.Fatal(err)
	}
	e.startLink(&stale, p)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.mu.Lock()
		_, running := e.running[signed.ID]
		e.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not finish")
		}
	}
	var now *meta.Link
	if err := db.View(ctx, func(tx meta.Tx) (err error) { now, err = tx.Link(signed.Chunk, signed.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if now.State != meta.LinkSigned || !now.Updated.Equal(signed.Updated) {
		t.Fatalf("the signed link was written again: state %s, updated %v (was %v)", now.State, now.Updated, signed.Updated)
	}
}
