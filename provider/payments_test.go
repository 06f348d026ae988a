package provider

import (
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/pay/devchain"
)

// TestClientThatStopsPayingIsRefused: a provider with payments on bills
// each pledge it signs; a client that owes more than MaxUnpaid is declined
// new STORE_CHUNK_REQUESTs until a micropayment covers its debt. Vouchers
// go over the wire; bad ones are refused there too.
func TestClientThatStopsPayingIsRefused(t *testing.T) {
	ctx := testCtx(t)
	clientKey, _ := ethcrypto.GenerateKey()
	provKey, _ := ethcrypto.GenerateKey()
	otherKey, _ := ethcrypto.GenerateKey()
	clientAddr, provAddr := ethcrypto.PubkeyToAddress(clientKey.PublicKey), ethcrypto.PubkeyToAddress(provKey.PublicKey)
	chain, err := devchain.Start(ctx, devchain.Config{Fund: []common.Address{clientAddr, provAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })

	const size = 64 << 10
	perReplica := int64(size) // 1 wei per byte per day, one day
	s := startServer(t, func(c *Config) {
		c.Key = provKey
		c.PricePerByteDay = big.NewInt(1)
		c.Pay = PayConfig{Chain: chain.Chain(), MaxUnpaid: big.NewInt(perReplica + perReplica/2)}
	})
	c, err := NewClient(ctx, clientKey, ClientConfig{Logger: testLogger(), RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	know(c, s)

	expires := time.Now().Add(12 * time.Hour)
	store := func() error {
		r := newReplica(t, size, 16<<10, merkle.HashBlake3)
		req := r.request(expires)
		req.Price = big.NewInt(1)
		if err := c.Store(ctx, s.ID(), req); err != nil {
			return err
		}
		if err := c.SendSegmentMap(ctx, s.ID(), r.segMap()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendSegments(ctx, s.ID(), r.root, r.segments(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RequestPledge(ctx, s.ID(), r.root); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	syncs := s.Stats().Syncs
	for i := 0; i < 2; i++ {
		if err := store(); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	if owed, _ := s.Payee().Unpaid(clientAddr); owed.Cmp(big.NewInt(2*perReplica)) != 0 {
		t.Fatalf("client owes %v, want %d", owed, 2*perReplica)
	}
	// One sync per pledge makes its replica, the pledge and its bill
	// durable together (a sync for the bill after the pledge's doubled them).
	if n := s.Stats().Syncs - syncs; n != 2 {
		t.Fatalf("%d syncs for two pledges signed one after the other, want 2", n)
	}
	err = store()
	if !errors.Is(err, meta.ErrDeclined) || !strings.Contains(err.Error(), "owes") {
		t.Fatalf("store by a client that does not pay: %v", err)
	}
	t.Logf("refused: %v", err)

	db, err := badgerdb.Open(filepath.Join(t.TempDir(), "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	payer, err := pay.NewPayer(pay.PayerConfig{Chain: chain.Chain(), Key: clientKey, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	v, err := payer.Pay(ctx, provAddr, big.NewInt(2*perReplica))
	if err != nil {
		t.Fatal(err)
	}
	total, err := c.SendMicropayment(ctx, s.ID(), v)
	if err != nil || total.Cmp(big.NewInt(2*perReplica)) != 0 {
		t.Fatalf("micropayment: %v, %v", total, err)
	}
	if _, err := c.SendMicropayment(ctx, s.ID(), v); !errors.Is(err, meta.ErrExists) {
		t.Errorf("replayed micropayment: %v, want stale (meta.ErrExists)", err)
	}
	forged, _ := pay.SignVoucher(otherKey, v.Contract, chain.Chain().ChainID(), v.Channel, big.NewInt(3*perReplica))
	if _, err := c.SendMicropayment(ctx, s.ID(), forged); !errors.Is(err, meta.ErrDeclined) {
		t.Errorf("voucher signed by another key: %v, want declined", err)
	}
	if err := store(); err != nil {
		t.Fatalf("store after paying: %v", err)
	}

	before, _ := chain.Chain().Balance(ctx, provAddr)
	claims, err := s.Payee().Claim(ctx)
	if err != nil || len(claims) != 1 || claims[0].Err != nil {
		t.Fatalf("claims %+v, %v", claims, err)
	}
	after, _ := chain.Chain().Balance(ctx, provAddr)
	want := new(big.Int).Sub(big.NewInt(2*perReplica), claims[0].Gas)
	if got := new(big.Int).Sub(after, before); got.Cmp(want) != 0 {
		t.Fatalf("provider balance moved by %v, want %v (vouchers less gas)", got, want)
	}
}
