package upload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/upload"
)

// clock is an injectable clock: tests move time forward by days without
// sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const auditPeriod = time.Hour

func keepConfig(clk *clock) func(*upload.Config) {
	return func(cfg *upload.Config) {
		cfg.Now = clk.Now
		cfg.AuditInterval = auditPeriod
		cfg.AuditTimeout = 3 * time.Second
		cfg.KeepInterval = time.Hour // rounds run when the test says
		cfg.Expiry = 4 * 24 * time.Hour
		cfg.RenewBefore = 24 * time.Hour
	}
}

// auditAll advances the clock by one audit period and runs audit rounds
// until nothing is due: every signed link has been challenged once.
func auditAll(t *testing.T, e *upload.Engine, clk *clock) (audited, failed int) {
	t.Helper()
	clk.Advance(auditPeriod + auditPeriod/4)
	for {
		a, f, err := e.AuditRound(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if a == 0 {
			return audited, failed
		}
		audited += a
		failed += f
	}
}

var packName = regexp.MustCompile(`^[0-9]{8}\.pack$`)

// loseEverything destroys every stored replica of a provider behind its
// back, leaving its index (and its pledges) as they were. It empties the
// pack files the replicas live in: removing them would not do, since the
// provider keeps them open. It returns how many it emptied.
func loseEverything(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && packName.MatchString(info.Name()) && info.Size() > 0 {
			n++
			return os.Truncate(p, 0)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuditsDetectBadProvidersAndRepair(t *testing.T) {
	for _, bad := range []string{"deletes its data", "answers garbage", "goes offline"} {
		t.Run(bad, func(t *testing.T) {
			faults := healthy(4)
			if bad == "answers garbage" {
				faults[1].GarbageAudits = true
			}
			dirs := make([]string, 4)
			servers := startProvidersIn(t, dirs, faults...)
			clk := newClock()
			c := openClient(t, t.TempDir(), servers, keepConfig(clk))
			data := randomBytes(t, 2<<20)
			id := putBytes(t, c.engine, data, nil)
			waitUploaded(t, c.engine, id, time.Minute)
			victim := servers[1].ID().String()

			switch bad {
			case "deletes its data":
				if loseEverything(t, dirs[1]) == 0 {
					t.Fatal("the provider held no replica: the test proves nothing")
				}
			case "goes offline":
				servers[1].Close()
			}

			before := clk.Now()
			audited, failed := auditAll(t, c.engine, clk)
			if failed == 0 || audited == 0 {
				t.Fatalf("audited %d links, %d failed: the bad provider was not caught", audited, failed)
			}
			// Every link at the bad provider failed its audit within the period.
			st, err := c.engine.Status(context.Background(), id, true)
			if err != nil {
				t.Fatal(err)
			}
			if st.File.State == meta.FileUploading && st.Repairing == 0 {
				t.Error("the file is uploading again but its status shows no repair")
			}
			for _, cs := range st.Chunks {
				for _, l := range cs.Links {
					if l.Provider == victim && l.Pledge != nil && l.State != meta.LinkFailed {
						t.Errorf("chunk %d: link at the bad provider is %s after an audit period", cs.Index, l.State)
					}
					if l.Provider == victim && l.Pledge != nil && l.State == meta.LinkFailed && !strings.HasPrefix(l.Error, "audit") {
						t.Errorf("chunk %d: link failed for %q, want an audit failure", cs.Index, l.Error)
					}
					old := !l.Created.After(before) // not a repair made during the round
					if old && l.Provider != victim && l.State == meta.LinkSigned && (l.LastAudit == nil || !l.LastAudit.OK) {
						t.Errorf("chunk %d: healthy link at %s has audit %+v (created %v, updated %v, next audit %v, %d segments, round at %v)",
							cs.Index, l.Provider, l.LastAudit, l.Created, l.Updated, l.NextAudit, len(l.Segments), before)
					}
				}
			}
			// Repair brings the file back to full redundancy elsewhere, intact.
			waitUploaded(t, c.engine, id, time.Minute)
			waitSignedElsewhere(t, c.engine, id, 3, victim, time.Minute)
			checkDurable(t, c.engine, id, 3, map[string]bool{victim: true})
			if err := os.RemoveAll(filepath.Join(c.dir, "cache")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, c.engine, id); !bytes.Equal(got, data) {
				t.Fatal("content differs after repair")
			}
			// The next period finds nothing wrong.
			if _, failed := auditAll(t, c.engine, clk); failed != 0 {
				t.Fatalf("%d audits failed after the repair", failed)
			}
		})
	}
}

func TestExpiryWithAndWithoutAutorenew(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	clk := newClock()
	c := openClient(t, t.TempDir(), servers, keepConfig(clk))
	ctx := context.Background()

	keep := c.engine.DefaultPolicy()
	lapse := keep
	lapse.Autorenew = false
	kept := putBytes(t, c.engine, randomBytes(t, 300<<10), &keep)
	lapsing := putBytes(t, c.engine, randomBytes(t, 300<<10), &lapse)
	waitUploaded(t, c.engine, kept, time.Minute)
	waitUploaded(t, c.engine, lapsing, time.Minute)
	firstEnd := keep.Expires

	// A day before the end: the autorenewed file's links are renewed.
	clk.Advance(4*24*time.Hour - 20*time.Hour)
	renewed, lapsed, err := c.engine.RenewRound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == 0 || lapsed != 0 {
		t.Fatalf("renewed %d, lapsed %d", renewed, lapsed)
	}
	// Past the end: the other file's pledges lapse, visibly.
	clk.Advance(21 * time.Hour)
	if _, lapsed, err = c.engine.RenewRound(ctx); err != nil || lapsed == 0 {
		t.Fatalf("lapsed %d, %v", lapsed, err)
	}
	st, _ := c.engine.Status(ctx, lapsing, false)
	if st.File.State != meta.FileExpired {
		t.Fatalf("file without autorenew is %s after its end, want expired", st.File.State)
	}
	st, _ = c.engine.Status(ctx, kept, true)
	if st.File.State != meta.FileUploaded || !st.File.Policy.Expires.After(firstEnd) {
		t.Fatalf("autorenewed file: %s, expires %v (first end %v)", st.File.State, st.File.Policy.Expires, firstEnd)
	}
	for _, cs := range st.Chunks {
		for _, l := range cs.Links {
			if l.State != meta.LinkSigned {
				continue
			}
			if l.Renewals == 0 || !l.Expires.After(clk.Now()) || provider.VerifyPledge(l.Pledge, l.Address) != nil ||
				l.Pledge.Expires != l.Expires.Unix() {
				t.Errorf("chunk %d link at %s: renewals %d, expires %v, pledge %+v", cs.Index, l.Provider, l.Renewals, l.Expires, l.Pledge)
			}
		}
	}
}

// A put asks a policy whose expiry has passed when a file is written after
// the date set on it (a node keeps the absolute expiry). Every store request
// would be declined and the file would read "uploading" for good: with
// autorenew the file is kept for one more term from now; without, the put
// and a policy change to it are refused. An expiry left unset is the
// default one.
func TestPastExpiry(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, nil)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	def := c.engine.DefaultPolicy()

	renewed := putBytes(t, c.engine, randomBytes(t, 20<<10), &meta.Policy{Redundancy: 2, Expires: past, Autorenew: true})
	unset := putBytes(t, c.engine, randomBytes(t, 20<<10), &meta.Policy{Redundancy: 2})
	for _, id := range []meta.ID{renewed, unset} {
		waitUploaded(t, c.engine, id, time.Minute)
		st, err := c.engine.Status(ctx, id, false)
		if err != nil {
			t.Fatal(err)
		}
		if exp := st.File.Policy.Expires; exp.Before(def.Expires.Add(-time.Minute)) {
			t.Errorf("file %s expires %v, want about %v", id, exp, def.Expires)
		}
	}

	_, err := c.engine.PutFile(ctx, bytes.NewReader(randomBytes(t, 20<<10)), upload.PutOptions{
		Policy: &meta.Policy{Redundancy: 2, Expires: past}})
	if !errors.Is(err, meta.ErrInvalid) || !strings.Contains(err.Error(), "has passed") {
		t.Fatalf("put with a passed expiry, no autorenew: %v, want ErrInvalid", err)
	}
	if err := c.engine.SetPolicy(ctx, renewed, meta.Policy{Redundancy: 3, Expires: past}); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("policy with a passed expiry, no autorenew: %v, want ErrInvalid", err)
	}
	st, _ := c.engine.Status(ctx, renewed, false)
	if st.File.Policy.Redundancy != 2 || !st.File.Policy.Autorenew {
		t.Errorf("refused policy change took effect: %+v", st.File.Policy)
	}
}

// A chunk whose term ends before it is stored (the engine was down for all
// of it, or held back) and that autorenews gets links for a term from now,
// as a renewal would have given, and its file ends then too: links made
// for the ended term would never count.
func TestTermEndedBeforeUpload(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	clk := newClock()
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) {
		keepConfig(clk)(cfg)
		cfg.HoldQuiet, cfg.HoldMax = 300*time.Millisecond, time.Hour
	})
	stop := writing(c.engine) // no link starts meanwhile
	id := putBytes(t, c.engine, randomBytes(t, 300<<10), nil)
	clk.Advance(5 * 24 * time.Hour) // past the 4-day term
	stop()
	waitUploaded(t, c.engine, id, time.Minute)
	st, err := c.engine.Status(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	if !st.File.Policy.Expires.After(clk.Now()) {
		t.Errorf("file ends %v, before now (%v)", st.File.Policy.Expires, clk.Now())
	}
	for _, cs := range st.Chunks {
		for _, l := range cs.Links {
			if l.State == meta.LinkSigned && !l.Expires.After(clk.Now().Add(3*24*time.Hour)) {
				t.Errorf("chunk %d: link ends %v, want a term from now (%v)", cs.Index, l.Expires, clk.Now())
			}
		}
	}
}

