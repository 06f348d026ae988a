package wire

import (
	"errors"
	"fmt"

	"github.com/pointfs/pointfs/meta"
)

// Errors of the codec. Each wraps the meta sentinel that says what kind of
// failure it is, so callers outside the protocol can use errors.Is with
// meta.ErrInvalid or meta.ErrTooLarge; CodeOf maps them to the Code of the
// Error reply a server sends back.
var (
	ErrMalformed   = fmt.Errorf("%w: malformed message", meta.ErrInvalid)
	ErrTooLarge    = fmt.Errorf("%w: message exceeds a protocol limit", meta.ErrTooLarge)
	ErrVersion     = fmt.Errorf("%w: unsupported protocol version", meta.ErrInvalid)
	ErrUnknownType = fmt.Errorf("%w: unknown message type", meta.ErrInvalid)
)

// CodeOf returns the Error code that reports err to the peer: one of the
// codec's errors maps to its code, an *Error to its own code, and anything
// else to CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrVersion):
		return CodeUnsupportedVersion
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownType):
		return CodeMalformed
	}
	return CodeInternal
}

// IsProtocolError reports whether err says the peer broke the protocol (bad
// framing, bad fields), as opposed to a transport failure.
func IsProtocolError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrVersion) || errors.Is(err, ErrUnknownType)
}

// Error is the message a peer sends when it refuses a request. It is also
// a Go error: Unwrap gives the meta sentinel of its code, so a client can
// return it as is and its caller can test errors.Is(err, meta.ErrDeclined).
type Error struct {
	Code    Code
	Message string
}

// Errorf returns an Error message with a formatted, length-capped text.
func Errorf(code Code, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > MaxString {
		msg = truncateUTF8(msg, MaxString)
	}
	return &Error{Code: code, Message: msg}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "provider: " + e.Code.String()
	}
	return "provider: " + e.Code.String() + ": " + e.Message
}

// Unwrap returns the meta sentinel that matches the code, or nil.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeMalformed, CodeUnsupportedVersion:
		return meta.ErrInvalid
	case CodeTooLarge:
		return meta.ErrTooLarge
	case CodeDeclined:
		return meta.ErrDeclined
	case CodeAlreadyStored:
		return meta.ErrAlreadyStored
	case CodeUnknownLink:
		return meta.ErrNotFound
	case CodeBadSegment:
		return meta.ErrCorrupt
	case CodeNoSpace:
		return meta.ErrNoSpace
	case CodeStale:
		return meta.ErrExists // the provider holds as much already
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
