package meta

import (
	"context"
	"os"
	"time"
)

// Store persists every record of a data dir. A state change is one call of
// Update, so a crash leaves either the state before it or the state after it.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it; on a
	// conflict with a concurrent transaction it runs fn again.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction of a Store. Getters return ErrNotFound for a
// missing record. Records returned are copies the caller may change.
type Tx interface {
	// File returns a file's record without its chunk list (Chunks is nil):
	// the list of a large file is big and most callers do not need it.
	File(id ID) (*File, error)
	// FileChunks returns a file's chunk list.
	FileChunks(id ID) ([]ID, error)
	// PutFile stores f; its chunk list too when f.Chunks is not nil.
	PutFile(f *File) error
	DeleteFile(id ID) error
	// Files calls fn for every file, in id order.
	Files(fn func(*File) error) error

	Chunk(id ID) (*Chunk, error)
	// PutChunk stores c and keeps the in-flight index in step with c.State.
	PutChunk(c *Chunk) error
	DeleteChunk(id ID) error
	// Uploading calls fn for every chunk in ChunkUploading. It reads the
	// in-flight index only: its cost grows with active work, not with
	// everything stored.
	Uploading(fn func(ID) error) error

	// AddChunkRef records that file uses chunk; RemoveChunkRef undoes it.
	AddChunkRef(chunk, file ID) error
	RemoveChunkRef(chunk, file ID) error
	// ChunkFiles lists the files that use chunk.
	ChunkFiles(chunk ID) ([]ID, error)

	Link(chunk ID, id LinkID) (*Link, error)
	// Links returns the links of a chunk, failed ones included.
	Links(chunk ID) ([]*Link, error)
	// PutLink stores l and keeps two due-time indexes of signed links in
	// step: by NextAudit and by Expires.
	PutLink(l *Link) error
	DeleteLink(chunk ID, id LinkID) error
	// AuditsDue and Expiring call fn, earliest first, for signed links whose
	// NextAudit (resp. Expires) is at or before t, at most limit of them.
	// They read the due-time indexes, not every link: a round's cost is the
	// number of links due. Entries may be stale (fn re-reads the link).
	AuditsDue(t time.Time, limit int, fn func(chunk ID, link LinkID) error) error
	Expiring(t time.Time, limit int, fn func(chunk ID, link LinkID) error) error

	Node(ino Inode) (*Node, error)
	PutNode(n *Node) error
	DeleteNode(ino Inode) error
	// Lookup returns the inode of name in directory parent.
	Lookup(parent Inode, name string) (Inode, error)
	PutDirent(parent Inode, name string, ino Inode) error
	DeleteDirent(parent Inode, name string) error
	// ReadDir calls fn for each entry of parent, in name order.
	ReadDir(parent Inode, fn func(name string, ino Inode) error) error

	// Get, Put and Delete keep small named values (settings, counters,
	// lists kept one entry per key); Scan calls fn for every name with the
	// given prefix, in name order.
	Get(key string) ([]byte, error)
	Put(key string, value []byte) error
	Delete(key string) error
	Scan(prefix string, fn func(key string, value []byte) error) error
}

// Inode numbers a node of the mounted tree. Nodes are keyed by inode, not by
// path, so a file that is open and unlinked keeps working.
type Inode uint64

// RootInode is the mount's root directory.
const RootInode Inode = 1

// Node is a file, directory or symlink of the mounted tree.
type Node struct {
	Inode  Inode       `json:"ino"`
	Mode   os.FileMode `json:"mode"`
	UID    uint32      `json:"uid"`
	GID    uint32      `json:"gid"`
	Nlink  uint32      `json:"nlink"`
	Size   int64       `json:"size"`
	Atime  time.Time   `json:"atime"`
	Mtime  time.Time   `json:"mtime"`
	Ctime  time.Time   `json:"ctime"`
	Target string      `json:"target,omitempty"` // symlink target
	// File is the content's file id once it was put into the network; zero
	// while the content exists only in the local spool.
	File ID `json:"file,omitempty"`
	// Spooled means the spool holds content newer than File.
	Spooled bool `json:"spooled,omitempty"`
	// Policy is the node's own storage policy (redundancy, expiry,
	// autorenew), applied to every version put.
	Policy Policy `json:"policy"`
	// Xattrs holds extended attributes other than user.point.*.
	Xattrs map[string][]byte `json:"xattrs,omitempty"`
}
