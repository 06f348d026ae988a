package wire

import "fmt"

// Protocol identifiers.
const (
	// ProtocolID is the libp2p protocol the codec is spoken on.
	ProtocolID = "/pointfs/storage/1"
	// Version is the payload version byte this package writes and accepts.
	Version byte = 1
)

// Limits of the codec. They bound what a peer can make the other side
// allocate, so they are checked on decode before anything is kept.
const (
	// MaxSegment is the largest segment a Data or ChunkData may carry.
	MaxSegment = 1 << 20
	// MaxFrame is the largest payload a frame may have: 4 MiB of segments
	// plus room for the envelope of a ChunkData.
	MaxFrame = 4<<20 + 4<<10
	// MaxHashes is the largest number of segment hashes in a SegmentMap.
	MaxHashes = 1 << 16
	// MaxString bounds every string field.
	MaxString = 256
	// MaxPriceBytes bounds big-endian prices (a uint256).
	MaxPriceBytes = 32
	// MaxCount bounds segment indexes and counts.
	MaxCount = MaxHashes
	// SignatureLen is the length of a pledge signature (R ‖ S ‖ V).
	SignatureLen = 65
	// MaxTag bounds the opaque tag a replica carries under a locator.
	MaxTag = 256
	// MaxList bounds the entries a List asks for and a ListReply carries.
	MaxList = 1000
)

// Type is the message type byte of a payload.
type Type byte

// Message types. The reserved ones have no message yet; decoding one is
// ErrUnknownType, so a peer that sends them early gets a clean error.
const (
	TypeError            Type = 1
	TypeOfferRequest     Type = 2
	TypeOffer            Type = 3
	TypeStoreRequest     Type = 4
	TypeSegmentMap       Type = 5
	TypeData             Type = 6
	TypeDataAck          Type = 7
	TypeSignatureRequest Type = 8
	TypePledge           Type = 9
	TypeGetChunk         Type = 10
	TypeChunkData        Type = 11
	TypeOk               Type = 12

	TypeMicropayment    Type = 13 // SEND_MICROPAYMENT_FOR_CHUNK: a voucher
	TypeMicropaymentAck Type = 14
	TypeChallenge       Type = 15 // CHALLENGE: an audit
	TypeChallengeReply  Type = 16
	TypeRenew           Type = 17 // RENEW: extend a pledge
	TypeRelease         Type = 18 // RELEASE: drop a replica

	TypeTag       Type = 19 // TAG: one more (locator, tag) on a replica
	TypeList      Type = 20 // LIST: the replicas tagged under a locator
	TypeListReply Type = 21
	TypePutRoot   Type = 22 // PUT_ROOT: keep an owner's signed root record
	TypeGetRoot   Type = 23 // GET_ROOT: ask for an owner's root record
	TypeRoot      Type = 24 // ROOT: a root record
)

var typeNames = map[Type]string{
	TypeError: "Error", TypeOfferRequest: "OfferRequest", TypeOffer: "Offer",
	TypeStoreRequest: "StoreRequest", TypeSegmentMap: "SegmentMap", TypeData: "Data",
	TypeDataAck: "DataAck", TypeSignatureRequest: "SignatureRequest", TypePledge: "Pledge",
	TypeGetChunk: "GetChunk", TypeChunkData: "ChunkData", TypeOk: "Ok",
	TypeMicropayment: "Micropayment", TypeMicropaymentAck: "MicropaymentAck",
	TypeChallenge: "Challenge", TypeChallengeReply: "ChallengeReply",
	TypeRenew: "Renew", TypeRelease: "Release",
	TypeTag: "Tag", TypeList: "List", TypeListReply: "ListReply",
	TypePutRoot: "PutRoot", TypeGetRoot: "GetRoot", TypeRoot: "Root",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// Code is the status carried by an Error message or a DataAck.
type Code uint8

// Codes. CodeOK appears only in DataAck.
const (
	CodeOK                 Code = 0
	CodeMalformed          Code = 1
	CodeTooLarge           Code = 2
	CodeUnsupportedVersion Code = 3
	CodeDeclined           Code = 4
	CodeAlreadyStored      Code = 5 // ECHUNKALREADYSTORED
	CodeUnknownLink        Code = 6
	CodeBadSegment         Code = 7
	CodeIncomplete         Code = 8
	CodeNoSpace            Code = 9
	CodeInternal           Code = 10
	CodeStale              Code = 11 // a voucher or root record not newer than the one held
)

var codeNames = [...]string{
	"ok", "malformed", "too large", "unsupported version", "declined",
	"ECHUNKALREADYSTORED", "unknown link", "bad segment", "incomplete",
	"no space", "internal error", "stale",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", byte(c))
}
