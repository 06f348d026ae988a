package fs

import (
	"context"
	"io"
	"math/big"

	"github.com/pointfs/pointfs/meta"
)

// Engine is what the mount needs of the storage engine (upload.Engine, seen
// through a thin adapter in cmd/pointfs). Keeping it an interface lets the
// tree, the spool and the xattrs be tested without a network.
type Engine interface {
	// Put chunkifies r, registers it for upload with pol (nil: defaults)
	// and returns its file id. Every Put adds one reference to the id,
	// whether the content was new or not.
	Put(ctx context.Context, r io.Reader, name string, pol *meta.Policy) (meta.ID, error)
	// Release drops one reference that Put or Adopt added.
	Release(ctx context.Context, id meta.ID) error
	// Adopt adds one reference to file id, which the network holds but
	// this engine may not know yet: it fetches and checks its chunkinfo
	// and records the file with pol (nil: defaults), as Put records a
	// file it chunkified (Restore adopts every file and directory of a
	// tree it restores, with the policy the snapshot kept).
	Adopt(ctx context.Context, id meta.ID, pol *meta.Policy) error
	// ReadAt reads verified bytes of file id (io.EOF past its end).
	ReadAt(ctx context.Context, id meta.ID, p []byte, off int64) (int, error)
	// Get writes all of file id to w, verified.
	Get(ctx context.Context, id meta.ID, w io.Writer) error
	Status(ctx context.Context, id meta.ID) (*FileStatus, error)
	// Briefs returns the state of each file in ids, in order: what the
	// status of a directory counts, for all its files at once.
	Briefs(ctx context.Context, ids []meta.ID) ([]FileBrief, error)
	ChunkStatus(ctx context.Context, id meta.ID, n int) (*ChunkStatus, error)
	SetPolicy(ctx context.Context, id meta.ID, pol meta.Policy) error
	DefaultPolicy() meta.Policy
	// Cost is what was paid to providers for file id, in wei.
	Cost(ctx context.Context, id meta.ID) (*big.Int, error)
}

// FileStatus is a file's header and how many of its distinct chunks are
// durable.
type FileStatus struct {
	File     *meta.File
	Uploaded int
	Total    int
}

// FileBrief is a file's state and how much of it is still to upload. Its
// fields are those of upload.Brief, so one converts to the other.
type FileBrief struct {
	Known   bool // false: the engine has no such file
	State   meta.FileState
	Size    int64
	Pending int // distinct chunks not durable yet
}

// ChunkStatus is one chunk of a file with its storage links. Its fields are
// those of upload.ChunkStatus, so one converts to the other.
type ChunkStatus struct {
	Index      int             `json:"index"`
	ID         meta.ID         `json:"id"`
	State      meta.ChunkState `json:"state"`
	Redundancy int             `json:"redundancy"`
	Durable    int             `json:"durable"`
	Repairing  bool            `json:"repairing,omitempty"`
	Links      []*meta.Link    `json:"links"`
}
