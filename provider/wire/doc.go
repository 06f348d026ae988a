// Package wire is the codec of pointfs's storage protocol, the libp2p stream
// protocol "/pointfs/storage/1" spoken between a client and a provider
// (DESIGN §4).
//
// A frame is uvarint(payload length) followed by the payload: a version byte,
// a message type byte and the message body in protobuf wire format. The
// bodies are encoded by hand with protowire against the schema in wire.proto,
// so the protocol is schema'd and versioned without a code generator.
//
// Everything read from the network is bounded before it is trusted: a frame
// is refused before its payload is allocated when its length prefix exceeds
// the cap, every field has a size cap, and any violation is an error that
// wraps meta.ErrInvalid or meta.ErrTooLarge (see ErrMalformed, ErrTooLarge,
// ErrVersion, ErrUnknownType), never a panic. Unknown fields are skipped so
// that later versions may add fields.
package wire
