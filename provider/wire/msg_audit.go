package wire

import (
	"fmt"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// MaxProof bounds a Merkle proof: a tree of MaxHashes leaves is 16 deep.
const MaxProof = 64

// --- Challenge (type 15) ---

// Challenge is an audit: prove that segment Index of replica Root is held,
// now (Nonce makes each answer fresh).
type Challenge struct {
	Root  meta.ID
	Index int
	Nonce [32]byte
}

// Type implements Msg.
func (*Challenge) Type() Type { return TypeChallenge }

func (c *Challenge) check() error {
	if err := checkRoot(c.Root); err != nil {
		return err
	}
	return checkIndex("index", c.Index)
}

// Marshal implements Msg.
func (c *Challenge) Marshal(b []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, c.Root[:])
	b = pb.AppendUint(b, 2, uint64(c.Index))
	return pb.AppendBytes(b, 3, c.Nonce[:]), nil
}

// Unmarshal implements Msg.
func (c *Challenge) Unmarshal(body []byte) error {
	*c = Challenge{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", c.Root[:])
		case 2:
			c.Index, err = f.intVal("index", MaxCount)
		case 3:
			err = f.fixed("nonce", c.Nonce[:])
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.check()
}

// --- ChallengeReply (type 16) ---

// ChallengeReply answers a Challenge with the segment and its Merkle proof
// (sibling path, leaf to root) against the replica's root.
type ChallengeReply struct {
	Root    meta.ID
	Index   int
	Nonce   [32]byte
	Segment []byte
	Proof   []meta.ID
}

// Type implements Msg.
func (*ChallengeReply) Type() Type { return TypeChallengeReply }

func (c *ChallengeReply) check() error {
	if err := checkRoot(c.Root); err != nil {
		return err
	}
	if err := checkIndex("index", c.Index); err != nil {
		return err
	}
	if len(c.Segment) > MaxSegment {
		return fmt.Errorf("%w: segment of %d bytes, max %d", ErrTooLarge, len(c.Segment), MaxSegment)
	}
	if len(c.Proof) > MaxProof {
		return fmt.Errorf("%w: proof of %d hashes, max %d", ErrTooLarge, len(c.Proof), MaxProof)
	}
	return nil
}

// Marshal implements Msg.
func (c *ChallengeReply) Marshal(b []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, c.Root[:])
	b = pb.AppendUint(b, 2, uint64(c.Index))
	b = pb.AppendBytes(b, 3, c.Nonce[:])
	b = pb.AppendBytes(b, 4, c.Segment)
	packed := make([]byte, 0, 32*len(c.Proof))
	for _, h := range c.Proof {
		packed = append(packed, h[:]...)
	}
	return pb.AppendBytes(b, 5, packed), nil
}

// Unmarshal implements Msg.
func (c *ChallengeReply) Unmarshal(body []byte) error {
	*c = ChallengeReply{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", c.Root[:])
		case 2:
			c.Index, err = f.intVal("index", MaxCount)
		case 3:
			err = f.fixed("nonce", c.Nonce[:])
		case 4:
			c.Segment, err = f.bytesMax("segment", MaxSegment)
		case 5:
			var packed []byte
			if packed, err = f.bytesMax("proof", 32*MaxProof); err != nil {
				return err
			}
			if len(packed)%32 != 0 {
				return fmt.Errorf("%w: proof of %d bytes is not whole hashes", ErrMalformed, len(packed))
			}
			c.Proof = make([]meta.ID, len(packed)/32)
			for i := range c.Proof {
				copy(c.Proof[i][:], packed[32*i:])
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.check()
}

// --- Renew (type 17) ---

// Renew asks the provider to extend the pledge of replica Root to Expires;
// the answer is a new Pledge.
type Renew struct {
	Root    meta.ID
	Expires int64 // unix seconds
}

// Type implements Msg.
func (*Renew) Type() Type { return TypeRenew }

func (r *Renew) check() error {
	if err := checkRoot(r.Root); err != nil {
		return err
	}
	return checkNonNeg("expires", r.Expires)
}

// Marshal implements Msg.
func (r *Renew) Marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, r.Root[:])
	return pb.AppendUint(b, 2, uint64(r.Expires)), nil
}

// Unmarshal implements Msg.
func (r *Renew) Unmarshal(body []byte) error {
	*r = Renew{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", r.Root[:])
		case 2:
			r.Expires, err = f.int64Val("expires")
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.check()
}

// --- Release (type 18) ---

// Release tells the provider that the client no longer needs replica Root:
// it may drop it. The answer is Ok.
type Release struct {
	Root meta.ID
}

// Type implements Msg.
func (*Release) Type() Type { return TypeRelease }

func (r *Release) check() error { return checkRoot(r.Root) }

// Marshal implements Msg.
func (r *Release) Marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	return pb.AppendBytes(b, 1, r.Root[:]), nil
}

// Unmarshal implements Msg.
func (r *Release) Unmarshal(body []byte) error {
	*r = Release{}
	err := eachField(body, func(f field) (err error) {
		if f.num == 1 {
			return f.fixed("root", r.Root[:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.check()
}
