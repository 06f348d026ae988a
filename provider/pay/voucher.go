package pay

import (
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

// SignatureLen is the length of a voucher signature (R ‖ S ‖ V).
const SignatureLen = 65

// Voucher is the client's promise on one channel: it owes the provider
// Cumulative wei in total (not an increment). The provider claims the
// latest one on chain.
type Voucher struct {
	Contract   common.Address `json:"contract"`
	Channel    uint64         `json:"channel"`
	Cumulative *big.Int       `json:"cumulative"`
	Signature  []byte         `json:"signature"` // R ‖ S ‖ V, V = 27 or 28
}

// VoucherDigest returns the 32-byte digest a client signs for a voucher,
// exactly as the contract's voucherDigest computes it: the EIP-191 personal
// message hash of keccak256(abi.encodePacked(contract, chainid, id,
// cumulative)), with chainid, id and cumulative as 32-byte big-endian words.
func VoucherDigest(contractAddr common.Address, chainID *big.Int, channel uint64, cumulative *big.Int) []byte {
	var id [32]byte
	binary.BigEndian.PutUint64(id[24:], channel)
	inner := ethcrypto.Keccak256(contractAddr[:], word(chainID), id[:], word(cumulative))
	return accounts.TextHash(inner)
}

func word(v *big.Int) []byte {
	var w [32]byte
	if v != nil {
		v.FillBytes(w[:])
	}
	return w[:]
}

// SignVoucher signs cumulative on channel with the client's key.
func SignVoucher(key *ecdsa.PrivateKey, contractAddr common.Address, chainID *big.Int, channel uint64, cumulative *big.Int) (*Voucher, error) {
	v := &Voucher{Contract: contractAddr, Channel: channel, Cumulative: new(big.Int).Set(cumulative)}
	if err := v.checkAmount(); err != nil {
		return nil, err
	}
	sig, err := ethcrypto.Sign(VoucherDigest(contractAddr, chainID, channel, cumulative), key)
	if err != nil {
		return nil, fmt.Errorf("pay: sign voucher: %w", err)
	}
	sig[64] += 27 // ecrecover's convention; crypto.Sign gives 0 or 1
	v.Signature = sig
	return v, nil
}

// Signer returns the address that signed v on chainID.
func (v *Voucher) Signer(chainID *big.Int) (common.Address, error) {
	if err := v.check(); err != nil {
		return common.Address{}, err
	}
	sig := make([]byte, SignatureLen)
	copy(sig, v.Signature)
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	if sig[64] > 1 {
		return common.Address{}, fmt.Errorf("%w: voucher recovery id %d", ErrBadVoucher, v.Signature[64])
	}
	// The contract refuses signatures with a high S (malleable); so do we.
	if !ethcrypto.ValidateSignatureValues(sig[64], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64]), true) {
		return common.Address{}, fmt.Errorf("%w: voucher signature values", ErrBadVoucher)
	}
	pub, err := ethcrypto.SigToPub(VoucherDigest(v.Contract, chainID, v.Channel, v.Cumulative), sig)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrBadVoucher, err)
	}
	return ethcrypto.PubkeyToAddress(*pub), nil
}

func (v *Voucher) checkAmount() error {
	switch {
	case v.Cumulative == nil || v.Cumulative.Sign() <= 0:
		return fmt.Errorf("%w: voucher for %v wei", ErrBadVoucher, v.Cumulative)
	case v.Cumulative.BitLen() > 256:
		return fmt.Errorf("%w: voucher amount exceeds 256 bits", ErrBadVoucher)
	case v.Channel == 0:
		return fmt.Errorf("%w: voucher names no channel", ErrBadVoucher)
	}
	return nil
}

func (v *Voucher) check() error {
	if v == nil {
		return fmt.Errorf("%w: no voucher", ErrBadVoucher)
	}
	if err := v.checkAmount(); err != nil {
		return err
	}
	if len(v.Signature) != SignatureLen {
		return fmt.Errorf("%w: signature of %d bytes", ErrBadVoucher, len(v.Signature))
	}
	return nil
}

// ErrBadVoucher is wrapped by every refusal of a voucher.
var ErrBadVoucher = fmt.Errorf("%w: voucher refused", meta.ErrInvalid)
