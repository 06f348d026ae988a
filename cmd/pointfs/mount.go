package main

// pointfs mount / unmount.
//
// `pointfs mount [--data DIR] [--foreground] [--spool DIR] MOUNTPOINT`
// re-executes itself in the background (a new session, stdin /dev/null,
// stdout and stderr appended to DIR/pointfs.log), waits until the child
// says on a pipe (fd 3) that the mount is ready, prints where it is mounted
// and exits 0. The child serves until the file system is unmounted (by
// `pointfs unmount`, `umount` or `fusermount3 -u`) or gets SIGINT/SIGTERM
// (it then unmounts itself), and closes the engine cleanly either way.
//
// As a mount helper: link /sbin/mount.fuse.pointfs to the binary, and
//
//	mount -t fuse.pointfs /var/lib/pointfs /mnt/point
//
// or in /etc/fstab (the "device" is the data dir; spool=DIR and
// allow_other are understood, the generic options are the kernel's):
//
//	/var/lib/pointfs  /mnt/point  fuse.pointfs  defaults,_netdev,allow_other  0  0

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/fs"
	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// readyFDEnv names the descriptor on which a background mount reports to
// the command that started it: "ready embedded=BOOL" or "error MESSAGE".
const readyFDEnv = "POINTFS_READY_FD"

// mountReadyTimeout bounds the wait for a background mount (starting an
// embedded devnet takes a few seconds).
const mountReadyTimeout = 2 * time.Minute

type mountOptions struct {
	data, spool, mountpoint string
	foreground, allowOther  bool
	uploadWorkers           int
	// key: a key file to recover a tree with (an empty data dir gets the
	// newest tree that key published); share: a capability string to
	// mount read-only.
	key, share string
}

func cmdMount(args []string) error {
	fl := newFlags("mount")
	data := dataFlag(fl)
	fg := fl.Bool("foreground", false, "serve in this process until unmounted")
	spool := fl.String("spool", "", "`DIR` where written files wait for their upload (default DATA/spool)")
	allowOther := fl.Bool("allow-other", false, "let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)")
	workers := fl.Int("upload-workers", 2, "files put into the engine at once")
	key := fl.String("key", "", "`KEYFILE` to use; an empty data dir recovers the tree this key published")
	share := fl.String("root", "", "mount the shared tree of capability `CAP` (from pointfs publish) read-only")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("mount takes one MOUNTPOINT")
	}
	o := mountOptions{foreground: *fg, allowOther: *allowOther, uploadWorkers: *workers, share: *share}
	if o.data, err = absData(*data); err != nil {
		return err
	}
	if *key != "" && o.share != "" {
		return usagef("--key and --root do not go together: a share is mounted with the data dir's own key")
	}
	if o.share != "" {
		if _, _, err := parseCap(o.share); err != nil {
			return err
		}
	}
	if *key != "" {
		if o.key, err = filepath.Abs(*key); err != nil {
			return err
		}
		if err := installKey(o.data, o.key); err != nil {
			return err
		}
	}
	if o.mountpoint, err = filepath.Abs(pos[0]); err != nil {
		return err
	}
	o.spool = filepath.Join(o.data, "spool")
	if *spool != "" {
		if o.spool, err = filepath.Abs(*spool); err != nil {
			return err
		}
	}
	if fstype, ok := mountedAt(o.mountpoint); ok {
		if fstype != "fuse.pointfs" || !deadMount(o.mountpoint) {
			return fmt.Errorf("%s is already a mountpoint (%s): unmount it first", o.mountpoint, fstype)
		}
		// The daemon of an earlier mount died: clear its dead mount.
		if out, err := exec.Command("fusermount3", "-u", "-z", o.mountpoint).CombinedOutput(); err != nil {
			return fmt.Errorf("clear the dead mount on %s: %s", o.mountpoint, strings.TrimSpace(string(out)))
		}
		fmt.Fprintf(os.Stderr, "pointfs: cleared the dead mount left on %s by a daemon that stopped\n", o.mountpoint)
	}
	if st, err := os.Stat(o.mountpoint); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", o.mountpoint)
	}
	if os.Getenv("PATH") == "" {
		// mount(8) runs its helpers with an empty environment; bazil
		// and we run fusermount3 by name.
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return errors.New("fusermount3 not found: install fuse3 (apt-get install fuse3)")
	}
	if o.foreground {
		return serveMount(o, readyPipe())
	}
	return spawnMount(o)
}

