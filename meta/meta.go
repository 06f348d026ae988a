// Package meta is the vocabulary of pointfs: content ids, the File, Chunk and
// StorageLink records with their states, pledges, the filesystem tree's nodes,
// the Store interface that persists all of them, and the errors every layer
// shares. It has almost no dependencies so that every other package can
// import it; the badger implementation lives in meta/badgerdb and the Merkle
// construction in meta/merkle.
package meta

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Sizes used when nothing else is configured (DESIGN §1, §3).
const (
	DefaultChunkSize   = 256 << 10
	DefaultSegmentSize = 16 << 10
	DefaultRedundancy  = 3
	DefaultExpiry      = 30 * 24 * time.Hour
)

// Errors shared by every layer. Callers test them with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrInvalid        = errors.New("invalid argument")
	ErrCorrupt        = errors.New("data failed verification")
	ErrNoProviders    = errors.New("no suitable provider")
	ErrUnavailable    = errors.New("no provider could serve the data")
	ErrNoSpace        = errors.New("no space left")
	ErrClosed         = errors.New("closed")
	ErrAlreadyStored  = errors.New("ECHUNKALREADYSTORED")
	ErrDeclined       = errors.New("provider declined")
	ErrBadPledge      = errors.New("pledge does not verify")
	ErrNotEmpty       = errors.New("directory not empty")
	ErrNotDir         = errors.New("not a directory")
	ErrIsDir          = errors.New("is a directory")
	ErrReadOnly       = errors.New("read-only")
	ErrTooLarge       = errors.New("too large")
	ErrDaemonNotFound = errors.New("no daemon runs for this data dir")
	ErrWrongKey       = errors.New("wrong key")
)

// ID is a 32-byte content identifier: a chunk id (keccak256 of the chunk's
// plaintext), a file id (keccak256 of its chunkinfo) or a link root (the
// Merkle root of a sealed replica's segments). In text it is lowercase hex.
type ID [32]byte

// String returns the lowercase hex form of id, without a 0x prefix.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeroes (the "no id" value).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes id as lowercase hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex id, with or without 0x.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses 64 hex digits (an optional 0x prefix is accepted).
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	if len(s) != 64 {
		return id, fmt.Errorf("%w: id %q is not 64 hex digits", ErrInvalid, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: id %q: %v", ErrInvalid, s, err)
	}
	return id, nil
}

// IDList is a list of ids that JSON keeps as one hex string: a link's
// segment hashes are read on every reconsider, and one string decodes
// several times faster than an array of them.
type IDList []ID

// MarshalJSON writes the ids as one string of concatenated hex.
func (l IDList) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+64*len(l))
	b = append(b, '"')
	for _, id := range l {
		b = hex.AppendEncode(b, id[:])
	}
	return append(b, '"'), nil
}

// UnmarshalJSON reads what MarshalJSON writes, and also an array of hex
// ids (how records kept []ID before they used IDList).
func (l *IDList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var ids []ID
		if err := json.Unmarshal(b, &ids); err != nil {
			return fmt.Errorf("%w: id list: %v", ErrInvalid, err)
		}
		*l = ids
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || (len(b)-2)%64 != 0 {
		return fmt.Errorf("%w: id list", ErrInvalid)
	}
	b = b[1 : len(b)-1]
	out := make(IDList, len(b)/64)
	for i := range out {
		if _, err := hex.Decode(out[i][:], b[i*64:(i+1)*64]); err != nil {
			return fmt.Errorf("%w: id list: %v", ErrInvalid, err)
		}
	}
	*l = out
	return nil
}

// LinkID is the random nonce that names a storage link. It is what the
// client tells the provider in STORE_CHUNK_REQUEST (never the chunk id,
// which would let a provider confirm guessed content) and an input of the
// link's sealing key.
type LinkID [16]byte

