package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// These tests run the built binary, as a user would: `pointfs devnet` with
// its providers as child processes, `pointfs daemon`, and the file commands.

var pointfsBin string

func binary(t *testing.T) string {
	t.Helper()
	if pointfsBin != "" {
		return pointfsBin
	}
	dir, err := os.MkdirTemp("", "pointfs-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pointfs")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	pointfsBin = bin
	return bin
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("pointfs %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// background starts a long-running pointfs command, stopped with SIGTERM
// at the end of the test.
func background(t *testing.T, logName string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s:\n%s", logName, b)
		}
	})
	return cmd
}

func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDevnet runs `pointfs devnet` and returns its data dir and network.
func startDevnet(t *testing.T, providers int) (string, *networkFile) {
	t.Helper()
	data := t.TempDir()
	background(t, "devnet.log", "devnet", "--data", data, "--providers", strconv.Itoa(providers))
	waitFile(t, filepath.Join(data, "network.json"), time.Minute)
	var nf networkFile
	b, err := os.ReadFile(filepath.Join(data, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &nf); err != nil {
		t.Fatal(err)
	}
	if len(nf.Providers) != providers {
		t.Fatalf("network.json lists %d providers, want %d", len(nf.Providers), providers)
	}
	for _, p := range nf.Providers {
		if p.PID == os.Getpid() || p.PID == 0 || p.PeerID == "" || !strings.HasPrefix(p.Address, "0x") || p.Data == "" {
			t.Fatalf("provider entry %+v", p)
		}
	}
	return data, &nf
}

func writeRandom(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "in file ü.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func statusJSON(t *testing.T, data, id string) *upload.FileStatus {
	t.Helper()
	var st upload.FileStatus
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--data", data, "--json", id)), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestDevnetPutGetStatusLs(t *testing.T) {
	data, _ := startDevnet(t, 5)
	in, content := writeRandom(t, 3<<20+12345)

	// No daemon: put --wait runs the engine for the length of the command.
	id := strings.TrimSpace(mustRun(t, "put", "--data", data, "--redundancy", "3", "--wait", in))
	if !hexID.MatchString(id) {
		t.Fatalf("put printed %q, want 64 hex digits", id)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "get", "--data", data, id, out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
		t.Fatal("get wrote other bytes")
	}
	st := statusJSON(t, data, id)
	if st.File.State != meta.FileUploaded || st.Uploaded != st.Total || len(st.Chunks) != st.Total {
		t.Fatalf("status: %s %d/%d, %d chunks listed", st.File.State, st.Uploaded, st.Total, len(st.Chunks))
	}
	for _, cs := range st.Chunks {
		if cs.Durable < 3 {
			t.Errorf("chunk %d: %d durable links", cs.Index, cs.Durable)
		}
	}
	human := mustRun(t, "status", "--data", data, id)
	if !strings.Contains(human, "uploaded") || !strings.Contains(human, "chunks durable") || !strings.Contains(human, "cost: ") {
		t.Errorf("status for humans: %q", human)
	}
	if ls := mustRun(t, "ls", "--data", data); !strings.Contains(ls, id) || !strings.Contains(ls, "in file ü.bin") {
		t.Errorf("ls: %q", ls)
	}

	// Without a daemon, a put without --wait registers the file and says so.
	in2, _ := writeRandom(t, 1000)
	r := run(t, "put", "--data", data, in2)
	if r.code != 0 || !strings.Contains(r.stderr, "no daemon runs") || !hexID.MatchString(strings.TrimSpace(r.stdout)) {
		t.Fatalf("put without daemon: %+v", r)
	}
	id2 := strings.TrimSpace(r.stdout)

	// With a daemon, the same commands go through it, and the file
	// registered earlier finishes uploading there.
	background(t, "daemon.log", "daemon", "--data", data)
	waitFile(t, socketPath(data), 30*time.Second)
	mustRun(t, "put", "--data", data, "--wait", in2)
	if st := statusJSON(t, data, id2); st.File.State != meta.FileUploaded {
		t.Fatalf("file put without a daemon: %s", st.File.State)
	}
	mustRun(t, "get", "--data", data, id, out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
		t.Fatal("get through the daemon wrote other bytes")
	}
}

// A get to stdout cannot rename a whole file into place, so a failed one
// must say so, and what it wrote must be the file's start, never a short
// file that looks whole: bench/compare.sh reads to /dev/null and counts on
// it. A chunk that cannot be read before anything went out gives the
// reason; a transfer that breaks off later exits non-zero, cut short.
func TestGetToStdoutFailsWhenCutShort(t *testing.T) {
	data, nf := startDevnet(t, 5)
	inB, _ := writeRandom(t, 1<<20)
	idB := strings.TrimSpace(mustRun(t, "put", "--data", data, "--redundancy", "1", "--wait", inB))
	inA, contentA := writeRandom(t, 16<<20)
	idA := strings.TrimSpace(mustRun(t, "put", "--data", data, "--redundancy", "2", "--wait", inA))
	// Without the chunk cache the puts filled, chunks come from providers.
	if err := os.RemoveAll(filepath.Join(data, "cache")); err != nil {
		t.Fatal(err)
	}
	background(t, "daemon.log", "daemon", "--data", data)
	waitFile(t, socketPath(data), 30*time.Second)
	kill := func(p networkProvider) {
		t.Helper()
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
	}

	// B's first chunk is lost (its only provider is gone): nothing is
	// written and the error names the cause.
	var holder string
	for _, cs := range statusJSON(t, data, idB).Chunks {
		for _, l := range cs.Links {
			if cs.Index == 0 && l.State == meta.LinkSigned {
				holder = l.Provider
			}
		}
	}
	i := slices.IndexFunc(nf.Providers, func(p networkProvider) bool { return p.PeerID == holder })
	if i < 0 {
		t.Fatalf("B's first chunk has no signed link at a devnet provider (%q)", holder)
	}
	kill(nf.Providers[i])
	r := run(t, "get", "--data", data, idB, "-")
	if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "no provider could serve") {
		t.Errorf("get of a file whose first chunk is lost: exit %d, %d bytes out, stderr %q", r.code, len(r.stdout), r.stderr)
	}

	// A (two links per chunk) reads despite that; its providers all die
	// once the first bytes are out. The reader stalls the transfer until
	// then: the daemon fetches only a few chunks ahead of what was taken.
	cmd := exec.Command(binary(t), "get", "--data", data, idA, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(out, head); err != nil {
		t.Fatalf("first bytes of A: %v (stderr %q)", err, stderr.String())
	}
	for _, p := range nf.Providers {
		kill(p)
	}
	rest, _ := io.ReadAll(out)
	got := append(head, rest...)
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("get exited 0 after writing %d of %d bytes", len(got), len(contentA))
	}
	if !strings.Contains(stderr.String(), "cut short") {
		t.Errorf("stderr %q does not say the transfer was cut short", stderr.String())
	}
	if len(got) >= len(contentA) || !bytes.HasPrefix(contentA, got) {
		t.Errorf("stdout: %d of %d bytes, a prefix of the file: %v", len(got), len(contentA), bytes.HasPrefix(contentA, got))
	}
}

