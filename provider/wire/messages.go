package wire

import (
	"fmt"

	"github.com/pointfs/pointfs/meta"
)

// Msg is one message of the protocol. Only this package implements it.
type Msg interface {
	// Type is the message's type byte.
	Type() Type
	// Marshal checks the message's fields against the protocol's limits
	// and appends its body (protobuf wire format) to b.
	Marshal(b []byte) ([]byte, error)
	// Unmarshal replaces the message with the one encoded in body and
	// checks it. Byte slices in the result may alias body.
	Unmarshal(body []byte) error
	check() error
}

// New returns an empty message of type t, or ErrUnknownType.
func New(t Type) (Msg, error) {
	switch t {
	case TypeError:
		return new(Error), nil
	case TypeOfferRequest:
		return new(OfferRequest), nil
	case TypeOffer:
		return new(Offer), nil
	case TypeStoreRequest:
		return new(StoreRequest), nil
	case TypeSegmentMap:
		return new(SegmentMap), nil
	case TypeData:
		return new(Data), nil
	case TypeDataAck:
		return new(DataAck), nil
	case TypeSignatureRequest:
		return new(SignatureRequest), nil
	case TypePledge:
		return new(PledgeMsg), nil
	case TypeGetChunk:
		return new(GetChunk), nil
	case TypeChunkData:
		return new(ChunkData), nil
	case TypeOk:
		return new(Ok), nil
	case TypeMicropayment:
		return new(Micropayment), nil
	case TypeMicropaymentAck:
		return new(MicropaymentAck), nil
	case TypeChallenge:
		return new(Challenge), nil
	case TypeChallengeReply:
		return new(ChallengeReply), nil
	case TypeRenew:
		return new(Renew), nil
	case TypeRelease:
		return new(Release), nil
	case TypeTag:
		return new(Tag), nil
	case TypeList:
		return new(List), nil
	case TypeListReply:
		return new(ListReply), nil
	case TypePutRoot:
		return new(PutRoot), nil
	case TypeGetRoot:
		return new(GetRoot), nil
	case TypeRoot:
		return new(RootMsg), nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnknownType, t)
}

func checkRoot(root meta.ID) error {
	if root.IsZero() {
		return fmt.Errorf("%w: missing root", ErrMalformed)
	}
	return nil
}

func checkLink(l meta.LinkID) error {
	if l == (meta.LinkID{}) {
		return fmt.Errorf("%w: missing link id", ErrMalformed)
	}
	return nil
}

// skip is what a message's field switch does with a field it does not know.
func skip(field) error { return nil }
