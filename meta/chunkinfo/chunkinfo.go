// Package chunkinfo encodes and decodes the JSON documents that describe a
// file or a directory in the Point storage format (DESIGN §2).
//
// A file's chunkinfo is
//
//	{"type":"file","chunks":[ids],"hash":"keccak256","filesize":N,"merkle":[tree]}
//
// with the keys in exactly that order, ids as lowercase hex without 0x, no
// spaces, and "merkle" the whole keccak256 Merkle tree over the chunk ids,
// leaves first and root last (meta/merkle). The file id is the keccak256 of
// those bytes, so the encoding must be byte-exact: it is what JavaScript's
// JSON.stringify makes of the same object, and the tests pin vectors
// computed that way. A directory is stored the same way as
//
//	{"type":"dir","files":[{"type":"fileptr"|"dirptr","name":..,"size":..,"id":..}]}
//
// pointfs adds three optional keys to an entry, after "id" and in this
// order, each written only when it is not zero, so that entries without
// them are exactly the original format: "mode" (the Unix permission,
// set-user-id, set-group-id and sticky bits as a number), "mtime" (unix
// nanoseconds) and "target" (the target of an entry of type "symlink").
//
// Decoding is strict: it accepts only the canonical bytes Encode* produces
// (anything else is meta.ErrCorrupt), so that the id of decoded content is
// always the hash of re-encoding it.
//
// A file of no chunks has, by meta/merkle's definition, the one-node tree
// [keccak256 of nothing]; the original node would have written "merkle":[].
package chunkinfo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// Values of the "type" and "hash" fields.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeFilePtr = "fileptr" // a directory entry naming a file
	TypeDirPtr  = "dirptr"  // a directory entry naming a directory
	TypeSymlink = "symlink" // a directory entry that is a symbolic link
	HashName    = merkle.HashKeccak256
)

// File is the content of a chunkinfo of type "file".
type File struct {
	Chunks []meta.ID // the data chunks in order; ids may repeat
	Size   int64     // the file's length in bytes
}

// Encode returns f's chunkinfo bytes (see EncodeFile).
func (f File) Encode() []byte { return EncodeFile(f.Chunks, f.Size) }

// ID returns f's file id (see FileID).
func (f File) ID() meta.ID { return FileID(f.Chunks, f.Size) }

const (
	fileHead   = `{"type":"file","chunks":[`
	fileMiddle = `],"hash":"keccak256","filesize":`
	fileMerkle = `,"merkle":[`
	fileTail   = `]}`
	hexLen     = 2 * len(meta.ID{})
	quotedLen  = hexLen + 3 // "…", and a comma or the closing bracket
)

// EncodeFile returns the chunkinfo of a file of size bytes made of chunks.
// size must not be negative (DecodeFile refuses it).
// It is written by hand, not by encoding/json, because a large file has tens
// of thousands of chunks and the output size is known in advance.
func EncodeFile(chunks []meta.ID, size int64) []byte {
	tree := merkle.Tree(chunks)
	n := len(fileHead) + len(fileMiddle) + 20 + len(fileMerkle) + len(fileTail) +
		(len(chunks)+len(tree))*quotedLen
	b := make([]byte, 0, n)
	b = append(b, fileHead...)
	b = appendIDs(b, chunks)
	b = append(b, fileMiddle...)
	b = strconv.AppendInt(b, size, 10)
	b = append(b, fileMerkle...)
	b = appendIDs(b, tree)
	return append(b, fileTail...)
}

// FileID returns the id of the file of size bytes made of chunks: the
// keccak256 of its chunkinfo.
func FileID(chunks []meta.ID, size int64) meta.ID {
	return merkle.Keccak256(EncodeFile(chunks, size))
}

func appendIDs(b []byte, ids []meta.ID) []byte {
	for i := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, ids[i][:])
		b = append(b, '"')
	}
	return b
}

