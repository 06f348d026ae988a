package fs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
)

// PointNS is the namespace of the extended attributes pointfs computes.
const PointNS = "user.point."

// maxListedChunks bounds the chunk.<n> names listxattr returns (a listing
// must stay under the kernel's 64 KiB); every chunk.<n> is readable.
const maxListedChunks = 64

// maxXattrSize is the kernel's limit of one value.
const maxXattrSize = 64 << 10

const (
	xattrCreate  = 1 // XATTR_CREATE
	xattrReplace = 2 // XATTR_REPLACE
)

// snapshot is what the xattrs need of a node, read under its lock.
type snapshot struct {
	inSpool bool // the newest content is only in the spool (status created)
	file    meta.ID
	size    int64
	policy  meta.Policy
}

func (n *node) snap() (snapshot, bool, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := snapshot{
		inSpool: n.dirty || n.putting || n.m.Spooled || n.m.File.IsZero(),
		file:    n.m.File,
		size:    n.m.Size,
		policy:  n.m.Policy,
	}
	return s, n.m.Mode.IsDir(), n.m.Mode.IsRegular()
}

// statusErr turns an engine error on an xattr read into the errno: a file
// the engine no longer knows has no such attribute.
func statusErr(err error) error {
	if errors.Is(err, meta.ErrNotFound) {
		return fuse.ErrNoXattr
	}
	return Errno(err)
}

