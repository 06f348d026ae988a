package provider

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// Errors of root records.
var (
	// ErrBadRootRecord is wrapped by Verify's error: the record is
	// malformed or its signature does not recover to its Owner.
	ErrBadRootRecord = errors.New("root record does not verify")
	// ErrNoRootRecord means no valid root record was found for an owner
	// (GetRoot: the provider holds none; FindRoot: no one had one).
	ErrNoRootRecord = fmt.Errorf("%w: no root record", meta.ErrNotFound)
	// ErrStaleRootRecord means a provider holds a newer root record than
	// the one offered (PutRoot, PublishRoot).
	ErrStaleRootRecord = fmt.Errorf("%w: a newer root record is held", meta.ErrExists)
)

// RootRecord is an owner's signed pointer to the root of its tree: what a
// client that knows only its key looks for to find its files again. Each
// new version of the tree gets a higher Seq; Newer orders records.
type RootRecord struct {
	Owner common.Address
	Root  meta.ID
	Seq   uint64
	Time  int64  // unix seconds
	Sig   []byte // 65 bytes, R ‖ S ‖ V (V = 27 or 28)
}

// rootDomain separates root record signatures from every other signature
// the same key makes.
const rootDomain = "pointfs root record v1"

// RootDigest returns the 32-byte digest an owner signs for a root record:
// the EIP-191 "personal message" hash of keccak256(rootDomain ‖ owner ‖
// root ‖ uint64be(seq) ‖ uint64be(time)), as PledgeDigest does for pledges.
func RootDigest(owner common.Address, root meta.ID, seq uint64, t int64) []byte {
	var nums [16]byte
	binary.BigEndian.PutUint64(nums[:8], seq)
	binary.BigEndian.PutUint64(nums[8:], uint64(t))
	inner := ethcrypto.Keccak256([]byte(rootDomain), owner[:], root[:], nums[:])
	return accounts.TextHash(inner)
}

// SignRoot makes the root record of root, version seq, at time t (kept to
// the second), signed by the owner's key.
func SignRoot(key *ecdsa.PrivateKey, root meta.ID, seq uint64, t time.Time) (*RootRecord, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", meta.ErrInvalid)
	}
	if root.IsZero() || t.Unix() < 0 {
		return nil, fmt.Errorf("%w: root record of root %s at %v", meta.ErrInvalid, root, t)
	}
	owner := ethcrypto.PubkeyToAddress(key.PublicKey)
	sig, err := ethcrypto.Sign(RootDigest(owner, root, seq, t.Unix()), key)
	if err != nil {
		return nil, fmt.Errorf("provider: sign root record: %w", err)
	}
	sig[64] += 27
	return &RootRecord{Owner: owner, Root: root, Seq: seq, Time: t.Unix(), Sig: sig}, nil
}

// Verify checks that r is well formed and signed by r.Owner. The error
// wraps ErrBadRootRecord.
func (r *RootRecord) Verify() error {
	if r == nil {
		return fmt.Errorf("%w: no record", ErrBadRootRecord)
	}
	if err := r.wire().Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRootRecord, err)
	}
	sig := bytes.Clone(r.Sig)
	if sig[64] >= 27 {
		sig[64] -= 27 // accept both the 27/28 and the 0/1 conventions
	}
	if sig[64] > 1 {
		return fmt.Errorf("%w: bad recovery id %d", ErrBadRootRecord, r.Sig[64])
	}
	pub, err := ethcrypto.SigToPub(RootDigest(r.Owner, r.Root, r.Seq, r.Time), sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRootRecord, err)
	}
	if signer := ethcrypto.PubkeyToAddress(*pub); signer != r.Owner {
		return fmt.Errorf("%w: signed by %s, not owner %s", ErrBadRootRecord, signer, r.Owner)
	}
	return nil
}

// Newer reports whether a is newer than b: a higher Seq, or the same Seq
// and a later Time, or both the same and a bytewise larger Root. Any
// record is newer than nil. The order is total on (Seq, Time, Root), so
// every node picks the same record out of the same candidates.
func Newer(a, b *RootRecord) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	case a.Seq != b.Seq:
		return a.Seq > b.Seq
	case a.Time != b.Time:
		return a.Time > b.Time
	}
	return bytes.Compare(a.Root[:], b.Root[:]) > 0
}