// readyPipe returns the descriptor a parent passed in $POINTFS_READY_FD.
func readyPipe() *os.File {
	v := os.Getenv(readyFDEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "ready")
}

// spawnMount starts the daemon in the background and waits for its mount.
func spawnMount(o mountOptions) error {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(o.data, "pointfs.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := []string{"mount", "--foreground", "--data", o.data, "--spool", o.spool,
		"--upload-workers", strconv.Itoa(o.uploadWorkers)}
	if o.allowOther {
		args = append(args, "--allow-other")
	}
	if o.key != "" {
		args = append(args, "--key", o.key)
	}
	if o.share != "" {
		args = append(args, "--root", o.share)
	}
	args = append(args, o.mountpoint)
	cmd := exec.Command(exe, args...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Fprintf(logf, "%s pointfs mount %s on %s: starting (pid of the command %d)\n",
		time.Now().Format(time.RFC3339), o.data, o.mountpoint, os.Getpid())
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		switch {
		case ok && strings.HasPrefix(line, "ready"):
			fmt.Fprintf(os.Stderr, "pointfs: mounted %s on %s (daemon pid %d, log %s)\n", o.data, o.mountpoint, cmd.Process.Pid, logPath)
			if strings.Contains(line, "embedded=true") {
				fmt.Fprintf(os.Stderr, "pointfs: no network configured in %s: the daemon started an embedded devnet\n", o.data)
			}
			if _, note, ok := strings.Cut(line, " note="); ok {
				fmt.Fprintf(os.Stderr, "pointfs: %s\n", note)
			}
			return nil
		case ok && strings.HasPrefix(line, "error "):
			<-exited
			return errors.New(strings.TrimPrefix(line, "error "))
		}
		err := <-exited
		return fmt.Errorf("the mount daemon exited (%v) before the mount was ready: %s", err, lastLine(logPath))
	case <-time.After(mountReadyTimeout):
		cmd.Process.Kill()
		return fmt.Errorf("the mount was not ready after %v (see %s)", mountReadyTimeout, logPath)
	}
}

// lastLine returns the last non-empty line of a log file.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// serveMount runs the engine and serves the mount until it is unmounted.
// ready, when not nil, gets one line when the mount is ready or failed.
func serveMount(o mountOptions, ready *os.File) (err error) {
	report := func(format string, a ...any) {
		if ready != nil {
			fmt.Fprintf(ready, format+"\n", a...)
			ready.Close()
			ready = nil
		}
	}
	defer func() {
		if err != nil {
			report("error %s", strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}()
	log := slogFor("info").With("mount", o.mountpoint)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := openNodeWith(ctx, o.data, log, nodeOptions{readOnly: o.share != "", deferStart: true})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil && err == nil {
			err = cerr
		}
		log.Info("closed", "err", err)
	}()
	// A tree from the network first (before the engine's loops run on a
	// half-recorded store): a share, or with --key the tree it published.
	var note string
	switch {
	case o.share != "":
		note, err = openShare(ctx, n, o.share, log)
	case o.key != "":
		note, err = recoverOwnTree(ctx, n, log)
	}
	if err == nil && o.share == "" {
		err = notAShare(ctx, n)
	}
	if err != nil {
		return err
	}
	if note != "" {
		log.Info(note)
	}
	n.Engine.Start()
	cfg := fs.Config{
		Engine:        engineAdapter{n.Engine},
		Store:         n.Store,
		SpoolDir:      o.spool,
		Logger:        log,
		UploadWorkers: o.uploadWorkers,
		ReadOnly:      o.share != "",
		// Writers first: while the user writes, the engine starts no
		// new link (upload/holdoff.go).
		OnWrite: n.Engine.HoldOff,
	}
	if !cfg.ReadOnly {
		cfg.PublishRoot = n.publishRoot
	}
	fsys, err := fs.New(cfg)
	if err != nil {
		return err
	}
	if !cfg.ReadOnly {
		n.mu.Lock()
		n.share = func(ctx context.Context, rel string) (*publishReply, error) { return n.sharePath(ctx, fsys, rel) }
		n.mu.Unlock()
		go republish(ctx, n, fsys)
	}
	var extra []fuse.MountOption
	if o.allowOther {
		extra = append(extra, fuse.AllowOther())
	}
	m, err := fs.Mount(o.mountpoint, fsys, extra...)
	if err != nil {
		fsys.Close()
		return err
	}
	rec := mountRecord{Pid: os.Getpid(), Data: o.data, Mountpoint: o.mountpoint}
	if err := rec.write(); err != nil {
		log.Warn("record the mount for pointfs unmount", "err", err)
	}
	defer rec.remove()

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		log.Info("signal: unmounting", "signal", s)
		if err := m.Unmount(); err != nil {
			// Busy: detach it now; serving ends with the last open file.
			log.Warn("unmount", "err", err)
			if out, err := exec.Command("fusermount3", "-u", "-z", o.mountpoint).CombinedOutput(); err != nil {
				log.Error("lazy unmount", "err", err, "output", strings.TrimSpace(string(out)))
			}
		}
		if s, ok := <-sig; ok {
			log.Error("second signal: exiting now; written files are in the spool and resume at the next mount", "signal", s)
			os.Exit(1)
		}
	}()

	log.Info("mounted", "data", o.data, "spool", o.spool, "pid", os.Getpid(), "embedded", n.Embedded)
	if note != "" {
		report("ready embedded=%v note=%s", n.Embedded, strings.ReplaceAll(note, "\n", " "))
	} else {
		report("ready embedded=%v", n.Embedded)
	}
	serr := m.Serve()
	log.Info("unmounted: closing")
	cerr := fsys.Close()
	return errors.Join(serr, cerr)
}

