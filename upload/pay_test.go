package upload_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/pay/devchain"
	"github.com/pointfs/pointfs/upload"
)

// payNet is a dev chain, providers that charge 1 wei per byte per day and
// take payments on it, and the client's key.
type payNet struct {
	chain   *devchain.DevChain
	servers []*provider.Server
	keys    []*ecdsa.PrivateKey // of the servers
	dirs    []string            // of the servers
	dir     string              // the client's data dir
	key     *ecdsa.PrivateKey   // the client's
}

func startPayNet(t *testing.T, n int, clientFunds *big.Int) *payNet {
	t.Helper()
	pn := &payNet{dir: t.TempDir()}
	var err error
	if pn.key, err = provider.LoadOrCreateKey(filepath.Join(pn.dir, "key")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		k, err := provider.LoadOrCreateKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		pn.dirs = append(pn.dirs, dir)
		pn.keys = append(pn.keys, k)
	}
	pn.start(t, clientFunds)
	return pn
}

// start starts a new chain and the providers on it.
func (pn *payNet) start(t *testing.T, clientFunds *big.Int) {
	t.Helper()
	ctx := context.Background()
	var fund []common.Address
	for _, k := range pn.keys {
		fund = append(fund, ethcrypto.PubkeyToAddress(k.PublicKey))
	}
	var err error
	if pn.chain, err = devchain.Start(ctx, devchain.Config{Fund: fund}); err != nil {
		t.Fatal(err)
	}
	chain := pn.chain
	t.Cleanup(func() { chain.Close() })
	if err := pn.chain.Fund(ctx, clientFunds, ethcrypto.PubkeyToAddress(pn.key.PublicKey)); err != nil {
		t.Fatal(err)
	}
	pn.servers = nil
	var boot []peer.AddrInfo
	for i, dir := range pn.dirs {
		s, err := provider.Start(ctx, provider.Config{
			DataDir: dir, Key: pn.keys[i], Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot,
			PricePerByteDay: big.NewInt(1), Pay: provider.PayConfig{Chain: pn.chain.Chain()},
			Logger: testLogger(t).With("provider", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if i == 0 {
			boot = []peer.AddrInfo{s.AddrInfo()}
		}
		pn.servers = append(pn.servers, s)
	}
}

// restart stops the providers and the chain and starts them again: a new
// chain (a dev chain keeps nothing), the providers' data dirs kept.
func (pn *payNet) restart(t *testing.T) {
	for _, s := range pn.servers {
		s.Close()
	}
	pn.chain.Close()
	pn.start(t, nil)
}

// client opens the engine with a payer on the chain.
func (pn *payNet) client(t *testing.T) *client {
	return openClient(t, pn.dir, pn.servers, func(cfg *upload.Config) {
		p, err := pay.NewPayer(pay.PayerConfig{Chain: pn.chain.Chain(), Key: pn.key, Store: cfg.Store, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Payer = p
		cfg.PayRetry = 200 * time.Millisecond
	})
}

// waitPaid waits until every payment of file id is acknowledged.
func waitPaid(t *testing.T, e *upload.Engine, id meta.ID) []upload.ProviderSpend {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spend, err := e.Spend(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		pending := false
		for _, s := range spend {
			pending = pending || s.Pending != ""
		}
		if !pending && len(spend) > 0 {
			return spend
		}
		if time.Now().After(deadline) {
			t.Fatalf("payments not acknowledged: %+v", spend)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wei(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return v
}

// TestUploadPaysEachProviderExactly: an upload at redundancy 3 pays each
// signed link's price to its provider through the provider's channel; the
// providers claim and their balances rise by exactly the sum of their
// vouchers less gas; after the channels expire the client reclaims the
// rest of its deposits.
func TestUploadPaysEachProviderExactly(t *testing.T) {
	ctx := context.Background()
	pn := startPayNet(t, 3, nil)
	c := pn.client(t)
	data := randomBytes(t, 1<<20+4321) // 5 chunks and the chunkinfo
	id := putBytes(t, c.engine, data, &meta.Policy{Redundancy: 3, Expires: time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)})
	waitUploaded(t, c.engine, id, time.Minute)
	spend := waitPaid(t, c.engine, id)

	// What each provider is owed: the prices of its signed links.
	want, links, st := linkPrices(t, c.engine, id)
	if links != 3*len(st.Chunks) || len(want) != 3 {
		t.Fatalf("%d signed links at %d providers for %d chunks", links, len(want), len(st.Chunks))
	}
	total := new(big.Int)
	for _, s := range spend {
		if wei(s.Paid).Cmp(want[s.Address]) != 0 {
			t.Errorf("provider %s: spend %s, links cost %v", s.Address, s.Paid, want[s.Address])
		}
		total.Add(total, wei(s.Paid))
	}
	if cost, err := c.engine.Cost(ctx, id); err != nil || cost.Cmp(total) != 0 || st.Cost != total.String() {
		t.Fatalf("cost %v (status %s), %v; want %v", cost, st.Cost, err, total)
	}
	t.Logf("%d links, cost %v wei", links, total)

	// Each provider claims: its balance rises by its vouchers, less gas.
	ch := pn.chain.Chain()
	for i, s := range pn.servers {
		a := ethcrypto.PubkeyToAddress(pn.keys[i].PublicKey)
		if u, _ := s.Payee().Unpaid(c.engine.Address()); u.Sign() > 0 {
			t.Errorf("provider %d: client still owes %v", i, u)
		}
		before, _ := ch.Balance(ctx, a)
		claims, err := s.Payee().Claim(ctx)
		if err != nil || len(claims) != 1 || claims[0].Err != nil {
			t.Fatalf("provider %d claims: %+v, %v", i, claims, err)
		}
		after, _ := ch.Balance(ctx, a)
		if claims[0].Cumulative.Cmp(want[a]) != 0 || claims[0].Amount.Cmp(want[a]) != 0 {
			t.Errorf("provider %d claimed %v (voucher %v), links cost %v", i, claims[0].Amount, claims[0].Cumulative, want[a])
		}
		delta := new(big.Int).Sub(after, before)
		if exp := new(big.Int).Sub(want[a], claims[0].Gas); delta.Cmp(exp) != 0 {
			t.Errorf("provider %d: balance moved by %v, want %v - gas %v = %v", i, delta, want[a], claims[0].Gas, exp)
		}
	}

	// After the channels expire, the client takes back what is left.
	payer := c.engine.Payer()
	chans, err := payer.Channels(ctx)
	if err != nil || len(chans) != 3 {
		t.Fatalf("channels %d, %v", len(chans), err)
	}
	left := new(big.Int)
	for _, cs := range chans {
		left.Add(left, cs.Available())
	}
	if left.Sign() <= 0 {
		t.Fatalf("nothing left in the deposits")
	}
	if _, err := payer.ReclaimExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pn.chain.AdjustTime(pay.DefaultLifetime + time.Hour); err != nil {
		t.Fatal(err)
	}
	before, _ := payer.Balance(ctx)
	got, err := payer.ReclaimExpired(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("reclaimed %+v, %v", got, err)
	}
	back, gas := new(big.Int), new(big.Int)
	for _, r := range got {
		back.Add(back, r.Amount)
		gas.Add(gas, r.Gas)
	}
	if back.Cmp(left) != 0 {
		t.Fatalf("reclaimed %v, want deposits less payments = %v", back, left)
	}
	after, _ := payer.Balance(ctx)
	if gain, want := new(big.Int).Sub(after, before), new(big.Int).Sub(back, gas); gain.Cmp(want) != 0 {
		t.Errorf("client balance moved by %v, want %v reclaimed - %v gas", gain, back, gas)
	}
	for _, cs := range chans {
		if oc, _ := ch.Channel(ctx, cs.ID); !oc.Closed || oc.Paid.Cmp(want[cs.Provider]) != 0 {
			t.Errorf("channel %d after reclaim: %+v", cs.ID, oc)
		}
	}
}

// TestOutOfFundsIsVisible: a client whose account cannot fund a channel
// keeps its links in establish_payment_channel with the reason shown, and
// the upload goes on by itself once the account is funded.
func TestOutOfFundsIsVisible(t *testing.T) {
	ctx := context.Background()
	pn := startPayNet(t, 3, big.NewInt(1000)) // not even the gas of a channel
	c := pn.client(t)
	id := putBytes(t, c.engine, randomBytes(t, 300<<10), &meta.Policy{Redundancy: 3, Expires: time.Now().Add(24 * time.Hour).Truncate(time.Second)})

	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.engine.Status(ctx, id, true)
		if err != nil {
			t.Fatal(err)
		}
		waiting := 0
		for _, cs := range st.Chunks {
			for _, l := range cs.Links {
				if l.State == meta.LinkFailed {
					t.Fatalf("link failed for lack of money: %s", l.Error)
				}
				if l.State == meta.LinkEstablishPaymentChannel && strings.Contains(l.Error, "insufficient funds") {
					waiting++
				}
			}
		}
		ps := c.engine.PaymentStatus()
		if waiting > 0 && strings.Contains(st.Payment, "insufficient funds") && ps.State == "blocked" {
			t.Logf("%d links wait: %s", waiting, st.Payment)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no visible out-of-funds state: payment %q, engine %+v", st.Payment, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := pn.chain.Fund(ctx, nil, c.engine.Address()); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, c.engine, id, time.Minute)
	waitPaid(t, c.engine, id)
	if ps := c.engine.PaymentStatus(); ps.State != "ok" {
		t.Errorf("payment status after funding: %+v", ps)
	}
}

// TestNewDevChainAfterRestart: the embedded devnet's chain is new at each
// start. A client and providers that restart on a new chain leave the old
// channels aside, open new ones on the new contract, and are paid there.
func TestNewDevChainAfterRestart(t *testing.T) {
	ctx := context.Background()
	pn := startPayNet(t, 3, nil)
	c := pn.client(t)
	pol := &meta.Policy{Redundancy: 3, Expires: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
	id1 := putBytes(t, c.engine, randomBytes(t, 100<<10), pol)
	waitUploaded(t, c.engine, id1, time.Minute)
	cost1 := waitPaid(t, c.engine, id1)
	old := pn.chain.Contract()
	c.close()

	pn.restart(t)
	c = pn.client(t)
	id2 := putBytes(t, c.engine, randomBytes(t, 100<<10), pol)
	waitUploaded(t, c.engine, id2, time.Minute)
	waitPaid(t, c.engine, id2)
	if again, _ := c.engine.Spend(ctx, id1); len(again) != len(cost1) || again[0].Paid != cost1[0].Paid {
		t.Errorf("spend of the first file changed: %+v, was %+v", again, cost1)
	}
	chans, err := c.engine.Payer().Channels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	onNew := 0
	for _, cs := range chans {
		if cs.Contract == pn.chain.Contract() {
			onNew++
		} else if cs.Contract != old {
			t.Errorf("channel on an unknown contract %s", cs.Contract)
		}
	}
	if onNew != 3 || len(chans) != 6 {
		t.Fatalf("%d channels, %d on the new contract", len(chans), onNew)
	}
	for _, s := range pn.servers {
		claims, err := s.Payee().Claim(ctx)
		if err != nil || len(claims) != 1 || claims[0].Err != nil {
			t.Fatalf("claims on the new chain: %+v, %v", claims, err)
		}
	}
}

// slowPayments is the client's network with SendMicropayment counted and
// held up by delay, or, with block set, failing at once as if the
// providers could not be reached for payments.
type slowPayments struct {
	*provider.Client
	delay time.Duration
	block bool
	sends atomic.Int32
}

func (s *slowPayments) SendMicropayment(ctx context.Context, p peer.ID, v *pay.Voucher) (*big.Int, error) {
	s.sends.Add(1)
	if s.block {
		return nil, fmt.Errorf("payments to %s blocked by the test", p)
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Client.SendMicropayment(ctx, p, v)
}

// linkPrices returns what the signed links of file id owe each provider,
// how many there are, and the file's detailed status. Each of those links
// must have one payment, of its price, acknowledged (call it once the
// file is paid for, waitPaid).
func linkPrices(t *testing.T, e *upload.Engine, id meta.ID) (map[common.Address]*big.Int, int, *upload.FileStatus) {
	t.Helper()
	st, err := e.Status(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[common.Address]*big.Int{}
	n := 0
	for _, cs := range st.Chunks {
		for _, l := range cs.Links {
			if l.State != meta.LinkSigned {
				continue
			}
			n++
			if want[l.Address] == nil {
				want[l.Address] = new(big.Int)
			}
			want[l.Address].Add(want[l.Address], wei(l.Price))
			if len(l.Payments) != 1 || !l.Payments[0].Acked || l.Payments[0].Amount != l.Price || l.Rate != "1" {
				t.Fatalf("link %s: rate %s, price %s, payments %+v", l.ID, l.Rate, l.Price, l.Payments)
			}
		}
	}
	return want, n, st
}

// checkPaidExactly checks that every provider holds vouchers for exactly
// what the links cost: it is owed nothing and was paid nothing ahead.
func checkPaidExactly(t *testing.T, pn *payNet, client common.Address, want map[common.Address]*big.Int) {
	t.Helper()
	for i, s := range pn.servers {
		a := ethcrypto.PubkeyToAddress(pn.keys[i].PublicKey)
		if u, err := s.Payee().Unpaid(client); err != nil || u.Sign() != 0 {
			t.Errorf("provider %d: client owes %v (%v); want 0", i, u, err)
		}
		claims, err := s.Payee().Claim(context.Background())
		if err != nil || len(claims) != 1 || claims[0].Err != nil {
			t.Fatalf("provider %d claims: %+v, %v", i, claims, err)
		}
		if claims[0].Cumulative.Cmp(want[a]) != 0 {
			t.Errorf("provider %d: voucher for %v, links cost %v", i, claims[0].Cumulative, want[a])
		}
	}
}

// TestPaymentsBatchPerProvider: links signed while a voucher to their
// provider is under way are paid by the next voucher together, and the
// vouchers add up to exactly what the links cost.
func TestPaymentsBatchPerProvider(t *testing.T) {
	pn := startPayNet(t, 3, nil)
	var net *slowPayments
	c := openClient(t, pn.dir, pn.servers, func(cfg *upload.Config) {
		net = &slowPayments{Client: cfg.Net.(*provider.Client), delay: 300 * time.Millisecond}
		cfg.Net = net
		p, err := pay.NewPayer(pay.PayerConfig{Chain: pn.chain.Chain(), Key: pn.key, Store: cfg.Store, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Payer = p
		cfg.PayRetry = time.Hour // only the payment workers pay
	})
	id := putBytes(t, c.engine, randomBytes(t, 2<<20), &meta.Policy{Redundancy: 3, Expires: time.Now().Add(24 * time.Hour).Truncate(time.Second)})
	waitUploaded(t, c.engine, id, time.Minute)
	waitPaid(t, c.engine, id)
	want, links, _ := linkPrices(t, c.engine, id)
	sends := int(net.sends.Load())
	t.Logf("%d links paid with %d vouchers", links, sends)
	if links != 27 || sends >= links {
		t.Fatalf("%d links paid with %d vouchers: want 27 links, fewer vouchers", links, sends)
	}
	checkPaidExactly(t, pn, c.engine.Address(), want)
}

// TestPaymentsOwedSurviveRestart: links signed while their providers could
// not be paid keep what they owe across a restart of the client, which
// then pays each of them once.
func TestPaymentsOwedSurviveRestart(t *testing.T) {
	pn := startPayNet(t, 3, nil)
	var net *slowPayments
	c := openClient(t, pn.dir, pn.servers, func(cfg *upload.Config) {
		net = &slowPayments{Client: cfg.Net.(*provider.Client), block: true}
		cfg.Net = net
		p, err := pay.NewPayer(pay.PayerConfig{Chain: pn.chain.Chain(), Key: pn.key, Store: cfg.Store, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Payer = p
		cfg.PayRetry = time.Hour
	})
	id := putBytes(t, c.engine, randomBytes(t, 600<<10), &meta.Policy{Redundancy: 3, Expires: time.Now().Add(24 * time.Hour).Truncate(time.Second)})
	waitUploaded(t, c.engine, id, time.Minute)
	for deadline := time.Now().Add(10 * time.Second); net.sends.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no payment was tried")
		}
	}
	spend, err := c.engine.Spend(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spend {
		if s.Pending == "" || s.Paid != "0" {
			t.Fatalf("before the restart: %+v; want all pending", spend)
		}
	}
	c.close()

	c = pn.client(t)
	waitPaid(t, c.engine, id)
	want, links, _ := linkPrices(t, c.engine, id)
	if links != 12 {
		t.Fatalf("%d signed links, want 12", links)
	}
	checkPaidExactly(t, pn, c.engine.Address(), want)
}

// TestLostDataDirChannelsReclaimed: a client whose data dir is lost (its
// key kept) finds its channels on chain when it next opens one to the same
// providers, does not pay on them (it does not know what it signed), and
// takes their deposits back once they expire.
func TestLostDataDirChannelsReclaimed(t *testing.T) {
	ctx := context.Background()
	pn := startPayNet(t, 3, nil)
	c := pn.client(t)
	pol := &meta.Policy{Redundancy: 3, Expires: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
	id := putBytes(t, c.engine, randomBytes(t, 100<<10), pol)
	waitUploaded(t, c.engine, id, time.Minute)
	waitPaid(t, c.engine, id)
	lost, err := c.engine.Payer().Channels(ctx)
	if err != nil || len(lost) != 3 {
		t.Fatalf("channels %d, %v", len(lost), err)
	}
	c.close()

	// A new data dir with the same key.
	key, err := os.ReadFile(filepath.Join(pn.dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	pn.dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(pn.dir, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	c = pn.client(t)
	id2 := putBytes(t, c.engine, randomBytes(t, 100<<10), pol)
	waitUploaded(t, c.engine, id2, time.Minute)
	waitPaid(t, c.engine, id2)
	chans, err := c.engine.Payer().Channels(ctx)
	if err != nil || len(chans) != 6 {
		t.Fatalf("after the loss: %d channels, %v; want the 3 lost and 3 new", len(chans), err)
	}
	found := map[uint64]bool{}
	for _, cs := range chans {
		found[cs.ID] = true
	}
	for _, l := range lost {
		if !found[l.ID] {
			t.Errorf("lost channel %d to %s not found again", l.ID, l.Provider)
		}
	}

	if err := pn.chain.AdjustTime(pay.DefaultLifetime + time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := c.engine.Payer().ReclaimExpired(ctx)
	if err != nil || len(got) != 6 {
		t.Fatalf("reclaimed %+v, %v", got, err)
	}
	for _, l := range lost {
		oc, err := pn.chain.Chain().Channel(ctx, l.ID)
		if err != nil || !oc.Closed {
			t.Errorf("lost channel %d after the reclaim: %+v, %v", l.ID, oc, err)
		}
	}
}
