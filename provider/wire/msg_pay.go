package wire

import (
	"fmt"
	"github.com/pointfs/pointfs/meta/pb"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// --- Micropayment (type 13) ---

// Micropayment is SEND_MICROPAYMENT_FOR_CHUNK: a voucher on the client's
// payment channel to the provider, for a cumulative total (DESIGN §5). The
// answer is a MicropaymentAck, or an Error: Declined for a voucher the
// provider refuses, Stale for one not above the last it accepted.
type Micropayment struct {
	Contract   common.Address // the PaymentChannel contract
	Channel    uint64         // channel id (> 0)
	Cumulative *big.Int       // wei owed in total on the channel (> 0)
	Signature  []byte         // the client's, SignatureLen bytes
}

// Type implements Msg.
func (*Micropayment) Type() Type { return TypeMicropayment }

func (m *Micropayment) check() error {
	if m.Contract == (common.Address{}) {
		return fmt.Errorf("%w: missing contract", ErrMalformed)
	}
	if m.Channel == 0 || m.Channel > 1<<63-1 {
		return fmt.Errorf("%w: channel %d", ErrMalformed, m.Channel)
	}
	if m.Cumulative == nil || m.Cumulative.Sign() == 0 {
		return fmt.Errorf("%w: missing cumulative amount", ErrMalformed)
	}
	if err := checkBig("cumulative amount", m.Cumulative); err != nil {
		return err
	}
	if len(m.Signature) != SignatureLen {
		return fmt.Errorf("%w: signature of %d bytes, want %d", ErrMalformed, len(m.Signature), SignatureLen)
	}
	return nil
}

// Marshal implements Msg.
func (m *Micropayment) Marshal(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, m.Contract[:])
	b = pb.AppendUint(b, 2, m.Channel)
	b = putBig(b, 3, m.Cumulative)
	return pb.AppendBytes(b, 4, m.Signature), nil
}

// Unmarshal implements Msg.
func (m *Micropayment) Unmarshal(body []byte) error {
	*m = Micropayment{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("contract", m.Contract[:])
		case 2:
			var v int64
			v, err = f.int64Val("channel")
			m.Channel = uint64(v)
		case 3:
			m.Cumulative, err = f.bigInt("cumulative amount")
		case 4:
			var s []byte
			if s, err = f.bytesMax("signature", SignatureLen); err == nil {
				m.Signature = append([]byte(nil), s...)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return m.check()
}

// --- MicropaymentAck (type 14) ---

// MicropaymentAck says the provider verified and durably recorded the
// voucher: Cumulative is now the latest total it holds on Channel, of
// which Credited is new.
type MicropaymentAck struct {
	Channel    uint64
	Cumulative *big.Int
	Credited   *big.Int
}

// Type implements Msg.
func (*MicropaymentAck) Type() Type { return TypeMicropaymentAck }

func (m *MicropaymentAck) check() error {
	if m.Channel > 1<<63-1 {
		return fmt.Errorf("%w: channel %d", ErrMalformed, m.Channel)
	}
	if err := checkBig("cumulative amount", m.Cumulative); err != nil {
		return err
	}
	return checkBig("credited amount", m.Credited)
}

// Marshal implements Msg.
func (m *MicropaymentAck) Marshal(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	b = pb.AppendUint(b, 1, m.Channel)
	b = putBig(b, 2, m.Cumulative)
	return putBig(b, 3, m.Credited), nil
}

// Unmarshal implements Msg.
func (m *MicropaymentAck) Unmarshal(body []byte) error {
	*m = MicropaymentAck{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			var v int64
			v, err = f.int64Val("channel")
			m.Channel = uint64(v)
		case 2:
			m.Cumulative, err = f.bigInt("cumulative amount")
		case 3:
			m.Credited, err = f.bigInt("credited amount")
		}
		return err
	})
	if err != nil {
		return err
	}
	return m.check()
}