// Getxattr reads user.point.* from the engine and the tree, any other name
// from the node's record.
func (n *node) Getxattr(ctx context.Context, req *fuse.GetxattrRequest, resp *fuse.GetxattrResponse) error {
	if name, ok := strings.CutPrefix(req.Name, PointNS); ok {
		v, err := n.pointXattr(ctx, name)
		if err != nil {
			return err
		}
		resp.Xattr = []byte(v)
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.m.Xattrs[req.Name]
	if !ok {
		return fuse.ErrNoXattr
	}
	resp.Xattr = slices.Clone(v)
	return nil
}

func formatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (n *node) pointXattr(ctx context.Context, name string) (string, error) {
	s, dir, regular := n.snap()
	f := n.fs
	if dir {
		return f.dirXattr(ctx, n.ino, name, s)
	}
	if !regular {
		return "", fuse.ErrNoXattr
	}
	var st *FileStatus
	status := func() error {
		if st != nil {
			return nil
		}
		var err error
		st, err = f.eng.Status(ctx, s.file)
		return statusErr(err)
	}
	policy := func() (meta.Policy, error) {
		if s.inSpool {
			return f.putPolicy(s.policy), nil
		}
		if err := status(); err != nil {
			return meta.Policy{}, err
		}
		return st.File.Policy, nil
	}
	// A file in the spool has every attribute a put file has (so that a
	// listing does not change under a reader while the put completes):
	// no id yet, nothing uploaded.
	chunks := f.chunkCount(s.size)
	switch name {
	case "status":
		if s.inSpool {
			return meta.FileCreated.String(), nil
		}
		if err := status(); err != nil {
			return "", err
		}
		return st.File.State.String(), nil
	case "size":
		return strconv.FormatInt(s.size, 10), nil
	case "id":
		if s.inSpool {
			return "", nil
		}
		return s.file.String(), nil
	case "merkle_root":
		if s.inSpool {
			return "", nil
		}
		if err := status(); err != nil {
			return "", err
		}
		return st.File.Merkle.String(), nil
	case "chunks":
		if s.inSpool {
			return fmt.Sprintf("uploaded 0/%d", chunks+1), nil
		}
		if err := status(); err != nil {
			return "", err
		}
		return fmt.Sprintf("uploaded %d/%d", st.Uploaded, st.Total), nil
	case "cost":
		if s.inSpool && s.file.IsZero() {
			return "0", nil
		}
		c, err := f.eng.Cost(ctx, s.file)
		if err != nil {
			return "", statusErr(err)
		}
		return c.String(), nil
	case "redundancy", "expires", "autorenew":
		p, err := policy()
		if err != nil {
			return "", err
		}
		return formatPolicy(name, p), nil
	}
	if num, ok := strings.CutPrefix(name, "chunk."); ok {
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || strconv.Itoa(i) != num {
			return "", fuse.ErrNoXattr
		}
		if s.inSpool {
			if int64(i) >= chunks {
				return "", fuse.ErrNoXattr
			}
			p, _ := policy()
			return fmt.Sprintf("%s 0/%d", meta.ChunkCreated, p.Redundancy), nil
		}
		cs, err := f.eng.ChunkStatus(ctx, s.file, i)
		if err != nil {
			return "", statusErr(err)
		}
		return FormatChunk(cs, time.Now()), nil
	}
	return "", fuse.ErrNoXattr
}

// chunkCount is how many data chunks a file of size bytes has.
func (f *FS) chunkCount(size int64) int64 {
	cs := int64(f.cfg.ChunkSize)
	return (size + cs - 1) / cs
}

func formatPolicy(name string, p meta.Policy) string {
	switch name {
	case "redundancy":
		return strconv.Itoa(p.Redundancy)
	case "expires":
		return p.Expires.UTC().Format(time.RFC3339)
	case "autorenew":
		return formatBool(p.Autorenew)
	}
	return ""
}

// FormatChunk is the value of user.point.chunk.<n>: a first line with the
// chunk's state, its durable links over its redundancy and its id, then
// one line per storage link: provider peer id, link state, the pledge
// expiry of a signed link or the reason of a failed one, and the outcome of
// the link's last audit. "repairing" ends the first line while a chunk
// that lost a signed link gets a new one.
//
//	uploading 2/3 5f1c...e2 repairing
//	12D3KooW... signed 2025-01-31T10:00:00Z audit ok 2025-01-02T08:00:00Z
//	12D3KooW... failed (audit: ...) audit failed 2025-01-02T08:00:00Z
//	12D3KooW... sending_data
func FormatChunk(cs *ChunkStatus, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d/%d %s", cs.State, cs.Durable, cs.Redundancy, cs.ID)
	if cs.Repairing {
		b.WriteString(" repairing")
	}
	for _, l := range cs.Links {
		fmt.Fprintf(&b, "\n%s %s", l.Provider, l.State)
		switch {
		case l.State == meta.LinkSigned && !l.Expires.After(now):
			fmt.Fprintf(&b, " expired %s", l.Expires.UTC().Format(time.RFC3339))
		case l.State == meta.LinkSigned:
			fmt.Fprintf(&b, " %s", l.Expires.UTC().Format(time.RFC3339))
		case l.State == meta.LinkFailed && l.Error != "":
			fmt.Fprintf(&b, " (%s)", l.Error)
		}
		if a := l.LastAudit; a != nil {
			outcome := "ok"
			if !a.OK {
				outcome = "failed"
			}
			fmt.Fprintf(&b, " audit %s %s", outcome, a.At.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

// Aggregate counts the files of a subtree by state (user.point.status and
// user.point.pending of a directory).
type Aggregate struct {
	Files, Uploaded, Uploading, Created, Failed int
	// PendingChunks counts distinct chunks not yet durable (estimated
	// from the size for files still in the spool); PendingBytes the
	// sizes of the files not yet uploaded.
	PendingChunks int
	PendingBytes  int64
}

// Status is the subtree's aggregated state: failed if any file failed,
// uploaded if every file is, uploading while any is, else created.
func (a Aggregate) Status() string {
	switch {
	case a.Failed > 0:
		return meta.FileFailed.String()
	case a.Uploading == 0 && a.Created == 0:
		return meta.FileUploaded.String()
	case a.Uploading > 0:
		return meta.FileUploading.String()
	}
	return meta.FileCreated.String()
}

// Pending is the value of user.point.pending.
func (a Aggregate) Pending() string {
	return fmt.Sprintf("files=%d chunks=%d bytes=%d", a.Uploading+a.Created+a.Failed, a.PendingChunks, a.PendingBytes)
}

// aggregate walks the subtree under dir in one read transaction, then asks
// the engine for the state of every file put, all at once. A node in
// memory is read there rather than from the store: it is as new, and the
// store's record costs a lookup and a decoding per file.
func (f *FS) aggregate(ctx context.Context, dir meta.Inode) (Aggregate, error) {
	var a Aggregate
	var put []meta.ID
	cs := int64(f.cfg.ChunkSize)
	err := f.store.View(ctx, func(tx meta.Tx) error {
		a, put = Aggregate{}, put[:0]
		stack := []meta.Inode{dir}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			err := tx.ReadDir(d, func(_ string, ino meta.Inode) error {
				var mode os.FileMode
				var spooled bool
				var size int64
				var file meta.ID
				f.mu.Lock()
				n := f.nodes[ino]
				f.mu.Unlock()
				if n != nil {
					n.mu.Lock()
					mode, size, file = n.m.Mode, n.m.Size, n.m.File
					spooled = n.dirty || n.putting || n.m.File.IsZero()
					n.mu.Unlock()
				} else {
					m, err := tx.Node(ino)
					if errors.Is(err, meta.ErrNotFound) {
						return nil
					}
					if err != nil {
						return err
					}
					mode, size, file = m.Mode, m.Size, m.File
					spooled = m.Spooled || m.File.IsZero()
				}
				if mode.IsDir() {
					stack = append(stack, ino)
					return nil
				}
				if !mode.IsRegular() {
					return nil
				}
				a.Files++
				if spooled {
					a.Created++
					a.PendingChunks += int((size+cs-1)/cs) + 1
					a.PendingBytes += size
					return nil
				}
				put = append(put, file)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return a, err
	}
	briefs, err := f.eng.Briefs(ctx, put)
	if err != nil {
		return a, err
	}
	for _, b := range briefs {
		switch {
		case !b.Known:
			a.Failed++
			continue
		case b.State == meta.FileUploaded:
			a.Uploaded++
			continue
		case b.State == meta.FileFailed:
			a.Failed++
		default:
			a.Uploading++
		}
		a.PendingChunks += b.Pending
		a.PendingBytes += b.Size
	}
	return a, nil
}

func (f *FS) dirXattr(ctx context.Context, ino meta.Inode, name string, s snapshot) (string, error) {
	switch name {
	case "status", "pending":
		a, err := f.aggregate(ctx, ino)
		if err != nil {
			return "", Errno(err)
		}
		if name == "pending" {
			return a.Pending(), nil
		}
		st := a.Status()
		if ino == meta.RootInode && st == meta.FileUploaded.String() && f.tree.dirty() {
			// Every file is durable, but the tree that names them is
			// not published yet.
			st = meta.FileUploading.String()
		}
		return st, nil
	case "redundancy", "expires", "autorenew":
		return formatPolicy(name, f.putPolicy(s.policy)), nil
	case "id":
		id, ok := f.tree.dirID(ino)
		if !ok {
			return "", fuse.ErrNoXattr
		}
		return id.String(), nil
	case "seq":
		root, seq := f.Published()
		if ino != meta.RootInode || root.IsZero() {
			return "", fuse.ErrNoXattr
		}
		return strconv.FormatUint(seq, 10), nil
	}
	return "", fuse.ErrNoXattr
}

// Listxattr lists the node's own attributes and the user.point.* ones that
// apply to it.
func (n *node) Listxattr(ctx context.Context, req *fuse.ListxattrRequest, resp *fuse.ListxattrResponse) error {
	n.mu.Lock()
	own := slices.Sorted(maps.Keys(n.m.Xattrs))
	n.mu.Unlock()
	resp.Append(own...)
	s, dir, regular := n.snap()
	var names []string
	switch {
	case dir:
		names = []string{"status", "pending", "redundancy", "expires", "autorenew"}
		if _, ok := n.fs.tree.dirID(n.ino); ok {
			names = append(names, "id")
		}
		if root, _ := n.fs.Published(); n.ino == meta.RootInode && !root.IsZero() {
			names = append(names, "seq")
		}
	case regular:
		// The same names whether the file is still in the spool or put:
		// they depend on its size only.
		names = []string{"status", "size", "id", "merkle_root", "chunks", "cost", "redundancy", "expires", "autorenew"}
		for i := range min(n.fs.chunkCount(s.size), maxListedChunks) {
			names = append(names, "chunk."+strconv.FormatInt(i, 10))
		}
	}
	for _, name := range names {
		resp.Append(PointNS + name)
	}
	return nil
}

// Setxattr sets user.point.redundancy, expires and autorenew (on a file:
// for it and its current version in the engine; on a directory: for the
// files created in it afterwards), or stores any other attribute.
func (n *node) Setxattr(ctx context.Context, req *fuse.SetxattrRequest) error {
	if err := n.fs.writable(); err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(req.Name, PointNS); ok {
		return n.setPointXattr(ctx, name, string(req.Xattr))
	}
	if err := checkXattrName(req.Name); err != nil {
		return err
	}
	if len(req.Xattr) > maxXattrSize {
		return fuse.Errno(syscall.E2BIG)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, exists := n.m.Xattrs[req.Name]
	switch {
	case req.Flags&xattrCreate != 0 && exists:
		return fuse.Errno(syscall.EEXIST)
	case req.Flags&xattrReplace != 0 && !exists:
		return fuse.ErrNoXattr
	}
	old := n.m
	n.m.Xattrs = maps.Clone(old.Xattrs)
	if n.m.Xattrs == nil {
		n.m.Xattrs = make(map[string][]byte)
	}
	n.m.Xattrs[req.Name] = slices.Clone(req.Xattr)
	n.m.Ctime = time.Now()
	if err := n.persistLocked(ctx); err != nil {
		n.m = old
		return Errno(err)
	}
	return nil
}

// Removexattr removes a stored attribute. The computed user.point.* ones
// cannot be removed.
func (n *node) Removexattr(ctx context.Context, req *fuse.RemovexattrRequest) error {
	if err := n.fs.writable(); err != nil {
		return err
	}
	if strings.HasPrefix(req.Name, PointNS) {
		return fuse.Errno(syscall.ENOTSUP)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.m.Xattrs[req.Name]; !ok {
		return fuse.ErrNoXattr
	}
	old := n.m
	n.m.Xattrs = maps.Clone(old.Xattrs)
	delete(n.m.Xattrs, req.Name)
	n.m.Ctime = time.Now()
	if err := n.persistLocked(ctx); err != nil {
		n.m = old
		return Errno(err)
	}
	return nil
}

func checkXattrName(name string) error {
	switch {
	case len(name) > 255:
		return fuse.Errno(syscall.ERANGE)
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "trusted."), strings.HasPrefix(name, "security."):
		return nil
	}
	// system.* (ACLs) would promise semantics the mount does not enforce.
	return fuse.Errno(syscall.ENOTSUP)
}

// ParseExpiry reads a user.point.expires value: RFC 3339, a date
// (YYYY-MM-DD, midnight UTC), unix seconds, or "+DURATION" from now (Go
// duration, and "d" for days: "+30d").
func ParseExpiry(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if rel, ok := strings.CutPrefix(v, "+"); ok {
		if days, ok := strings.CutSuffix(rel, "d"); ok {
			d, err := strconv.Atoi(days)
			if err != nil || d <= 0 {
				return time.Time{}, fmt.Errorf("%w: expiry %q", meta.ErrInvalid, v)
			}
			return now.Add(time.Duration(d) * 24 * time.Hour).Truncate(time.Second), nil
		}
		d, err := time.ParseDuration(rel)
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("%w: expiry %q", meta.ErrInvalid, v)
		}
		return now.Add(d).Truncate(time.Second), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.Truncate(time.Second), nil
		}
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(s, 0), nil
	}
	return time.Time{}, fmt.Errorf("%w: expiry %q (want RFC 3339, YYYY-MM-DD, unix seconds or +30d)", meta.ErrInvalid, v)
}

// ParseBool reads a user.point.autorenew value.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean", meta.ErrInvalid, v)
}

// maxRedundancy bounds what setfattr may ask (and a snapshot can keep).
const maxRedundancy = chunkinfo.MaxRedundancy

func (n *node) setPointXattr(ctx context.Context, name, value string) error {
	var change func(*meta.Policy)
	switch name {
	case "redundancy":
		r, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || r < 1 || r > maxRedundancy {
			return fuse.Errno(syscall.EINVAL)
		}
		change = func(p *meta.Policy) { p.Redundancy = r }
	case "expires":
		t, err := ParseExpiry(value, time.Now())
		if err != nil || !t.After(time.Now()) {
			return fuse.Errno(syscall.EINVAL)
		}
		change = func(p *meta.Policy) { p.Expires = t }
	case "autorenew":
		b, err := ParseBool(value)
		if err != nil {
			return fuse.Errno(syscall.EINVAL)
		}
		change = func(p *meta.Policy) { p.Autorenew = b }
	default:
		// The others are computed: they cannot be set (ENOTSUP, which
		// cp -a and rsync -X skip quietly).
		return fuse.Errno(syscall.ENOTSUP)
	}
	n.mu.Lock()
	if !n.m.Mode.IsDir() && !n.m.Mode.IsRegular() {
		n.mu.Unlock()
		return fuse.Errno(syscall.ENOTSUP)
	}
	old := n.m
	change(&n.m.Policy)
	n.m.Ctime = time.Now()
	if err := n.persistLocked(ctx); err != nil {
		n.m = old
		n.mu.Unlock()
		return Errno(err)
	}
	n.polVersion++
	apply := n.m.Mode.IsRegular() && !n.dirty && !n.putting && !n.m.File.IsZero()
	n.mu.Unlock()
	n.fs.tree.changed() // snapshots keep policies
	if apply {
		return Errno(n.fs.applyPolicy(ctx, n))
	}
	return nil
}

// applyPolicy makes the engine ask of n's current version what n's policy
// says (its explicit values; the version keeps its own for the others).
func (f *FS) applyPolicy(ctx context.Context, n *node) error {
	n.mu.Lock()
	id, np := n.m.File, n.m.Policy
	n.mu.Unlock()
	if id.IsZero() {
		return nil
	}
	st, err := f.eng.Status(ctx, id)
	if err != nil {
		return err
	}
	pol := st.File.Policy
	if np.Redundancy > 0 {
		pol.Redundancy = np.Redundancy
	}
	if !np.Expires.IsZero() {
		pol.Expires = np.Expires
	}
	pol.Autorenew = np.Autorenew
	if pol.Redundancy == st.File.Policy.Redundancy && pol.Expires.Equal(st.File.Policy.Expires) &&
		pol.Autorenew == st.File.Policy.Autorenew {
		return nil
	}
	if !pol.Autorenew && !pol.Expires.After(time.Now()) {
		// The version's term has ended and nothing renews it: there is
		// nothing to change on the network (the engine refuses a passed
		// expiry). The node keeps what was set: the next version is put
		// with it, and an expiry in the future applies it all.
		return nil
	}
	return f.eng.SetPolicy(ctx, id, pol)
}
