package pay_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/provider/pay"
)

// memKV is an in-memory pay.KV.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(key []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[string(key)]
	if !ok {
		return nil, meta.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (k *memKV) Put(pairs ...pay.Pair) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range pairs {
		k.m[string(p.Key)] = bytes.Clone(p.Value)
	}
	return nil
}

func (k *memKV) Write(pairs ...pay.Pair) error { return k.Put(pairs...) }

func (k *memKV) Each(prefix []byte, fn func(key, val []byte) error) error {
	k.mu.Lock()
	var keys []string
	for key := range k.m {
		if strings.HasPrefix(key, string(prefix)) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, key := range keys {
		vals[i] = bytes.Clone(k.m[key])
	}
	k.mu.Unlock()
	for i, key := range keys {
		if err := fn([]byte(key), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func openStore(t testing.TB) meta.Store {
	db, err := badgerdb.Open(filepath.Join(t.TempDir(), "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestBadVouchersRejected: a replayed or lower voucher, one signed by
// another key and one above the deposit are refused by the Payee and, sent
// straight to the contract, make claim revert.
func TestBadVouchersRejected(t *testing.T) {
	clientKey, provKey, otherKey := newKey(t), newKey(t), newKey(t)
	d := startChain(t, clientKey, provKey, otherKey)
	ch := d.Chain()
	ctx := ctxT(t)
	client, prov := addr(clientKey), addr(provKey)

	payer, err := pay.NewPayer(pay.PayerConfig{Chain: ch, Key: clientKey, Store: openStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	// The test moves the chain's clock by hand: the payee reads it for
	// every voucher (TestPayeeRereadsChainClock covers the default).
	payee, err := pay.NewPayee(pay.PayeeConfig{Chain: ch, Key: provKey, Store: newMemKV(), ClockTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	if payer.Ready(ctx, prov, big.NewInt(1)) {
		t.Fatal("ready before any channel")
	}
	st, err := payer.Ensure(ctx, prov, big.NewInt(300), big.NewInt(1000))
	if err != nil {
		t.Fatal(err)
	}
	if st.Deposit.Cmp(big.NewInt(1000)) != 0 || !payer.Ready(ctx, prov, big.NewInt(1000)) || payer.Ready(ctx, prov, big.NewInt(1001)) {
		t.Fatalf("channel %+v", st)
	}
	if got, err := ch.ChannelOf(ctx, client, prov); err != nil || got != st.ID {
		t.Fatalf("channelOf = %d, %v; want %d", got, err, st.ID)
	}

	v1, err := payer.Pay(ctx, prov, big.NewInt(300))
	if err != nil {
		t.Fatal(err)
	}
	acc, err := payee.Accept(ctx, client, v1)
	if err != nil || acc.Credited.Cmp(big.NewInt(300)) != 0 {
		t.Fatalf("first voucher: %+v, %v", acc, err)
	}
	v2, err := payer.Pay(ctx, prov, big.NewInt(200))
	if err != nil || v2.Cumulative.Cmp(big.NewInt(500)) != 0 {
		t.Fatalf("second voucher: %+v, %v", v2, err)
	}

	other, err := pay.SignVoucher(otherKey, ch.Address(), ch.ChainID(), st.ID, big.NewInt(700))
	if err != nil {
		t.Fatal(err)
	}
	above, err := pay.SignVoucher(clientKey, ch.Address(), ch.ChainID(), st.ID, big.NewInt(1001))
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name   string
		from   [20]byte
		v      *pay.Voucher
		reason error
	}{
		{"replayed", client, v1, pay.ErrStaleVoucher},
		{"signed by another key", client, other, pay.ErrBadVoucher},
		{"sent by another client", addr(otherKey), other, pay.ErrBadVoucher},
		{"above the deposit", client, above, pay.ErrBadVoucher},
	}
	for _, b := range bad {
		if _, err := payee.Accept(ctx, b.from, b.v); !errors.Is(err, b.reason) {
			t.Errorf("%s voucher: Accept = %v, want %v", b.name, err, b.reason)
		} else {
			t.Logf("%s voucher refused: %v", b.name, err)
		}
	}
	if _, err := payee.Accept(ctx, client, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := payee.Accept(ctx, client, v1); !errors.Is(err, pay.ErrStaleVoucher) {
		t.Errorf("lower voucher after a higher one: %v", err)
	}

	// Billing: 800 billed, 500 paid.
	if err := payee.Bill(client, big.NewInt(800)); err != nil {
		t.Fatal(err)
	}
	if u, _ := payee.Unpaid(client); u.Cmp(big.NewInt(300)) != 0 {
		t.Errorf("unpaid = %v, want 300", u)
	}

	// The contract refuses the same vouchers.
	if _, err := ch.Claim(ctx, provKey, other); !errors.Is(err, pay.ErrReverted) || !strings.Contains(err.Error(), "BadSignature") {
		t.Errorf("claim of a voucher signed by another key: %v", err)
	}
	if _, err := ch.Claim(ctx, provKey, above); !errors.Is(err, pay.ErrReverted) || !strings.Contains(err.Error(), "AboveDeposit") {
		t.Errorf("claim above the deposit: %v", err)
	}
	if _, err := ch.Claim(ctx, otherKey, v2); !errors.Is(err, pay.ErrReverted) || !strings.Contains(err.Error(), "NotProvider") {
		t.Errorf("claim by someone else than the provider: %v", err)
	}
	claims, err := payee.Claim(ctx)
	if err != nil || len(claims) != 1 || claims[0].Err != nil || claims[0].Amount.Cmp(big.NewInt(500)) != 0 {
		t.Fatalf("payee claim: %+v, %v", claims, err)
	}
	for _, v := range []*pay.Voucher{v1, v2} {
		if _, err := ch.Claim(ctx, provKey, v); !errors.Is(err, pay.ErrReverted) || !strings.Contains(err.Error(), "NotAbovePaid") {
			t.Errorf("claim of a replayed or lower voucher (%v): %v", v.Cumulative, err)
		}
	}
	if claims, err := payee.Claim(ctx); err != nil || len(claims) != 0 {
		t.Errorf("second claim round: %+v, %v", claims, err)
	}

	// After the expiry the client reclaims the rest: 1000 - 500.
	if _, err := payer.Reclaim(ctx, prov); err == nil {
		t.Fatal("reclaim before the expiry worked")
	}
	if err := d.AdjustTime(pay.DefaultLifetime + time.Hour); err != nil {
		t.Fatal(err)
	}
	before, _ := payer.Balance(ctx)
	got, err := payer.ReclaimExpired(ctx)
	if err != nil || len(got) != 1 || got[0].Amount.Cmp(big.NewInt(500)) != 0 {
		t.Fatalf("reclaimed %+v, %v; want 500", got, err)
	}
	after, _ := payer.Balance(ctx)
	if d, want := new(big.Int).Sub(after, before), new(big.Int).Sub(big.NewInt(500), got[0].Gas); d.Cmp(want) != 0 {
		t.Errorf("client balance moved by %v, want 500 - gas = %v", d, want)
	}
	if id, _ := ch.ChannelOf(ctx, client, prov); id != 0 {
		t.Errorf("channelOf after reclaim = %d", id)
	}
	// A voucher on the closed channel is refused.
	v3, _ := pay.SignVoucher(clientKey, ch.Address(), ch.ChainID(), st.ID, big.NewInt(900))
	if _, err := payee.Accept(context.Background(), client, v3); !errors.Is(err, pay.ErrBadVoucher) {
		t.Errorf("voucher on a closed channel: %v", err)
	}
}

// TestPayeeClaimsBeforeExpiry: Run's round claims a channel's latest
// voucher once the channel is within ClaimBefore of its expiry, not before.
func TestPayeeClaimsBeforeExpiry(t *testing.T) {
	clientKey, provKey := newKey(t), newKey(t)
	d := startChain(t, clientKey, provKey)
	ctx := ctxT(t)
	payer, err := pay.NewPayer(pay.PayerConfig{Chain: d.Chain(), Key: clientKey, Store: openStore(t), Lifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	payee, err := pay.NewPayee(pay.PayeeConfig{Chain: d.Chain(), Key: provKey, Store: newMemKV(), ClaimBefore: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := payer.Pay(ctx, addr(provKey), big.NewInt(4242))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payee.Accept(ctx, addr(clientKey), v); err != nil {
		t.Fatal(err)
	}
	if claims, err := payee.ClaimExpiring(ctx); err != nil || len(claims) != 0 {
		t.Fatalf("claimed two days before the expiry: %+v, %v", claims, err)
	}
	if err := d.AdjustTime(47*time.Hour + 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	claims, err := payee.ClaimExpiring(ctx)
	if err != nil || len(claims) != 1 || claims[0].Err != nil || claims[0].Amount.Cmp(big.NewInt(4242)) != 0 {
		t.Fatalf("claims near the expiry: %+v, %v", claims, err)
	}
	chans, err := payee.Channels()
	if err != nil || len(chans) != 1 || chans[0].Unclaimed.Sign() != 0 || chans[0].Claimed.Cmp(big.NewInt(4242)) != 0 {
		t.Fatalf("channels after the claim: %+v, %v", chans, err)
	}
}

// TestPayeeRereadsChainClock: Accept reuses a reading of the chain's clock
// for ClockTTL only. Once it is older, a jump of the chain's clock is seen:
// a voucher on a channel that now expires within MinRemaining is refused,
// one on a channel with time left is still taken.
func TestPayeeRereadsChainClock(t *testing.T) {
	clientKey, provKey := newKey(t), newKey(t)
	d := startChain(t, clientKey, provKey)
	ctx := ctxT(t)
	payer, err := pay.NewPayer(pay.PayerConfig{Chain: d.Chain(), Key: clientKey, Store: openStore(t), Lifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 300 * time.Millisecond
	payee, err := pay.NewPayee(pay.PayeeConfig{Chain: d.Chain(), Key: provKey, Store: newMemKV(), MinRemaining: time.Hour, ClockTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	pay1 := func() error {
		v, err := payer.Pay(ctx, addr(provKey), big.NewInt(10))
		if err != nil {
			t.Fatal(err)
		}
		_, err = payee.Accept(ctx, addr(clientKey), v)
		return err
	}
	for range 3 {
		if err := pay1(); err != nil {
			t.Fatalf("voucher on a two-day channel: %v", err)
		}
	}
	// 46 h 30 min later the channel has 90 minutes left: still enough.
	if err := d.AdjustTime(46*time.Hour + 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if err := pay1(); err != nil {
		t.Fatalf("voucher with 90 minutes left: %v", err)
	}
	// 40 minutes more and it has 50 minutes: under MinRemaining.
	if err := d.AdjustTime(40 * time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if err := pay1(); !errors.Is(err, pay.ErrBadVoucher) {
		t.Fatalf("voucher on a channel expiring within MinRemaining: %v, want ErrBadVoucher", err)
	}
}

// TestPayerStateIsTheStores: what a Payer keeps in memory of its channel
// records never strays from what it stored. Changing a record a caller
// got back changes nothing; a new Payer on the same store (a restart)
// goes on from the same totals.
func TestPayerStateIsTheStores(t *testing.T) {
	clientKey, provKey := newKey(t), newKey(t)
	d := startChain(t, clientKey, provKey)
	ctx := ctxT(t)
	store := openStore(t)
	payer, err := pay.NewPayer(pay.PayerConfig{Chain: d.Chain(), Key: clientKey, Store: store, Lifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	prov := addr(provKey)
	for _, amount := range []int64{100, 20, 3} {
		if _, err := payer.Pay(ctx, prov, big.NewInt(amount)); err != nil {
			t.Fatal(err)
		}
	}
	if err := payer.Acked(ctx, prov, 0, big.NewInt(0)); err != nil {
		t.Fatal(err)
	}
	st, err := payer.Channel(ctx, prov)
	if err != nil || st == nil {
		t.Fatalf("channel: %+v, %v", st, err)
	}
	if err := payer.Acked(ctx, prov, st.ID, big.NewInt(120)); err != nil {
		t.Fatal(err)
	}
	st.Cumulative.SetInt64(0) // the caller's copy
	st.Signature[0] ^= 0xff
	v, err := payer.Latest(ctx, prov)
	if err != nil || v == nil || v.Cumulative.Int64() != 123 {
		t.Fatalf("latest after a caller changed its copy: %+v, %v", v, err)
	}
	again, err := pay.NewPayer(pay.PayerConfig{Chain: d.Chain(), Key: clientKey, Store: store, Lifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := again.Latest(ctx, prov)
	if err != nil || v2 == nil || v2.Cumulative.Cmp(v.Cumulative) != 0 || !bytes.Equal(v2.Signature, v.Signature) {
		t.Fatalf("after a restart, latest %+v (%v), want %+v", v2, err, v)
	}
	chans, err := again.Channels(ctx)
	if err != nil || len(chans) != 1 || chans[0].Acked.Int64() != 120 || chans[0].Cumulative.Int64() != 123 {
		t.Fatalf("after a restart, channels %+v, %v", chans, err)
	}
	if v3, err := again.Pay(ctx, prov, big.NewInt(7)); err != nil || v3.Cumulative.Int64() != 130 {
		t.Fatalf("a payment after the restart: %+v, %v", v3, err)
	}
}