// NewLinkID returns a fresh random link id.
func NewLinkID() LinkID {
	var l LinkID
	if _, err := rand.Read(l[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return l
}

// String returns the hex form of l.
func (l LinkID) String() string { return hex.EncodeToString(l[:]) }

// MarshalText encodes l as hex.
func (l LinkID) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText decodes a hex link id.
func (l *LinkID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("%w: link id %q", ErrInvalid, b)
	}
	_, err := hex.Decode(l[:], b)
	return err
}

// Policy is what a file asks of the network (DESIGN §1).
type Policy struct {
	Redundancy int       `json:"redundancy"` // signed links per chunk
	Expires    time.Time `json:"expires"`    // absolute end of the pledges
	Autorenew  bool      `json:"autorenew"`
}

// DefaultPolicy returns the defaults of DESIGN §1 measured from now.
func DefaultPolicy(now time.Time) Policy {
	return Policy{Redundancy: DefaultRedundancy, Expires: now.Add(DefaultExpiry), Autorenew: true}
}

// File is a byte sequence put into the network. Its id is the keccak256 of
// its chunkinfo, which is itself stored as a chunk (InfoChunk == ID).
type File struct {
	ID        ID        `json:"id"`
	Size      int64     `json:"size"`
	ChunkSize int       `json:"chunk_size"`
	Chunks    []ID      `json:"chunks,omitempty"` // data chunks in order (may repeat); see Tx.FileChunks
	Merkle    ID        `json:"merkle"`           // root of the chunk Merkle tree
	Policy    Policy    `json:"policy"`
	State     FileState `json:"state"`
	// Pending counts the distinct chunks (the chunkinfo chunk included) not
	// yet uploaded; the file is uploaded when it reaches zero.
	Pending int `json:"pending"`
	// Refs counts the puts and tree nodes that hold this file; Release
	// drops one and the file goes with the last.
	Refs int `json:"refs"`
	// Distinct is the number of distinct chunks (chunkinfo included).
	Distinct int       `json:"distinct"`
	Created  time.Time `json:"created"`
	Name     string    `json:"name,omitempty"` // what the user called it, for ls
}

// DistinctChunks returns the chunk ids the file depends on, each once: the
// data chunks and the chunkinfo chunk (the file id itself).
func (f *File) DistinctChunks() []ID {
	seen := make(map[ID]struct{}, len(f.Chunks)+1)
	out := make([]ID, 0, len(f.Chunks)+1)
	for _, c := range append([]ID{f.ID}, f.Chunks...) {
		if _, ok := seen[c]; ok {
			continue
		}
		seen[c] = struct{}{}
		out = append(out, c)
	}
	return out
}

// Chunk is a piece of one or more files, keyed by its content id.
type Chunk struct {
	ID         ID         `json:"id"`
	Size       int        `json:"size"`
	State      ChunkState `json:"state"`
	Redundancy int        `json:"redundancy"` // highest any referencing file asks
	Expires    time.Time  `json:"expires"`    // latest any referencing file asks
	Refs       int        `json:"refs"`       // files referencing it
	Autorenew  bool       `json:"autorenew"`  // some referencing file asks to renew
}

// SegmentProgress is the client's bookkeeping of one segment being sent.
type SegmentProgress struct {
	SentAt int64 `json:"sent_at,omitempty"` // unix nanoseconds of the last send
	Tries  int   `json:"tries,omitempty"`
	Acked  bool  `json:"acked,omitempty"`
}

// Pledge is a provider's signed receipt (DESIGN §4): an EIP-191 signature by
// the provider's key over (client address, link root, sealed length, expiry).
type Pledge struct {
	Provider  common.Address `json:"provider"`
	Client    common.Address `json:"client"`
	Root      ID             `json:"root"`
	Length    int64          `json:"length"`
	Expires   int64          `json:"expires"` // unix seconds
	Signature []byte         `json:"signature"`
}

// Link is one chunk placed with one provider (a "storage link").
type Link struct {
	ID       LinkID         `json:"id"`
	Chunk    ID             `json:"chunk"`
	Provider string         `json:"provider"` // libp2p peer id
	Address  common.Address `json:"address"`  // provider's Ethereum address
	State    LinkState      `json:"state"`
	Error    string         `json:"error,omitempty"` // why it failed

	SegmentSize int    `json:"segment_size"`
	SegmentHash string `json:"segment_hash"` // hash of the segment tree, e.g. "blake3"
	SealedLen   int64  `json:"sealed_len"`
	Root        ID     `json:"root"`               // provider-side chunk id
	Segments    IDList `json:"segments,omitempty"` // segment hashes (leaves)
	// Key is the link key of a link in someone else's tree, read through
	// a share (it came in the share's tag). Our own links have none: their
	// keys derive from the master secret (DESIGN §3) and are never stored.
	Key []byte `json:"key,omitempty"`
	// Progress is per-segment bookkeeping while data is being sent; it is
	// dropped once every segment is acknowledged (Retransmits keeps the
	// count of segments sent more than once).
	Progress    []SegmentProgress `json:"progress,omitempty"`
	Retransmits int               `json:"retransmits,omitempty"`
	// Rewinds counts the times the link went back to its segment map
	// because the provider lost state; bounded by the engine.
	Rewinds int `json:"rewinds,omitempty"`

	Expires time.Time `json:"expires"`
	Price   string    `json:"price,omitempty"` // wei, decimal: what the link costs
	// Rate is the provider's price per byte per day from its OFFER (wei,
	// decimal), the one STORE_CHUNK_REQUEST offers; Price is Rate × sealed
	// length × days.
	Rate   string  `json:"rate,omitempty"`
	Pledge *Pledge `json:"pledge,omitempty"`
	// Payments are the micropayments made for the link once signed (and
	// for each renewal), DESIGN §5.
	Payments []Payment `json:"payments,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`

	// NextAudit is when the link is next challenged (signed links only);
	// LastAudit is the outcome of the latest challenge.
	NextAudit    time.Time `json:"next_audit,omitempty"`
	LastAudit    *Audit    `json:"last_audit,omitempty"`
	AuditsPassed int       `json:"audits_passed,omitempty"`
	Renewals     int       `json:"renewals,omitempty"`
}

// Payment is one micropayment for a link (SEND_MICROPAYMENT_FOR_CHUNK): the
// voucher on the client's channel to the provider whose cumulative total
// first included Amount. A later voucher's higher total covers it too.
type Payment struct {
	Channel    uint64 `json:"channel"`
	Amount     string `json:"amount"`          // wei, decimal
	Cumulative string `json:"cumulative"`      // wei, decimal: the voucher's total
	Acked      bool   `json:"acked,omitempty"` // the provider holds a voucher that covers it
	Error      string `json:"error,omitempty"` // why it is not acknowledged yet
}

// Audit is the outcome of one challenge of a link.
type Audit struct {
	At      time.Time `json:"at"`
	Segment int       `json:"segment"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
}

// Live reports whether the link counts, or may yet count, toward its
// chunk's redundancy: it has not failed and its pledge (if any) has not
// expired at now.
func (l *Link) Live(now time.Time) bool {
	if l.State == LinkFailed {
		return false
	}
	return l.State != LinkSigned || l.Expires.After(now)
}

// Durable reports whether the link is signed and its pledge still holds.
func (l *Link) Durable(now time.Time) bool {
	return l.State == LinkSigned && l.Expires.After(now)
}
