package wire

import (
	"fmt"
	"github.com/pointfs/pointfs/meta/pb"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// --- Error (type 1) ---

// Type implements Msg.
func (*Error) Type() Type { return TypeError }

func (e *Error) check() error { return checkString("error message", e.Message) }

// Marshal implements Msg.
func (e *Error) Marshal(b []byte) ([]byte, error) {
	if err := e.check(); err != nil {
		return b, err
	}
	b = pb.AppendUint(b, 1, uint64(e.Code))
	return pb.AppendString(b, 2, e.Message), nil
}

// Unmarshal implements Msg.
func (e *Error) Unmarshal(body []byte) error {
	*e = Error{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			var c int
			c, err = f.intVal("code", 255)
			e.Code = Code(c)
		case 2:
			e.Message, err = f.str("message")
		}
		return err
	})
	if err != nil {
		return err
	}
	return e.check()
}

// --- OfferRequest (type 2) ---

// OfferRequest asks a provider for its terms (OFFER).
type OfferRequest struct{}

// Type implements Msg.
func (*OfferRequest) Type() Type { return TypeOfferRequest }

func (*OfferRequest) check() error { return nil }

// Marshal implements Msg.
func (*OfferRequest) Marshal(b []byte) ([]byte, error) { return b, nil }

// Unmarshal implements Msg.
func (*OfferRequest) Unmarshal(body []byte) error { return eachField(body, skip) }

// --- Offer (type 3) ---

// Offer is a provider's terms.
type Offer struct {
	Address         common.Address
	PricePerByteDay *big.Int // wei; nil means 0
	FreeBytes       int64
	MaxExpiry       int64 // seconds from now
	MaxSegmentSize  int
	MaxSealedLen    int64
}

// Type implements Msg.
func (*Offer) Type() Type { return TypeOffer }

func (o *Offer) check() error {
	if err := checkBig("price", o.PricePerByteDay); err != nil {
		return err
	}
	if err := checkNonNeg("free bytes", o.FreeBytes); err != nil {
		return err
	}
	if err := checkNonNeg("max expiry", o.MaxExpiry); err != nil {
		return err
	}
	if err := checkNonNeg("max sealed length", o.MaxSealedLen); err != nil {
		return err
	}
	if o.MaxSegmentSize < 0 || o.MaxSegmentSize > MaxSegment {
		return fmt.Errorf("%w: max segment size %d", ErrMalformed, o.MaxSegmentSize)
	}
	return nil
}

// Marshal implements Msg.
func (o *Offer) Marshal(b []byte) ([]byte, error) {
	if err := o.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, o.Address[:])
	b = putBig(b, 2, o.PricePerByteDay)
	b = pb.AppendUint(b, 3, uint64(o.FreeBytes))
	b = pb.AppendUint(b, 4, uint64(o.MaxExpiry))
	b = pb.AppendUint(b, 5, uint64(o.MaxSegmentSize))
	return pb.AppendUint(b, 6, uint64(o.MaxSealedLen)), nil
}

// Unmarshal implements Msg.
func (o *Offer) Unmarshal(body []byte) error {
	*o = Offer{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("address", o.Address[:])
		case 2:
			o.PricePerByteDay, err = f.bigInt("price")
		case 3:
			o.FreeBytes, err = f.int64Val("free bytes")
		case 4:
			o.MaxExpiry, err = f.int64Val("max expiry")
		case 5:
			o.MaxSegmentSize, err = f.intVal("max segment size", MaxSegment)
		case 6:
			o.MaxSealedLen, err = f.int64Val("max sealed length")
		}
		return err
	})
	if err != nil {
		return err
	}
	return o.check()
}

// --- Ok (type 12) ---

// Ok acknowledges a request that has no other answer.
type Ok struct{}

// Type implements Msg.
func (*Ok) Type() Type { return TypeOk }

func (*Ok) check() error { return nil }

// Marshal implements Msg.
func (*Ok) Marshal(b []byte) ([]byte, error) { return b, nil }

// Unmarshal implements Msg.
func (*Ok) Unmarshal(body []byte) error { return eachField(body, skip) }