// mountHelperArgs turns the arguments of a mount helper (mount(8) runs
// mount.fuse.pointfs DATA MOUNTPOINT [-o OPTIONS] [-t TYPE] [-n] [-s] [-v])
// into the arguments of `pointfs mount`.
func mountHelperArgs(args []string) []string {
	var pos, out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			i++
			for _, opt := range strings.Split(args[i], ",") {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "spool":
					out = append(out, "--spool", v)
				case "allow_other":
					out = append(out, "--allow-other")
				case "key":
					out = append(out, "--key", v)
				case "root":
					out = append(out, "--root", v)
				case "upload_workers":
					out = append(out, "--upload-workers", v)
				case "foreground":
					out = append(out, "--foreground")
				}
				// Others (rw, defaults, _netdev, nofail, nosuid, ...) are
				// for mount(8) and the kernel.
			}
		case (a == "-t" || a == "-N") && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// -n, -s, -v, -f: nothing to do.
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) >= 1 {
		dev := strings.TrimPrefix(pos[0], "pointfs#")
		out = append(out, "--data", dev)
	}
	if len(pos) >= 2 {
		out = append(out, pos[1])
	}
	return out
}

func cmdUnmount(args []string) error {
	fl := newFlags("unmount")
	lazy := fl.Bool("lazy", false, "detach now even if files are open; the daemon ends with the last of them")
	timeout := fl.Duration("timeout", 5*time.Minute, "how long to wait for the daemon to finish")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("unmount takes one MOUNTPOINT")
	}
	mnt, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if _, ok := mountedAt(mnt); !ok {
		return fmt.Errorf("%s is not mounted", mnt)
	}
	rec, recErr := readMountRecord(mnt)
	uargs := []string{"-u"}
	if *lazy {
		uargs = append(uargs, "-z")
	}
	out, err := exec.Command("fusermount3", append(uargs, mnt)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "busy") {
			msg += " (files are open on it; close them or use --lazy)"
		}
		return fmt.Errorf("%s: %s", mnt, msg)
	}
	if recErr != nil {
		return nil // not started by pointfs mount, or already gone
	}
	deadline := time.Now().Add(*timeout)
	for rec.alive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is unmounted but its daemon (pid %d) is still closing; see %s", mnt, rec.Pid, filepath.Join(rec.Data, "pointfs.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// deadMount reports whether the FUSE mount on path has lost its daemon
// (an open needs the daemon; a stat may be answered from the kernel's cache).
func deadMount(path string) bool {
	f, err := os.Open(path)
	if err == nil {
		f.Close()
		return false
	}
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// mountedAt reports whether path is a mountpoint, and of which type.
func mountedAt(path string) (string, bool) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", false
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && unescape.Replace(f[1]) == path {
			return f[2], true
		}
	}
	return "", false
}