func TestBadInputGivesOneLineErrors(t *testing.T) {
	data := t.TempDir()
	badKey := filepath.Join(t.TempDir(), "bad.key")
	otherKey := filepath.Join(t.TempDir(), "other.key")
	owned := t.TempDir() // a data dir with a key of its own
	for path, content := range map[string]string{
		badKey:                      "not a key\n",
		otherKey:                    strings.Repeat("ab", 32) + "\n",
		filepath.Join(owned, "key"): strings.Repeat("cd", 32) + "\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"get", "--data", data, "nothex", "out"}, 2, "not 64 hex"},
		{[]string{"put", "--data", data, filepath.Join(data, "missing")}, 1, "no such file"},
		{[]string{"put", "--data", data, "--redundancy", "-1", "x"}, 2, "redundancy"},
		{[]string{"status", "--data", data, filepath.Join(data, "nowhere")}, 1, "no such file"},
		{[]string{"devnet"}, 2, "--data"},
		{[]string{"mount", "--data", data, "--key", filepath.Join(data, "nokey"), data}, 1, "no such file"},
		{[]string{"mount", "--data", data, "--key", badKey, data}, 1, "not a hex secp256k1 key"},
		{[]string{"mount", "--data", owned, "--key", otherKey, data}, 1, "has another key already"},
		{[]string{"mount", "--data", data, "--root", "pointfs1:abc", data}, 1, "capability"},
		{[]string{"mount", "--data", data, "--root", "x", "--key", otherKey, data}, 2, "do not go together"},
		{[]string{"publish", data}, 1, "not in a pointfs mount"},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, r.code, r.stderr, c.code, c.msg)
		}
		if c.code == 1 && len(lines) != 1 {
			t.Errorf("%v: %d lines on stderr, want one: %q", c.args, len(lines), r.stderr)
		}
	}
}

