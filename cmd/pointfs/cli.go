package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// frontend is what the file commands need of an engine: the daemon's, over
// its local API, or one run in this process for the length of the command.
type frontend interface {
	put(ctx context.Context, path string, redundancy int) (meta.ID, error)
	wait(ctx context.Context, id meta.ID) error
	status(ctx context.Context, id meta.ID, detail bool) (*upload.FileStatus, error)
	files(ctx context.Context) ([]*meta.File, error)
	get(ctx context.Context, id meta.ID, w io.Writer) error
	close() error
}

func (c *apiClient) close() error { return nil }

// local runs the engine in this process.
type local struct{ n *node }

func (l local) put(ctx context.Context, path string, redundancy int) (meta.ID, error) {
	var pol *meta.Policy
	if redundancy > 0 {
		p := l.n.Engine.DefaultPolicy()
		p.Redundancy = redundancy
		pol = &p
	}
	return l.n.Engine.PutPath(ctx, path, pol)
}
func (l local) wait(ctx context.Context, id meta.ID) error { return l.n.Engine.Wait(ctx, id) }
func (l local) status(ctx context.Context, id meta.ID, d bool) (*upload.FileStatus, error) {
	return l.n.Engine.Status(ctx, id, d)
}
func (l local) files(ctx context.Context) ([]*meta.File, error) { return l.n.Engine.Files(ctx) }
func (l local) get(ctx context.Context, id meta.ID, w io.Writer) error {
	return l.n.Engine.Get(ctx, id, w)
}
func (l local) close() error { return l.n.Close() }

// connect returns the daemon of data if one runs, else an engine in this
// process (reported by the second result).
func connect(ctx context.Context, data string) (frontend, bool, error) {
	c, err := dialDaemon(data)
	if err == nil {
		return c, false, nil
	}
	n, err := openNode(ctx, data, newLogger())
	if err != nil {
		return nil, false, err
	}
	return local{n}, true, nil
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdPut(args []string) error {
	fl := newFlags("put")
	data := dataFlag(fl)
	red := fl.Int("redundancy", 0, "providers per chunk (default from config, else 3)")
	wait := fl.Bool("wait", false, "return when the file is uploaded (durable on N providers)")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("put takes one FILE")
	}
	if *red < 0 {
		return usagef("--redundancy must be positive")
	}
	path, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if st, err := os.Stat(path); err != nil {
		return err
	} else if st.IsDir() {
		return fmt.Errorf("%s is a directory", pos[0])
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	fe, inProcess, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer fe.close()
	id, err := fe.put(ctx, path, *red)
	if err != nil {
		return err
	}
	if *wait {
		if err := fe.wait(ctx, id); err != nil {
			return fmt.Errorf("waiting for %s: %w", id, err)
		}
	} else if inProcess {
		fmt.Fprintf(os.Stderr, "pointfs put: no daemon runs for %s: the file is registered and uploads when `pointfs daemon` or `pointfs mount` runs (or put it with --wait)\n", d)
	}
	fmt.Println(id)
	return nil
}

func cmdGet(args []string) error {
	fl := newFlags("get")
	data := dataFlag(fl)
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("get takes ID OUT")
	}
	id, err := meta.ParseID(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	fe, _, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer fe.close()
	if pos[1] == "-" {
		return fe.get(ctx, id, os.Stdout)
	}
	// Write beside OUT and rename: OUT appears whole and verified, or not at all.
	out := pos[1]
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fe.get(ctx, id, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func cmdStatus(args []string) error {
	fl := newFlags("status")
	data := dataFlag(fl)
	asJSON := fl.Bool("json", false, "print JSON for scripts")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("status takes at most one ID or PATH")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	var ids []meta.ID
	if len(pos) == 1 {
		id, err := idOf(pos[0])
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	ctx, cancel := signalContext()
	defer cancel()
	fe, _, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer fe.close()
	if len(ids) == 0 {
		files, err := fe.files(ctx)
		if err != nil {
			return err
		}
		for _, f := range files {
			ids = append(ids, f.ID)
		}
	}
	var all []*upload.FileStatus
	for _, id := range ids {
		// Detail costs a read per chunk: for humans only while work is on.
		st, err := fe.status(ctx, id, *asJSON || len(ids) == 1)
		if err != nil {
			return err
		}
		all = append(all, st)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if len(pos) == 1 {
			return enc.Encode(all[0])
		}
		if all == nil {
			all = []*upload.FileStatus{}
		}
		return enc.Encode(all)
	}
	if len(all) == 0 {
		fmt.Println("no files")
	}
	for _, st := range all {
		fmt.Println(progressLine(st))
		if len(pos) == 1 {
			printMoney(st)
		}
	}
	return nil
}

// printMoney shows what a file cost, by provider, and why uploads wait for
// money if they do.
func printMoney(st *upload.FileStatus) {
	if st.Payment != "" {
		fmt.Printf("  payments: %s\n", st.Payment)
	}
	if st.Cost == "" && len(st.Spend) == 0 {
		return
	}
	fmt.Printf("  cost: %s wei\n", orZero(st.Cost))
	for _, sp := range st.Spend {
		pending := ""
		if sp.Pending != "" && sp.Pending != "0" {
			pending = fmt.Sprintf(" (+%s wei not yet acknowledged)", sp.Pending)
		}
		fmt.Printf("  %s %s: %s wei for %d links%s\n", sp.Provider, sp.Address.Hex(), orZero(sp.Paid), sp.Links, pending)
	}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// idOf reads an id, or the user.point.id of a path inside a mount.
func idOf(s string) (meta.ID, error) {
	if id, err := meta.ParseID(s); err == nil {
		return id, nil
	}
	buf := make([]byte, 128)
	n, err := unix.Getxattr(s, "user.point.id", buf)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return meta.ID{}, fmt.Errorf("%s: no such file", s)
		}
		return meta.ID{}, fmt.Errorf("%s is neither a file id nor a file in a pointfs mount with an id yet (%v)", s, err)
	}
	return meta.ParseID(strings.TrimSpace(string(buf[:n])))
}

// progressLine is one file for humans: a bar of durable chunks.
func progressLine(st *upload.FileStatus) string {
	const width = 24
	filled := 0
	if st.Total > 0 {
		filled = st.Uploaded * width / st.Total
	}
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	state := st.File.State.String()
	if st.Repairing > 0 {
		state = fmt.Sprintf("repairing %d", st.Repairing)
	}
	return fmt.Sprintf("%s  %-9s [%s] %d/%d chunks durable  %s  r=%d  %s",
		st.File.ID, state, bar, st.Uploaded, st.Total, humanBytes(st.File.Size), st.File.Policy.Redundancy, st.File.Name)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func cmdLs(args []string) error {
	fl := newFlags("ls")
	data := dataFlag(fl)
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("ls takes no arguments")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	fe, _, err := connect(ctx, d)
	if err != nil {
		return err
	}
	defer fe.close()
	files, err := fe.files(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tSTATUS\tCHUNKS\tNAME")
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\n", f.ID, humanBytes(f.Size), f.State, f.Distinct-f.Pending, f.Distinct, f.Name)
	}
	return tw.Flush()
}

func cmdDaemon(args []string) error {
	fl := newFlags("daemon")
	data := dataFlag(fl)
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("daemon takes no arguments")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	n, err := openNode(ctx, d, slogFor("info"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pointfs daemon: serving %s (pid %d, socket %s)\n", d, os.Getpid(), socketPath(d))
	<-ctx.Done()
	return n.Close()
}