// mountRecord tells `pointfs unmount` which daemon serves a mountpoint, so
// that it can wait for the daemon to finish.
type mountRecord struct {
	Pid        int    `json:"pid"`
	Data       string `json:"data"`
	Mountpoint string `json:"mountpoint"`
}

// mountRecordDir is $XDG_RUNTIME_DIR/pointfs, else a per-user directory in
// the temp dir.
func mountRecordDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "pointfs", "mounts")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("pointfs-%d", os.Getuid()), "mounts")
}

func mountRecordPath(mnt string) string {
	h := sha256.Sum256([]byte(mnt))
	return filepath.Join(mountRecordDir(), hex.EncodeToString(h[:8])+".json")
}

func (r mountRecord) write() error {
	if err := os.MkdirAll(mountRecordDir(), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := mountRecordPath(r.Mountpoint) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, mountRecordPath(r.Mountpoint))
}

func (r mountRecord) remove() {
	if cur, err := readMountRecord(r.Mountpoint); err == nil && cur.Pid == r.Pid {
		os.Remove(mountRecordPath(r.Mountpoint))
	}
}

func readMountRecord(mnt string) (mountRecord, error) {
	var r mountRecord
	b, err := os.ReadFile(mountRecordPath(mnt))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if r.Mountpoint != mnt || r.Pid <= 0 {
		return r, fmt.Errorf("%w: mount record of %s", meta.ErrCorrupt, mnt)
	}
	return r, nil
}

// alive reports whether the recorded daemon still runs (and is pointfs,
// not a process that reused its pid).
func (r mountRecord) alive() bool {
	if err := syscall.Kill(r.Pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.Pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Pid)); err == nil {
		// A zombie has finished its work.
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	if len(b) == 0 {
		// An exiting process loses its command line before it is gone:
		// the daemon is still finishing (closing its store), not dead.
		return true
	}
	return strings.Contains(string(b), "mount")
}

// engineAdapter shows an upload.Engine to the fs package.
type engineAdapter struct{ e *upload.Engine }

func (a engineAdapter) Put(ctx context.Context, r io.Reader, name string, pol *meta.Policy) (meta.ID, error) {
	return a.e.PutFile(ctx, r, upload.PutOptions{Policy: pol, Name: name})
}

func (a engineAdapter) Release(ctx context.Context, id meta.ID) error { return a.e.Release(ctx, id) }

func (a engineAdapter) ReadAt(ctx context.Context, id meta.ID, p []byte, off int64) (int, error) {
	return a.e.ReadAt(ctx, id, p, off)
}

func (a engineAdapter) Get(ctx context.Context, id meta.ID, w io.Writer) error {
	return a.e.Get(ctx, id, w)
}

func (a engineAdapter) Status(ctx context.Context, id meta.ID) (*fs.FileStatus, error) {
	st, err := a.e.Status(ctx, id, false)
	if err != nil {
		return nil, err
	}
	return &fs.FileStatus{File: st.File, Uploaded: st.Uploaded, Total: st.Total}, nil
}

func (a engineAdapter) Briefs(ctx context.Context, ids []meta.ID) ([]fs.FileBrief, error) {
	bs, err := a.e.Briefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileBrief, len(bs))
	for i, b := range bs {
		out[i] = fs.FileBrief(b)
	}
	return out, nil
}

func (a engineAdapter) ChunkStatus(ctx context.Context, id meta.ID, n int) (*fs.ChunkStatus, error) {
	cs, err := a.e.ChunkStatus(ctx, id, n)
	if err != nil {
		return nil, err
	}
	c := fs.ChunkStatus(*cs)
	return &c, nil
}

func (a engineAdapter) SetPolicy(ctx context.Context, id meta.ID, pol meta.Policy) error {
	return a.e.SetPolicy(ctx, id, pol)
}

func (a engineAdapter) DefaultPolicy() meta.Policy { return a.e.DefaultPolicy() }

func (a engineAdapter) Adopt(ctx context.Context, id meta.ID, pol *meta.Policy) error {
	return a.e.Adopt(ctx, id, pol)
}

func (a engineAdapter) Cost(ctx context.Context, id meta.ID) (*big.Int, error) {
	return a.e.Cost(ctx, id)
}

var _ fs.Engine = engineAdapter{}
