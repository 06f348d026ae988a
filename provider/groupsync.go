package provider

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
)

// groupSync makes writes durable in groups: one goroutine issues a single
// syncfs(2) for every waiter that queued since the previous one started.
// A provider must not sign a pledge for data that a power cut could still
// take away, and an fsync per chunk would cap signing at the disk's flush
// rate; grouped, hundreds of chunks share one flush.
type groupSync struct {
	fd    int          // a descriptor on the data dir's filesystem
	extra func() error // also flushed in each round (the index)

	mu      sync.Mutex
	waiting []chan error
	closed  bool
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	rounds  int64
}

func newGroupSync(dir string, extra func() error) (*groupSync, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("provider: open %s for sync: %w", dir, err)
	}
	g := &groupSync{fd: fd, extra: extra, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g, nil
}

// Wait returns once a sync that started after the call has finished, so
// everything the caller wrote before calling is durable.
func (g *groupSync) Wait(ctx context.Context) error {
	ch := make(chan error, 1)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return meta.ErrClosed
	}
	g.waiting = append(g.waiting, ch)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a round is already due; it will take us
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Rounds returns how many syncs ran.
func (g *groupSync) Rounds() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rounds
}

func (g *groupSync) loop() {
	defer close(g.done)
	for {
		select {
		case <-g.kick:
			g.round()
		case <-g.stop:
			g.round() // serve whoever queued before Close
			return
		}
	}
}

func (g *groupSync) round() {
	g.mu.Lock()
	batch := g.waiting
	g.waiting = nil
	g.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := g.sync()
	g.mu.Lock()
	g.rounds++
	g.mu.Unlock()
	for _, ch := range batch {
		ch <- err
	}
}

func (g *groupSync) sync() error {
	if g.extra != nil {
		if err := g.extra(); err != nil {
			return fmt.Errorf("provider: sync index: %w", err)
		}
	}
	if err := unix.Syncfs(g.fd); err != nil {
		return fmt.Errorf("provider: syncfs: %w", err)
	}
	return nil
}

// unlessSameFilesystem returns fn, the sync of what lives in dir, unless
// dir is on base's filesystem: syncfs of base flushes it then (badger's
// memtable and value log are shared mappings of files there; their dirty
// pages are written back like any file's), and fn would only flush the
// same pages once more. Profiles showed those msyncs at a third of a
// provider's syscall time.
func unlessSameFilesystem(base, dir string, fn func() error) func() error {
	var a, b unix.Stat_t
	if unix.Stat(base, &a) != nil || unix.Stat(dir, &b) != nil || a.Dev != b.Dev {
		return fn
	}
	return nil
}

// Close runs a last round for anyone still waiting and stops the loop.
func (g *groupSync) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	close(g.stop)
	<-g.done
	return unix.Close(g.fd)
}