// sameVersion reports whether a and b are the same version of the same
// owner's tree (signatures aside).
func sameVersion(a, b *RootRecord) bool {
	return a.Owner == b.Owner && a.Root == b.Root && a.Seq == b.Seq && a.Time == b.Time
}

// maxRootRecord bounds an encoded root record (about 140 bytes).
const maxRootRecord = 512

// Marshal encodes r as the payload of a ROOT message (version ‖ type ‖
// body, see wire.proto): the form root records take in the provider's
// index and in the DHT.
func (r *RootRecord) Marshal() ([]byte, error) {
	b, err := wire.Encode(&wire.RootMsg{Record: *r.wire()})
	if err != nil {
		return nil, fmt.Errorf("provider: encode root record: %w", err)
	}
	return b, nil
}

// Unmarshal decodes what Marshal made into r. It checks the form only:
// call Verify before trusting r.
func (r *RootRecord) Unmarshal(b []byte) error {
	if len(b) > maxRootRecord {
		return fmt.Errorf("%w: root record of %d bytes", wire.ErrTooLarge, len(b))
	}
	m, err := wire.Decode(b)
	if err != nil {
		return err
	}
	rm, ok := m.(*wire.RootMsg)
	if !ok {
		return fmt.Errorf("%w: %v is not a root record", wire.ErrMalformed, m.Type())
	}
	*r = *fromWireRoot(&rm.Record)
	return nil
}

func (r *RootRecord) wire() *wire.RootRecord {
	return &wire.RootRecord{Owner: r.Owner, Root: r.Root, Seq: r.Seq, Time: r.Time, Signature: r.Sig}
}

func fromWireRoot(w *wire.RootRecord) *RootRecord {
	return &RootRecord{Owner: w.Owner, Root: w.Root, Seq: w.Seq, Time: w.Time, Sig: bytes.Clone(w.Signature)}
}

// RootNamespace is the DHT namespace of root records: an owner's record is
// under RootKey(owner) = "/pfsroot/" + the owner's address in lowercase hex
// without 0x. Every DHT this package makes validates records there with
// rootValidator.
const RootNamespace = "pfsroot"

// RootKey returns the DHT key of owner's root record.
func RootKey(owner common.Address) string {
	return "/" + RootNamespace + "/" + hex.EncodeToString(owner[:])
}

// ownerOfKey parses a key made by RootKey.
func ownerOfKey(key string) (common.Address, error) {
	var owner common.Address
	h, ok := strings.CutPrefix(key, "/"+RootNamespace+"/")
	if !ok || len(h) != 2*len(owner) || strings.ToLower(h) != h {
		return owner, fmt.Errorf("%w: DHT key %q is not a root record key", ErrBadRootRecord, key)
	}
	if _, err := hex.Decode(owner[:], []byte(h)); err != nil {
		return owner, fmt.Errorf("%w: DHT key %q: %v", ErrBadRootRecord, key, err)
	}
	return owner, nil
}

// rootValidator is the DHT's record validator for RootNamespace (it
// satisfies go-libp2p-record's Validator): a value must be a root record
// signed by the owner its key names; the newest record wins.
type rootValidator struct{}

// Validate implements record.Validator.
func (rootValidator) Validate(key string, value []byte) error {
	owner, err := ownerOfKey(key)
	if err != nil {
		return err
	}
	var r RootRecord
	if err := r.Unmarshal(value); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRootRecord, err)
	}
	if r.Owner != owner {
		return fmt.Errorf("%w: record of %s under the key of %s", ErrBadRootRecord, r.Owner, owner)
	}
	return r.Verify()
}

// Select implements record.Validator: the index of the newest valid value.
func (v rootValidator) Select(key string, values [][]byte) (int, error) {
	best, bestRec := -1, (*RootRecord)(nil)
	for i, val := range values {
		if v.Validate(key, val) != nil {
			continue
		}
		var r RootRecord
		if r.Unmarshal(val) != nil {
			continue
		}
		if Newer(&r, bestRec) {
			best, bestRec = i, &r
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: none of %d values under %q", ErrBadRootRecord, len(values), key)
	}
	return best, nil
}
