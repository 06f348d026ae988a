package provider

import (
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// PledgeDigest returns the 32-byte digest a provider signs for a pledge
// (DESIGN §4): the EIP-191 "personal message" hash of
// keccak256(client ‖ root ‖ uint64be(length) ‖ uint64be(expires)). The
// EIP-191 envelope keeps the signature from ever being a valid transaction
// signature, and lets wallets and ecrecover-based contracts check it.
func PledgeDigest(client common.Address, root meta.ID, length int64, expires int64) []byte {
	var nums [16]byte
	binary.BigEndian.PutUint64(nums[:8], uint64(length))
	binary.BigEndian.PutUint64(nums[8:], uint64(expires))
	inner := ethcrypto.Keccak256(client[:], root[:], nums[:])
	return accounts.TextHash(inner)
}

// SignPledge signs a pledge with the provider's key. The signature is
// R ‖ S ‖ V with V = 27 or 28, the Ethereum convention for signed messages.
func SignPledge(key *ecdsa.PrivateKey, client common.Address, root meta.ID, length, expires int64) (*meta.Pledge, error) {
	if length < 0 || expires < 0 {
		return nil, fmt.Errorf("%w: pledge length %d, expires %d", meta.ErrInvalid, length, expires)
	}
	sig, err := ethcrypto.Sign(PledgeDigest(client, root, length, expires), key)
	if err != nil {
		return nil, fmt.Errorf("provider: sign pledge: %w", err)
	}
	sig[64] += 27
	return &meta.Pledge{
		Provider:  ethcrypto.PubkeyToAddress(key.PublicKey),
		Client:    client,
		Root:      root,
		Length:    length,
		Expires:   expires,
		Signature: sig,
	}, nil
}

// VerifyPledge checks that p is signed by provider over its own client,
// root, length and expiry. It fails (wrapping meta.ErrBadPledge) when the
// signature is malformed, recovers another signer, or p.Provider names
// someone else than provider.
func VerifyPledge(p *meta.Pledge, provider common.Address) error {
	if p == nil {
		return fmt.Errorf("%w: no pledge", meta.ErrBadPledge)
	}
	if p.Provider != (common.Address{}) && p.Provider != provider {
		return fmt.Errorf("%w: pledge names provider %s, want %s", meta.ErrBadPledge, p.Provider, provider)
	}
	if len(p.Signature) != wire.SignatureLen {
		return fmt.Errorf("%w: signature of %d bytes", meta.ErrBadPledge, len(p.Signature))
	}
	if p.Length < 0 || p.Expires < 0 {
		return fmt.Errorf("%w: negative length or expiry", meta.ErrBadPledge)
	}
	sig := make([]byte, len(p.Signature))
	copy(sig, p.Signature)
	if sig[64] >= 27 {
		sig[64] -= 27 // accept both the 27/28 and the 0/1 conventions
	}
	if sig[64] > 1 {
		return fmt.Errorf("%w: bad recovery id %d", meta.ErrBadPledge, p.Signature[64])
	}
	pub, err := ethcrypto.SigToPub(PledgeDigest(p.Client, p.Root, p.Length, p.Expires), sig)
	if err != nil {
		return fmt.Errorf("%w: %v", meta.ErrBadPledge, err)
	}
	if signer := ethcrypto.PubkeyToAddress(*pub); signer != provider {
		return fmt.Errorf("%w: signed by %s, not provider %s", meta.ErrBadPledge, signer, provider)
	}
	return nil
}
