package provider

import (
	"context"
	"fmt"
	"math/big"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/wire"
)

// SendMicropayment sends SEND_MICROPAYMENT_FOR_CHUNK with voucher v to p
// and returns the total p now holds on v's channel (v's own). A refusal
// wraps meta.ErrDeclined (the message says why); an error wrapping
// meta.ErrExists (code Stale) means p already holds a voucher at least as
// high on the channel: a resend of the latest voucher after a lost answer
// gets it.
func (c *Client) SendMicropayment(ctx context.Context, p peer.ID, v *pay.Voucher) (*big.Int, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: no voucher", pay.ErrBadVoucher)
	}
	req := &wire.Micropayment{Contract: v.Contract, Channel: v.Channel, Cumulative: v.Cumulative, Signature: v.Signature}
	var total *big.Int
	err := c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, req)
		if err != nil {
			return err
		}
		m, err := expect[*wire.MicropaymentAck](reply, wire.TypeMicropaymentAck)
		if err != nil {
			return err
		}
		if m.Channel != v.Channel || m.Cumulative == nil || m.Cumulative.Cmp(v.Cumulative) != 0 {
			return fmt.Errorf("%w: ack for %v on channel %d, sent %v on channel %d",
				wire.ErrMalformed, m.Cumulative, m.Channel, v.Cumulative, v.Channel)
		}
		total = m.Cumulative
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("micropayment to %s: %w", p, err)
	}
	return total, nil
}
