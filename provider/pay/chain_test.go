package pay_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/pay/devchain"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) common.Address { return ethcrypto.PubkeyToAddress(k.PublicKey) }

// startChain starts a dev chain with the given keys funded.
func startChain(t testing.TB, keys ...*ecdsa.PrivateKey) *devchain.DevChain {
	t.Helper()
	var fund []common.Address
	for _, k := range keys {
		fund = append(fund, addr(k))
	}
	d, err := devchain.Start(ctxT(t), devchain.Config{Fund: fund})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestVoucherDigestMatchesContract pins the voucher hash: Go computes
// exactly what the contract's voucherDigest does, and the contract accepts
// a signature crypto.Sign made (v moved from 0/1 to 27/28).
func TestVoucherDigestMatchesContract(t *testing.T) {
	client, prov := newKey(t), newKey(t)
	d := startChain(t, client, prov)
	ch := d.Chain()
	ctx := ctxT(t)
	c := pay.Contract()
	inst := c.Instance(d.Backend(), ch.Address())
	for _, tc := range []struct {
		id  uint64
		cum *big.Int
	}{{1, big.NewInt(1)}, {7, big.NewInt(123456789)}, {1 << 40, new(big.Int).Lsh(big.NewInt(1), 200)}} {
		got, err := bind.Call(inst, &bind.CallOpts{Context: ctx}, c.PackVoucherDigest(new(big.Int).SetUint64(tc.id), tc.cum), c.UnpackVoucherDigest)
		if err != nil {
			t.Fatal(err)
		}
		want := pay.VoucherDigest(ch.Address(), ch.ChainID(), tc.id, tc.cum)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("channel %d, %v: contract digest %x, Go %x", tc.id, tc.cum, got, want)
		}
	}

	// A voucher signed in Go is claimable, and pays exactly its amount.
	id, _, err := ch.Open(ctx, client, addr(prov), big.NewInt(1000), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v, err := pay.SignVoucher(client, ch.Address(), ch.ChainID(), id, big.NewInt(600))
	if err != nil {
		t.Fatal(err)
	}
	if v.Signature[64] != 27 && v.Signature[64] != 28 {
		t.Fatalf("v = %d", v.Signature[64])
	}
	if s, err := v.Signer(ch.ChainID()); err != nil || s != addr(client) {
		t.Fatalf("signer %s, %v", s.Hex(), err)
	}
	before, _ := ch.Balance(ctx, addr(prov))
	r, err := ch.Claim(ctx, prov, v)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ch.Balance(ctx, addr(prov))
	delta := new(big.Int).Sub(after, before)
	if want := new(big.Int).Sub(big.NewInt(600), pay.GasCost(r)); delta.Cmp(want) != 0 {
		t.Fatalf("provider balance moved by %v, want 600 - gas = %v", delta, want)
	}
	oc, err := ch.Channel(ctx, id)
	if err != nil || oc.Paid.Cmp(big.NewInt(600)) != 0 || oc.Closed {
		t.Fatalf("channel after claim: %+v, %v", oc, err)
	}
	// Again with the same voucher: the contract refuses.
	if _, err := ch.Claim(ctx, prov, v); !errors.Is(err, pay.ErrReverted) {
		t.Fatalf("replayed claim: %v", err)
	}
}
