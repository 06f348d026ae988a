package main

// The tree on the network (issue #7): the mount publishes a signed root
// record as its tree changes; `mount --key` rebuilds a lost data dir from
// the key alone; `publish` shares a directory as a capability string and
// `mount --root CAP` mounts it read-only elsewhere.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/fs"
	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider"
)

// Keys of the small values this wiring keeps in the store.
const (
	keyShareRoot  = "cmd/share-root" // the shared tree a read-only data dir holds
	capPrefix     = "pointfs1:"      // capability strings: pointfs1:ROOT:SECRET
	recoverBudget = 90 * time.Second // how long a mount may spend restoring
)

// installKey makes keyFile the key of data dir data. A data dir that has a
// key already keeps it unless it is the same one.
func installKey(data, keyFile string) error {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	want, err := ethcrypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"))
	if err != nil {
		return fmt.Errorf("key file %s: %w: not a hex secp256k1 key", keyFile, meta.ErrInvalid)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	path := filepath.Join(data, "key")
	if old, err := os.ReadFile(path); err == nil {
		k, err := ethcrypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(string(old)), "0x"))
		if err == nil && bytes.Equal(ethcrypto.FromECDSA(k), ethcrypto.FromECDSA(want)) {
			return nil
		}
		return fmt.Errorf("data dir %s has another key already: use an empty data dir to recover with %s", data, keyFile)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(ethcrypto.FromECDSA(want))+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// formatCap and parseCap write and read a capability string: the root
// directory's id and the share secret its tags are sealed with.
func formatCap(root meta.ID, secret [32]byte) string {
	return capPrefix + root.String() + ":" + hex.EncodeToString(secret[:])
}

func parseCap(s string) (root meta.ID, secret [32]byte, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), capPrefix)
	r, sec, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return root, secret, fmt.Errorf("%w: capability %q: want %sROOT:SECRET", meta.ErrInvalid, s, capPrefix)
	}
	if root, err = meta.ParseID(r); err != nil {
		return root, secret, fmt.Errorf("%w: capability root: %v", meta.ErrInvalid, err)
	}
	b, err := hex.DecodeString(sec)
	if err != nil || len(b) != 32 {
		return root, secret, fmt.Errorf("%w: capability secret is not 64 hex digits", meta.ErrInvalid)
	}
	return root, [32]byte(b), nil
}

// restoreTree rebuilds the tree root (of sequence seq) into n's empty
// store: the links first (the engine's recover), then the nodes. Both are
// safe to run again: a restore cut short is finished at the next mount
// (fs.NeedsRestore says so).
func restoreTree(ctx context.Context, n *node, root meta.ID, seq uint64, recoverLinks func(context.Context) (string, error), log *slog.Logger) (string, error) {
	found, err := recoverLinks(ctx)
	if err != nil {
		return "", err
	}
	if err := fs.Restore(ctx, n.Store, engineAdapter{n.Engine}, root, seq, log); err != nil {
		return "", fmt.Errorf("restore the tree %s: %w", root, err)
	}
	return found, nil
}