// A data dir whose key file is gone, or is another key, is refused with a
// clear error, and no new key takes the old one's place: the links were
// sealed under keys derived from the old one.
func TestWrongKeyIsRefused(t *testing.T) {
	data := t.TempDir()
	mustRun(t, "status", "--data", data) // an engine runs once: the data dir is its key's
	keyPath := filepath.Join(data, "key")
	own, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "status", "--data", data); r.code != 1 || !strings.Contains(r.stderr, "key file is gone") {
		t.Errorf("status without the key file: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key file appeared in place of the lost one: %v", err)
	}
	if err := os.WriteFile(keyPath, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "status", "--data", data); r.code != 1 || !strings.Contains(r.stderr, "wrong key") {
		t.Errorf("status under another key: exit %d, stderr %q", r.code, r.stderr)
	}
	if err := os.WriteFile(keyPath, own, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "status", "--data", data)
}

func TestProviderKilledMidUpload(t *testing.T) {
	data, nf := startDevnet(t, 5)
	// Small in-flight windows make the upload last long enough to kill a
	// provider in the middle of it.
	cfg, err := loadConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InFlight = 1
	if err := saveJSON(configPath(data), cfg); err != nil {
		t.Fatal(err)
	}
	background(t, "daemon.log", "daemon", "--data", data)
	waitFile(t, socketPath(data), 30*time.Second)
	in, content := writeRandom(t, 20<<20)
	id := strings.TrimSpace(mustRun(t, "put", "--data", data, in))

	victim := nf.Providers[1]
	deadline := time.Now().Add(time.Minute)
	for {
		st := statusJSON(t, data, id)
		signedAtVictim := 0
		for _, cs := range st.Chunks {
			for _, l := range cs.Links {
				if l.Provider == victim.PeerID && l.State == meta.LinkSigned {
					signedAtVictim++
				}
			}
		}
		if signedAtVictim > 0 && st.Uploaded < st.Total/2 {
			break
		}
		if st.File.State == meta.FileUploaded || time.Now().After(deadline) {
			t.Fatalf("could not catch the upload in the middle (%d/%d)", st.Uploaded, st.Total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "put", "--data", data, "--wait", in) // same content: waits for the same file

	st := statusJSON(t, data, id)
	failedAtVictim := 0
	for _, cs := range st.Chunks {
		providers := map[string]bool{}
		for _, l := range cs.Links {
			switch {
			case l.State == meta.LinkSigned:
				providers[l.Provider] = true
			case l.Provider == victim.PeerID && l.State == meta.LinkFailed:
				failedAtVictim++
			}
		}
		if len(providers) < 3 {
			t.Errorf("chunk %d: signed links at %d providers, want 3", cs.Index, len(providers))
		}
	}
	if failedAtVictim == 0 {
		t.Error("no link failed at the killed provider: it was not killed mid-upload")
	}
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "get", "--data", data, id, out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content) {
		t.Fatal("content differs after the provider died")
	}
}
