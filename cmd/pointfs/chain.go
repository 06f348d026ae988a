package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/pay/devchain"
)

// Payments in the command (DESIGN §5). The embedded devnet of `pointfs
// mount` and `pointfs devnet` run an in-process dev chain (go-ethereum's
// simulated beacon, memory only: each start is a new chain with the
// contract deployed anew), fund the client and every provider, and have
// the providers charge devnetPrice. `pointfs devnet` serves the chain as
// JSON-RPC on 127.0.0.1 and its provider processes reach it with
// --eth-rpc/--contract, as they would reach any real endpoint. A data dir
// whose config names eth_rpc and contract pays through that endpoint.

// devnetPrice is what devnet providers charge, in wei per byte per day
// (the default of `pointfs provider --price`).
var devnetPrice = big.NewInt(1)

// startDevChain starts the in-process chain, funding accounts.
func startDevChain(ctx context.Context, rpc bool, fund ...common.Address) (*devchain.DevChain, error) {
	c, err := devchain.Start(ctx, devchain.Config{Fund: fund, RPC: rpc})
	if err != nil {
		return nil, fmt.Errorf("dev chain: %w", err)
	}
	return c, nil
}

// addressOf is a key's Ethereum address.
func addressOf(k *ecdsa.PrivateKey) common.Address { return ethcrypto.PubkeyToAddress(k.PublicKey) }

// dialChain connects to a JSON-RPC endpoint and binds the contract.
func dialChain(ctx context.Context, url, contract string) (*pay.Chain, error) {
	if contract == "" {
		return nil, fmt.Errorf("%w: an Ethereum endpoint (%s) needs the PaymentChannel contract's address", meta.ErrInvalid, url)
	}
	if !common.IsHexAddress(contract) {
		return nil, fmt.Errorf("%w: contract %q is not an address", meta.ErrInvalid, contract)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return pay.Dial(ctx, url, common.HexToAddress(contract))
}

// newPayer makes the engine's payer on chain.
func newPayer(chain *pay.Chain, key *ecdsa.PrivateKey, store meta.Store, log *slog.Logger) (*pay.Payer, error) {
	return pay.NewPayer(pay.PayerConfig{Chain: chain, Key: key, Store: store, Logger: log.With("part", "payer")})
}

// cmdProviderClaim is `pointfs provider claim`: it cashes in the vouchers a
// (stopped) provider holds and says what it got.
func cmdProviderClaim(args []string) error {
	fl := newFlags("provider claim")
	data := dataFlag(fl)
	ethRPC := fl.String("eth-rpc", "", "Ethereum JSON-RPC `URL` (default: the one the provider last ran with)")
	contract := fl.String("contract", "", "PaymentChannel contract `ADDRESS` (default: the one the provider last ran with)")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("provider claim takes no arguments")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	if *ethRPC == "" || *contract == "" {
		if info, err := readProviderInfo(d); err == nil {
			if *ethRPC == "" {
				*ethRPC = info.EthRPC
			}
			if *contract == "" {
				*contract = info.Contract
			}
		}
	}
	if *ethRPC == "" {
		return usagef("provider claim needs --eth-rpc URL (the provider in %s never ran with one)", d)
	}
	ctx, cancel := signalContext()
	defer cancel()
	chain, err := dialChain(ctx, *ethRPC, *contract)
	if err != nil {
		return err
	}
	defer chain.Close()
	claims, err := provider.Claim(ctx, d, provider.PayConfig{Chain: chain}, slogFor("warn"))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return fmt.Errorf("the provider in %s is running: stop it first (it claims on its own before channels expire)", d)
		}
		return err
	}
	total, gas := new(big.Int), new(big.Int)
	failed := 0
	for _, c := range claims {
		if c.Err != nil {
			failed++
			fmt.Printf("channel %d from %s: not claimed: %v\n", c.Channel, c.Client.Hex(), c.Err)
			continue
		}
		total.Add(total, c.Amount)
		gas.Add(gas, c.Gas)
		fmt.Printf("channel %d from %s: claimed %v wei (voucher for %v wei, gas %v wei)\n", c.Channel, c.Client.Hex(), c.Amount, c.Cumulative, c.Gas)
	}
	if len(claims) == 0 {
		fmt.Println("nothing to claim")
		return nil
	}
	fmt.Printf("claimed %v wei in total on %d channels (gas %v wei)\n", total, len(claims)-failed, gas)
	if failed > 0 {
		return fmt.Errorf("%d of %d claims failed", failed, len(claims))
	}
	return nil
}

func readProviderInfo(dir string) (*providerInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, "provider.json"))
	if err != nil {
		return nil, err
	}
	var info providerInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