// DecodeFile parses a file chunkinfo. Any departure from the canonical form
// EncodeFile writes (other type or hash name, key order, spacing, hex case,
// a negative or malformed size, a merkle array that is not the tree of the
// chunks) is an error wrapping meta.ErrCorrupt.
func DecodeFile(b []byte) (chunks []meta.ID, size int64, err error) {
	p := parser{b: b}
	if !p.lit(fileHead) {
		return nil, 0, p.fail("not a file chunkinfo")
	}
	if chunks, err = p.ids(); err != nil {
		return nil, 0, err
	}
	if !p.lit(fileMiddle) {
		return nil, 0, p.fail(`expected "hash":"keccak256","filesize"`)
	}
	if size, err = p.int(); err != nil {
		return nil, 0, err
	}
	if !p.lit(fileMerkle) {
		return nil, 0, p.fail(`expected "merkle"`)
	}
	tree, err := p.ids()
	if err != nil {
		return nil, 0, err
	}
	if !p.lit(fileTail) || p.i != len(b) {
		return nil, 0, p.fail("trailing bytes")
	}
	want := merkle.Tree(chunks)
	if len(tree) != len(want) {
		return nil, 0, fmt.Errorf("%w: chunkinfo merkle has %d nodes, %d chunks need %d",
			meta.ErrCorrupt, len(tree), len(chunks), len(want))
	}
	for i := range want {
		if tree[i] != want[i] {
			return nil, 0, fmt.Errorf("%w: chunkinfo merkle node %d is %s, want %s",
				meta.ErrCorrupt, i, tree[i], want[i])
		}
	}
	return chunks, size, nil
}

// parser reads the canonical file chunkinfo byte by byte: faster than
// encoding/json on 40,000 ids and strict by construction.
type parser struct {
	b []byte
	i int
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("%w: chunkinfo at byte %d: %s", meta.ErrCorrupt, p.i, what)
}

func (p *parser) lit(s string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return false
	}
	p.i += len(s)
	return true
}

// ids reads `"hex","hex",...` up to (not including) the closing bracket.
func (p *parser) ids() ([]meta.ID, error) {
	if p.i < len(p.b) && p.b[p.i] == ']' {
		return nil, nil
	}
	// Ids hold no ']', so the array ends at the first one: size it once.
	end := bytes.IndexByte(p.b[p.i:], ']')
	if end < 0 {
		return nil, p.fail("unterminated array")
	}
	out := make([]meta.ID, 0, (end+1)/quotedLen)
	for {
		if len(p.b)-p.i < hexLen+2 || p.b[p.i] != '"' || p.b[p.i+hexLen+1] != '"' {
			return nil, p.fail("expected a quoted id")
		}
		var id meta.ID
		h := p.b[p.i+1 : p.i+1+hexLen]
		if _, err := hex.Decode(id[:], h); err != nil || !isLowerHex(h) {
			return nil, p.fail("id is not lowercase hex")
		}
		out = append(out, id)
		p.i += hexLen + 2
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		return out, nil
	}
}

func isLowerHex(h []byte) bool {
	for _, c := range h {
		if 'A' <= c && c <= 'F' {
			return false
		}
	}
	return true
}

// int reads a non-negative decimal integer without leading zeros.
func (p *parser) int() (int64, error) {
	j := p.i
	for j < len(p.b) && '0' <= p.b[j] && p.b[j] <= '9' {
		j++
	}
	digits := p.b[p.i:j]
	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		return 0, p.fail("malformed size")
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, p.fail("size out of range")
	}
	p.i = j
	return v, nil
}