// recoverOwnTree finds the newest root record of n's key on the network
// and restores it into n's empty store. It says what it did, for the user.
func recoverOwnTree(ctx context.Context, n *node, log *slog.Logger) (string, error) {
	need, err := fs.NeedsRestore(ctx, n.Store)
	if err != nil || !need {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, recoverBudget)
	defer cancel()
	owner := addressOf(n.key)
	rec, err := n.net.FindRoot(ctx, owner)
	if errors.Is(err, provider.ErrNoRootRecord) {
		return fmt.Sprintf("no tree of %s on the network: starting an empty one", owner), nil
	}
	if err != nil {
		return "", fmt.Errorf("find the tree of %s: %w", owner, err)
	}
	log.Info("root record found", "owner", owner, "root", rec.Root, "seq", rec.Seq)
	found, err := restoreTree(ctx, n, rec.Root, rec.Seq, func(ctx context.Context) (string, error) {
		rep, err := n.Engine.RecoverLinks(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d links of %d chunks from %d of %d providers", rep.Links, rep.Chunks, rep.Answered, rep.Providers), nil
	}, log)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("recovered the tree of %s (root %s, seq %d): %s", owner, rec.Root, rec.Seq, found), nil
}

// openShare restores the shared tree of capability c into n's store, once:
// a data dir holds one shared tree.
func openShare(ctx context.Context, n *node, c string, log *slog.Logger) (string, error) {
	root, secret, err := parseCap(c)
	if err != nil {
		return "", err
	}
	var held []byte
	err = n.Store.View(ctx, func(tx meta.Tx) (err error) {
		held, err = tx.Get(keyShareRoot)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if held != nil && string(held) != root.String() {
		return "", fmt.Errorf("data dir %s holds the shared tree %s: use another --data for %s", n.Data, held, root)
	}
	need, err := fs.NeedsRestore(ctx, n.Store)
	if err != nil {
		return "", err
	}
	if !need {
		if held == nil {
			return "", fmt.Errorf("data dir %s holds a tree of its own: use another --data to mount a share", n.Data)
		}
		return fmt.Sprintf("shared tree %s (read-only)", root), nil
	}
	ctx, cancel := context.WithTimeout(ctx, recoverBudget)
	defer cancel()
	err = n.Store.Update(ctx, func(tx meta.Tx) error { return tx.Put(keyShareRoot, []byte(root.String())) })
	if err != nil {
		return "", err
	}
	found, err := restoreTree(ctx, n, root, 0, func(ctx context.Context) (string, error) {
		rep, err := n.Engine.RecoverShare(ctx, secret)
		if err != nil {
			return "", err
		}
		if rep.Links == 0 && rep.Rejected == 0 {
			return "", fmt.Errorf("no provider holds the shared tree %s (a wrong capability, or another network)", root)
		}
		return fmt.Sprintf("%d links of %d chunks from %d of %d providers", rep.Links, rep.Chunks, rep.Answered, rep.Providers), nil
	}, log)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("mounted the shared tree %s read-only: %s", root, found), nil
}

// notAShare refuses to mount writable a data dir that holds someone
// else's shared tree: its engine must only read.
func notAShare(ctx context.Context, n *node) error {
	return n.Store.View(ctx, func(tx meta.Tx) error {
		held, err := tx.Get(keyShareRoot)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		return fmt.Errorf("data dir %s holds the shared tree %s: mount it with --root CAP (read-only)", n.Data, held)
	})
}

// publishRoot signs a root record for the tree and puts it on the network.
func (n *node) publishRoot(ctx context.Context, root meta.ID, seq uint64) error {
	rec, err := provider.SignRoot(n.key, root, seq, time.Now())
	if err != nil {
		return err
	}
	accepted, err := n.net.PublishRoot(ctx, rec)
	if err != nil {
		return err
	}
	n.Log.Info("root record published", "root", root, "seq", seq, "providers", accepted)
	return nil
}

// republishEvery is how often a mount signs its current root record again
// (same sequence number, a later time): DHT nodes keep records in memory
// and drop them after a day and a half, and a provider that joined since
// the last change has none.
const republishEvery = 6 * time.Hour

// republish keeps the tree's root record on the network until ctx ends.
func republish(ctx context.Context, n *node, fsys *fs.FS) {
	t := time.NewTicker(republishEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		root, seq := fsys.Published()
		if seq == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := n.publishRoot(pctx, root, seq); err != nil && ctx.Err() == nil {
			n.Log.Warn("republish the root record", "seq", seq, "err", err)
		}
		cancel()
	}
}

// publishReply is the local API's answer to a publish.
type publishReply struct {
	Cap    string  `json:"cap"`
	Root   meta.ID `json:"root"`
	Tagged int     `json:"tagged"` // replicas tagged for the share
}

// sharePath publishes the directory at rel (relative to the mount's root)
// of fsys: a snapshot of the tree, then a share tag on every replica of
// that directory's subtree.
func (n *node) sharePath(ctx context.Context, fsys *fs.FS, rel string) (*publishReply, error) {
	if _, _, err := fsys.Snapshot(ctx); err != nil {
		return nil, fmt.Errorf("snapshot the tree: %w", err)
	}
	dir, err := fsys.DirID(ctx, rel)
	if err != nil {
		return nil, err
	}
	secret, tagged, err := n.Engine.Share(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &publishReply{Cap: formatCap(dir, secret), Root: dir, Tagged: tagged}, nil
}

// cmdPublish is `pointfs publish PATH`: PATH is a directory in a pointfs
// mount; it prints the capability string that mounts it elsewhere.
func cmdPublish(args []string) error {
	fl := newFlags("publish")
	timeout := fl.Duration("timeout", 10*time.Minute, "how long to wait for the tree to be uploaded")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("publish takes one PATH (a directory in a pointfs mount)")
	}
	abs, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory: publish shares a directory", abs)
	}
	mnt := abs
	for {
		if fstype, ok := mountedAt(mnt); ok {
			if fstype != "fuse.pointfs" {
				return fmt.Errorf("%s is not in a pointfs mount (%s is %s)", abs, mnt, fstype)
			}
			break
		}
		up := filepath.Dir(mnt)
		if up == mnt {
			return fmt.Errorf("%s is not in a pointfs mount", abs)
		}
		mnt = up
	}
	rec, err := readMountRecord(mnt)
	if err != nil {
		return fmt.Errorf("%s: no record of the daemon that serves it: %w", mnt, err)
	}
	rel, err := filepath.Rel(mnt, abs)
	if err != nil {
		return err
	}
	if rel == "." {
		rel = ""
	}
	c, err := dialDaemon(rec.Data)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var rep publishReply
	if err := c.call(ctx, "POST", "/v1/publish?path="+url.QueryEscape(filepath.ToSlash(rel)), nil, &rep); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pointfs: published %s (directory %s, %d replicas tagged); mount it with: pointfs mount --root CAP MOUNTPOINT\n", abs, rep.Root, rep.Tagged)
	fmt.Println(rep.Cap)
	return nil
}
