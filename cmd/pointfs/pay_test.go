package main

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/upload"
)

// pendingSpend reports whether a status still shows payments that no
// provider acknowledged.
func pendingSpend(st *upload.FileStatus) bool {
	for _, s := range st.Spend {
		if s.Pending != "" {
			return true
		}
	}
	return false
}

var claimedLine = regexp.MustCompile(`claimed (\d+) wei \(voucher for (\d+) wei, gas (\d+) wei\)`)

// TestDevnetProvidersArePaidOverRPC: `pointfs devnet` serves its chain as
// JSON-RPC and its provider processes use it (--eth-rpc): they verify the
// client's vouchers on it, and `pointfs provider claim` cashes them in
// through it. The provider's balance, read over RPC from here, rises by
// exactly what its links cost, less the claim's gas.
func TestDevnetProvidersArePaidOverRPC(t *testing.T) {
	data, nf := startDevnet(t, 3)
	if !strings.HasPrefix(nf.ChainRPC, "http://127.0.0.1:") || !common.IsHexAddress(nf.Contract) {
		t.Fatalf("network.json: chain_rpc %q, contract %q", nf.ChainRPC, nf.Contract)
	}
	cfg, err := loadConfig(data)
	if err != nil || cfg.EthRPC != nf.ChainRPC || cfg.Contract != nf.Contract {
		t.Fatalf("config.json: eth_rpc %q, contract %q, %v", cfg.EthRPC, cfg.Contract, err)
	}
	in, _ := writeRandom(t, 700<<10)
	id := strings.TrimSpace(mustRun(t, "put", "--data", data, "--redundancy", "3", "--wait", in))
	// Vouchers follow the pledges (a provider's payment worker sends one
	// for the links signed meanwhile): wait for the last acknowledgements.
	st := statusJSON(t, data, id)
	for deadline := time.Now().Add(20 * time.Second); pendingSpend(st) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st = statusJSON(t, data, id)
	}
	if st.Payment != "" || len(st.Spend) != 3 {
		t.Fatalf("status: payment %q, spend %+v", st.Payment, st.Spend)
	}
	owed := map[string]*big.Int{}
	for _, s := range st.Spend {
		if s.Pending != "" || s.Paid == "" || s.Paid == "0" {
			t.Fatalf("spend at %s: %+v", s.Provider, s)
		}
		owed[s.Provider], _ = new(big.Int).SetString(s.Paid, 10)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	chain, err := pay.Dial(ctx, nf.ChainRPC, common.HexToAddress(nf.Contract))
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()

	// The provider claims only when stopped (the running one would claim
	// by itself before the channel expires).
	p := nf.Providers[0]
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); syscall.Kill(p.PID, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("provider %d did not stop", p.PID)
		}
	}
	before, err := chain.Balance(ctx, common.HexToAddress(p.Address))
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "provider", "claim", "--data", p.Data)
	m := claimedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("provider claim printed %q", out)
	}
	amount, _ := new(big.Int).SetString(m[1], 10)
	gas, _ := new(big.Int).SetString(m[3], 10)
	if want := owed[p.PeerID]; want == nil || amount.Cmp(want) != 0 {
		t.Fatalf("claimed %v, the client paid this provider %v", amount, want)
	}
	after, err := chain.Balance(ctx, common.HexToAddress(p.Address))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := new(big.Int).Sub(after, before), new(big.Int).Sub(amount, gas); got.Cmp(want) != 0 {
		t.Fatalf("provider balance moved by %v, want %v claimed - %v gas", got, amount, gas)
	}
	if again := mustRun(t, "provider", "claim", "--data", p.Data); !strings.Contains(again, "nothing to claim") {
		t.Errorf("second claim printed %q", again)
	}
	// A running provider's data dir is refused with a clear message.
	r := run(t, "provider", "claim", "--data", nf.Providers[1].Data)
	if r.code != 1 || !strings.Contains(r.stderr, "running") {
		t.Errorf("claim on a running provider: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(p.Data, "provider.json")); err != nil {
		t.Error(err)
	}
}