// DirEntry is one entry of a directory chunkinfo.
type DirEntry struct {
	Type string  `json:"type"` // TypeFilePtr, TypeDirPtr or TypeSymlink
	Name string  `json:"name"` // one path element
	Size int64   `json:"size"` // the file's size; for a directory, what its writer put there
	ID   meta.ID `json:"id"`   // the file id or the directory's id; zero for a symlink
	// Mode is the Unix permission, set-user-id, set-group-id and sticky
	// bits (at most 0o7777); zero when not recorded.
	Mode uint32 `json:"mode,omitempty"`
	// Mtime is the modification time in unix nanoseconds; zero when not
	// recorded.
	Mtime int64 `json:"mtime,omitempty"`
	// Target is a symlink's target (TypeSymlink only).
	Target string `json:"target,omitempty"`
	// The storage policy of a file or directory when it is not the
	// default (a directory's is what its new entries inherit):
	// Redundancy (signed links per chunk, at most MaxRedundancy; zero
	// for the default), Expires (unix seconds; zero for the default) and
	// NoRenew (autorenew off). Absent, an entry has the defaults.
	Redundancy int   `json:"redundancy,omitempty"`
	Expires    int64 `json:"expires,omitempty"`
	NoRenew    bool  `json:"norenew,omitempty"`
}

// Limits of an entry's optional fields.
const (
	MaxMode       = 0o7777 // permission bits, set-user-id, set-group-id, sticky
	MaxTarget     = 4096   // bytes of a symlink target (PATH_MAX)
	MaxRedundancy = 64     // signed links per chunk a policy may ask
)

// EncodeDir returns the directory chunkinfo listing entries, in the order
// given. Each entry's keys are type, name, size, id, then mode, mtime and
// target, each of these three only when not zero. Strings are escaped as
// JSON.stringify escapes them: `"` and `\` with a backslash, \b \f \n \r
// \t by name, other control characters as \u00XX, everything else (U+2028,
// U+2029 and DEL included) as is. A string that is not valid UTF-8 cannot
// be represented (JavaScript strings cannot hold it): each invalid byte
// becomes U+FFFD, as with encoding/json. Use CheckDir before encoding to
// refuse such entries instead.
func EncodeDir(entries []DirEntry) []byte {
	b := make([]byte, 0, 32+len(entries)*(len(`{"type":"fileptr","name":"","size":,"id":""},`)+hexLen+30))
	b = append(b, `{"type":"dir","files":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = appendJSONString(b, e.Type)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, e.Name)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
		b = append(b, `,"id":"`...)
		b = hex.AppendEncode(b, e.ID[:])
		b = append(b, '"')
		if e.Mode != 0 {
			b = append(b, `,"mode":`...)
			b = strconv.AppendUint(b, uint64(e.Mode), 10)
		}
		if e.Mtime != 0 {
			b = append(b, `,"mtime":`...)
			b = strconv.AppendInt(b, e.Mtime, 10)
		}
		if e.Target != "" {
			b = append(b, `,"target":`...)
			b = appendJSONString(b, e.Target)
		}
		if e.Redundancy != 0 {
			b = append(b, `,"redundancy":`...)
			b = strconv.AppendInt(b, int64(e.Redundancy), 10)
		}
		if e.Expires != 0 {
			b = append(b, `,"expires":`...)
			b = strconv.AppendInt(b, e.Expires, 10)
		}
		if e.NoRenew {
			b = append(b, `,"norenew":true`...)
		}
		b = append(b, '}')
	}
	return append(b, `]}`...)
}

// appendJSONString appends s as JSON.stringify would quote it.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}

// CheckDir reports whether entries make a directory pointfs can serve:
// every type is fileptr, dirptr or symlink, every name is valid UTF-8, not
// empty, not "." or "..", and holds no '/' or NUL, no name repeats, no size
// is negative, and no mode has bits above MaxMode. A symlink has a target
// (valid UTF-8, at most MaxTarget bytes, no NUL), a zero id and the
// target's length as its size; other entries have no target. The error
// wraps meta.ErrInvalid.
func CheckDir(entries []DirEntry) error {
	seen := make(map[string]struct{}, len(entries))
	for i, e := range entries {
		if err := CheckEntry(e); err != nil {
			return fmt.Errorf("dir entry %d: %w", i, err)
		}
		if _, ok := seen[e.Name]; ok {
			return fmt.Errorf("%w: dir entry %d: name %q repeats", meta.ErrInvalid, i, e.Name)
		}
		seen[e.Name] = struct{}{}
	}
	return nil
}