func TestRedundancyRaisedAndLowered(t *testing.T) {
	servers := startProviders(t, healthy(5)...)
	c := openClient(t, t.TempDir(), servers, nil)
	ctx := context.Background()
	id := putBytes(t, c.engine, randomBytes(t, 700<<10), nil)
	waitUploaded(t, c.engine, id, time.Minute)

	pol := c.engine.DefaultPolicy()
	pol.Redundancy = 5
	if err := c.engine.SetPolicy(ctx, id, pol); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, c.engine, id, time.Minute)
	checkDurable(t, c.engine, id, 5, nil)

	stored := func() (n int) {
		for _, s := range servers {
			n += s.Stats().Stored
		}
		return n
	}
	before := stored()
	pol.Redundancy = 2
	if err := c.engine.SetPolicy(ctx, id, pol); err != nil {
		t.Fatal(err)
	}
	st, _ := c.engine.Status(ctx, id, true)
	for _, cs := range st.Chunks {
		if cs.Durable != 2 {
			t.Errorf("chunk %d: %d durable links after lowering to 2", cs.Index, cs.Durable)
		}
	}
	// The providers were told: they dropped the surplus replicas.
	want := before - 3*len(st.Chunks)
	deadline := time.Now().Add(30 * time.Second)
	for stored() != want {
		if time.Now().After(deadline) {
			t.Fatalf("providers hold %d replicas, want %d after releasing", stored(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSignedElsewhere waits until every chunk of the file has want signed
// links at providers other than avoid.
func waitSignedElsewhere(t *testing.T, e *upload.Engine, id meta.ID, want int, avoid string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := e.Status(context.Background(), id, true)
		if err != nil {
			t.Fatal(err)
		}
		short := -2
		for _, cs := range st.Chunks {
			n := 0
			for _, l := range cs.Links {
				if l.State == meta.LinkSigned && l.Provider != avoid {
					n++
				}
			}
			if n < want {
				short = cs.Index
				break
			}
		}
		if short == -2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chunk %d still lacks signed links elsewhere after %v (file %s)", short, d, st.File.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A share covers the replicas its owner makes after it too, across a
// restart: the links that repair its chunks are tagged for it once signed,
// so a reader of the share finds them.
func TestShareCoversRepairs(t *testing.T) {
	ctx := context.Background()
	dirs := make([]string, 4)
	servers := startProvidersIn(t, dirs, healthy(4)...)
	clk := newClock()
	owner := openClient(t, t.TempDir(), servers, keepConfig(clk))
	data := randomBytes(t, 600<<10)
	file := putBytes(t, owner.engine, data, nil)
	waitUploaded(t, owner.engine, file, time.Minute)
	dir := putBytes(t, owner.engine, chunkinfo.EncodeDir([]chunkinfo.DirEntry{
		{Type: chunkinfo.TypeFilePtr, Name: "a", Size: int64(len(data)), ID: file}}), nil)
	waitUploaded(t, owner.engine, dir, time.Minute)
	secret, tagged, err := owner.engine.Share(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	shared := clk.Now()
	// The share is kept in the store: a restarted engine knows it.
	owner.close()
	owner = openClient(t, owner.dir, servers, keepConfig(clk))

	victim := servers[1].ID().String()
	if loseEverything(t, dirs[1]) == 0 {
		t.Fatal("the provider held no replica: the test proves nothing")
	}
	if _, failed := auditAll(t, owner.engine, clk); failed == 0 {
		t.Fatal("no audit failed")
	}
	repairs := 0
	for _, id := range []meta.ID{file, dir} {
		waitSignedElsewhere(t, owner.engine, id, 3, victim, time.Minute)
		st, err := owner.engine.Status(ctx, id, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range st.Chunks {
			for _, l := range cs.Links {
				if l.State == meta.LinkSigned && l.Created.After(shared) {
					repairs++
				}
			}
		}
	}
	if repairs == 0 {
		t.Fatal("nothing was repaired: the test proves nothing")
	}
	// The tags go out just after the links are signed: look a few times.
	var rep upload.RecoverReport
	for try := 0; try < 50; try++ {
		reader := openClient(t, t.TempDir(), servers, func(c *upload.Config) { c.ReadOnly = true })
		if rep, err = reader.engine.RecoverShare(ctx, secret); err != nil {
			t.Fatal(err)
		}
		reader.close()
		if rep.Links >= tagged+repairs {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep.Links != tagged+repairs {
		t.Fatalf("the share finds %d links, want the %d tagged at first and the %d repairs", rep.Links, tagged, repairs)
	}
}
