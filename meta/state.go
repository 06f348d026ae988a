package meta

import (
	"encoding/json"
	"fmt"
)

// FileState is the upload state of a file (the seed's File.UPLOADING_STATUS_*).
type FileState uint8

// File states.
const (
	FileCreated FileState = iota
	FileUploading
	FileUploaded
	FileFailed
	FileExpired // its pledges lapsed and it does not renew them
)

var fileStateNames = [...]string{"created", "uploading", "uploaded", "failed", "expired"}

func (s FileState) String() string { return stateName(fileStateNames[:], int(s)) }

// MarshalJSON writes the state's name.
func (s FileState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a state's name.
func (s *FileState) UnmarshalJSON(b []byte) error {
	v, err := parseState(fileStateNames[:], b)
	*s = FileState(v)
	return err
}

// ChunkState is the upload state of a chunk.
type ChunkState uint8

// Chunk states.
const (
	ChunkCreated ChunkState = iota
	ChunkUploading
	ChunkUploaded
	ChunkExpired // its links lapsed at the end of its files' policy
)

var chunkStateNames = [...]string{"created", "uploading", "uploaded", "expired"}

func (s ChunkState) String() string { return stateName(chunkStateNames[:], int(s)) }

// MarshalJSON writes the state's name.
func (s ChunkState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a state's name.
func (s *ChunkState) UnmarshalJSON(b []byte) error {
	v, err := parseState(chunkStateNames[:], b)
	*s = ChunkState(v)
	return err
}

// LinkState is the state of a storage link (DESIGN §1). Every one of them is
// persisted, so that the engine resumes a link where it was.
type LinkState uint8

// Link states, in the order a link normally passes through them.
const (
	LinkCreated LinkState = iota
	LinkAgreed
	LinkEstablishPaymentChannel
	LinkEncrypting
	LinkEncrypted
	LinkSendingSegmentMap
	LinkSendingData
	LinkDataReceived
	LinkAskingForSignature
	LinkSigned
	LinkFailed
)

var linkStateNames = [...]string{
	"created", "agreed", "establish_payment_channel", "encrypting", "encrypted",
	"sending_segment_map", "sending_data", "data_received", "asking_for_signature",
	"signed", "failed",
}

func (s LinkState) String() string { return stateName(linkStateNames[:], int(s)) }

// Terminal reports whether no further transition leaves s.
func (s LinkState) Terminal() bool { return s == LinkSigned || s == LinkFailed }

// MarshalJSON writes the state's name.
func (s LinkState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a state's name.
func (s *LinkState) UnmarshalJSON(b []byte) error {
	v, err := parseState(linkStateNames[:], b)
	*s = LinkState(v)
	return err
}

// ParseLinkState returns the state with the given name.
func ParseLinkState(name string) (LinkState, error) {
	for i, n := range linkStateNames {
		if n == name {
			return LinkState(i), nil
		}
	}
	return 0, fmt.Errorf("%w: link state %q", ErrInvalid, name)
}

func stateName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return fmt.Sprintf("state(%d)", i)
	}
	return names[i]
}

func parseState(names []string, b []byte) (int, error) {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, err
	}
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: state %q", ErrInvalid, s)
}