// CheckEntry is CheckDir's test of one entry (all but the uniqueness of
// its name).
func CheckEntry(e DirEntry) error {
	switch e.Type {
	case TypeFilePtr, TypeDirPtr, TypeSymlink:
	default:
		return fmt.Errorf("%w: type %q", meta.ErrInvalid, e.Type)
	}
	if e.Name == "" || e.Name == "." || e.Name == ".." ||
		strings.ContainsAny(e.Name, "/\x00") || !utf8.ValidString(e.Name) {
		return fmt.Errorf("%w: name %q", meta.ErrInvalid, e.Name)
	}
	if e.Size < 0 {
		return fmt.Errorf("%w: %q: size %d", meta.ErrInvalid, e.Name, e.Size)
	}
	if e.Mode > MaxMode {
		return fmt.Errorf("%w: %q: mode %#o", meta.ErrInvalid, e.Name, e.Mode)
	}
	if e.Redundancy < 0 || e.Redundancy > MaxRedundancy || e.Expires < 0 {
		return fmt.Errorf("%w: %q: policy of redundancy %d, expiry %d", meta.ErrInvalid, e.Name, e.Redundancy, e.Expires)
	}
	if e.Type == TypeSymlink && (e.Redundancy != 0 || e.Expires != 0 || e.NoRenew) {
		return fmt.Errorf("%w: %q: a symlink has no policy", meta.ErrInvalid, e.Name)
	}
	if e.Type != TypeSymlink {
		if e.Target != "" {
			return fmt.Errorf("%w: %q: a %s has no target", meta.ErrInvalid, e.Name, e.Type)
		}
		return nil
	}
	switch {
	case e.Target == "", len(e.Target) > MaxTarget, strings.IndexByte(e.Target, 0) >= 0, !utf8.ValidString(e.Target):
		return fmt.Errorf("%w: %q: symlink target %q", meta.ErrInvalid, e.Name, e.Target)
	case !e.ID.IsZero():
		return fmt.Errorf("%w: %q: a symlink has no id", meta.ErrInvalid, e.Name)
	case e.Size != int64(len(e.Target)):
		return fmt.Errorf("%w: %q: symlink size %d, its target has %d bytes", meta.ErrInvalid, e.Name, e.Size, len(e.Target))
	}
	return nil
}

// DecodeDir parses a directory chunkinfo. Bytes that are not the canonical
// encoding of their entries (as EncodeDir writes them), or entries CheckDir
// refuses (a name such as ".." or "a/b" must never reach a caller that
// writes files), are an error wrapping meta.ErrCorrupt.
func DecodeDir(b []byte) ([]DirEntry, error) {
	var doc struct {
		Type  string     `json:"type"`
		Files []DirEntry `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: dir chunkinfo: %v", meta.ErrCorrupt, err)
	}
	if doc.Type != TypeDir || doc.Files == nil {
		return nil, fmt.Errorf("%w: not a dir chunkinfo", meta.ErrCorrupt)
	}
	if err := CheckDir(doc.Files); err != nil {
		return nil, fmt.Errorf("%w: %v", meta.ErrCorrupt, err)
	}
	// Canonical form: re-encoding gives the same bytes. This rejects key
	// order, spacing, case-folded keys, duplicate or unknown keys, escapes
	// JSON.stringify would not write, 0x or upper-case ids.
	if !bytes.Equal(EncodeDir(doc.Files), b) {
		return nil, fmt.Errorf("%w: dir chunkinfo is not in canonical form", meta.ErrCorrupt)
	}
	return doc.Files, nil
}
