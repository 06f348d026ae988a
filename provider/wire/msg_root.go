package wire

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// RootRecord is an owner's signed pointer to the root of its tree, the body
// of PutRoot and of Root. The codec checks its form only; the signature is
// the provider package's to verify.
type RootRecord struct {
	Owner     common.Address
	Root      meta.ID
	Seq       uint64
	Time      int64  // unix seconds
	Signature []byte // SignatureLen bytes
}

// Check reports whether r is well formed (what Marshal and Unmarshal
// check), with an error wrapping ErrMalformed.
func (r *RootRecord) Check() error { return r.check() }

func (r *RootRecord) check() error {
	if r.Owner == (common.Address{}) {
		return fmt.Errorf("%w: missing owner", ErrMalformed)
	}
	if err := checkRoot(r.Root); err != nil {
		return err
	}
	if err := checkNonNeg("time", r.Time); err != nil {
		return err
	}
	if len(r.Signature) != SignatureLen {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(r.Signature), SignatureLen)
	}
	return nil
}

func (r *RootRecord) marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, r.Owner[:])
	b = pb.AppendBytes(b, 2, r.Root[:])
	b = pb.AppendUint(b, 3, r.Seq)
	b = pb.AppendUint(b, 4, uint64(r.Time))
	return pb.AppendBytes(b, 5, r.Signature), nil
}

func (r *RootRecord) unmarshal(body []byte) error {
	*r = RootRecord{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("owner", r.Owner[:])
		case 2:
			err = f.fixed("root", r.Root[:])
		case 3:
			r.Seq, err = f.uint64Val("seq")
		case 4:
			r.Time, err = f.int64Val("time")
		case 5:
			r.Signature, err = f.bytesMax("signature", SignatureLen)
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.check()
}

// --- PutRoot (type 22) ---

// PutRoot asks the provider to keep a root record. It keeps the newest
// valid one per owner: the answer is Ok, Error Stale when it holds a newer
// one, Error Declined when the signature is not the owner's.
type PutRoot struct {
	Record RootRecord
}

// Type implements Msg.
func (*PutRoot) Type() Type { return TypePutRoot }

func (p *PutRoot) check() error { return p.Record.check() }

// Marshal implements Msg.
func (p *PutRoot) Marshal(b []byte) ([]byte, error) { return p.Record.marshal(b) }

// Unmarshal implements Msg.
func (p *PutRoot) Unmarshal(body []byte) error { return p.Record.unmarshal(body) }

// --- GetRoot (type 23) ---

// GetRoot asks for the root record the provider holds for Owner. The
// answer is Root, or Error UnknownLink when it holds none.
type GetRoot struct {
	Owner common.Address
}

// Type implements Msg.
func (*GetRoot) Type() Type { return TypeGetRoot }

func (g *GetRoot) check() error {
	if g.Owner == (common.Address{}) {
		return fmt.Errorf("%w: missing owner", ErrMalformed)
	}
	return nil
}

// Marshal implements Msg.
func (g *GetRoot) Marshal(b []byte) ([]byte, error) {
	if err := g.check(); err != nil {
		return b, err
	}
	return pb.AppendBytes(b, 1, g.Owner[:]), nil
}

// Unmarshal implements Msg.
func (g *GetRoot) Unmarshal(body []byte) error {
	*g = GetRoot{}
	err := eachField(body, func(f field) error {
		if f.num == 1 {
			return f.fixed("owner", g.Owner[:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return g.check()
}

// --- RootMsg (type 24) ---

// RootMsg is ROOT: a root record, the answer to GetRoot. Encoded as a
// payload (Encode), it is also the form a root record takes elsewhere (in
// the DHT).
type RootMsg struct {
	Record RootRecord
}

// Type implements Msg.
func (*RootMsg) Type() Type { return TypeRoot }

func (m *RootMsg) check() error { return m.Record.check() }

// Marshal implements Msg.
func (m *RootMsg) Marshal(b []byte) ([]byte, error) { return m.Record.marshal(b) }

// Unmarshal implements Msg.
func (m *RootMsg) Unmarshal(body []byte) error { return m.Record.unmarshal(body) }
