package provider

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// Proof is a provider's answer to an audit: a segment of a replica and its
// sibling path (leaf to root). The caller checks both against what it holds.
type Proof struct {
	Segment []byte
	Path    []meta.ID
}

// Challenge audits segment index of replica root at p (CHALLENGE). The
// answer is checked only for form here (same root, index and nonce); the
// caller verifies the segment and the path.
func (c *Client) Challenge(ctx context.Context, p peer.ID, root meta.ID, index int, nonce [32]byte) (*Proof, error) {
	var out *Proof
	err := c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, &wire.Challenge{Root: root, Index: index, Nonce: nonce})
		if err != nil {
			return err
		}
		m, err := expect[*wire.ChallengeReply](reply, wire.TypeChallengeReply)
		if err != nil {
			return err
		}
		if m.Root != root || m.Index != index || m.Nonce != nonce {
			return fmt.Errorf("%w: audit answer for another challenge", wire.ErrMalformed)
		}
		out = &Proof{Segment: append([]byte(nil), m.Segment...), Path: m.Proof}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit of %s at %s: %w", root, p, err)
	}
	return out, nil
}

// Renew asks p to extend the pledge of root to expires (unix seconds) and
// returns the new pledge, to be verified by the caller like any other.
func (c *Client) Renew(ctx context.Context, p peer.ID, root meta.ID, expires int64) (*meta.Pledge, error) {
	pl, err := c.pledgeExchange(ctx, p, root, &wire.Renew{Root: root, Expires: expires})
	if err != nil {
		return nil, fmt.Errorf("renew at %s: %w", p, err)
	}
	return pl, nil
}

// Release tells p that the replica root is no longer needed (RELEASE).
func (c *Client) Release(ctx context.Context, p peer.ID, root meta.ID) error {
	if err := c.simple(ctx, p, &wire.Release{Root: root}); err != nil {
		return fmt.Errorf("release at %s: %w", p, err)
	}
	return nil
}
