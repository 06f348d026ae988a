// Package devchain is an in-process Ethereum chain for development and
// tests (DESIGN §5): the embedded default of `pointfs mount` and `pointfs
// devnet`. It is apart from package pay because it links a whole
// go-ethereum node, which only the command and tests need.
package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/pointfs/pointfs/provider/pay"
)

// DefaultFunds is what a DevChain gives each funded account: 1000 ether.
var DefaultFunds = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))

// Config configures a DevChain.
type Config struct {
	// Fund are accounts given Funds wei in the genesis block.
	Fund []common.Address
	// Funds is what each funded account gets (DefaultFunds when nil).
	Funds *big.Int
	// RPC serves the chain as JSON-RPC over HTTP on 127.0.0.1 (modules
	// eth, net, web3), so other processes can use it with --eth-rpc.
	RPC bool
	// RPCPort is the port to serve on; 0 picks a free one.
	RPCPort int
}

// DevChain is an in-process Ethereum chain for development and tests:
// go-ethereum's simulated beacon over a real (memory-only) node, as in
// ethclient/simulated, which mines a block whenever transactions are
// pending, with the PaymentChannel contract deployed and accounts funded.
// It starts in well under a second.
type DevChain struct {
	node    *node.Node
	eth     *eth.Ethereum
	beacon  *catalyst.SimulatedBeacon
	client  *ethclient.Client
	backend *devBackend
	chain   *pay.Chain
	faucet  *ecdsa.PrivateKey
	funds   *big.Int

	sealMu sync.Mutex // one block at a time
	sub    interface{ Unsubscribe() }
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// Start starts a dev chain, funds cfg.Fund and a faucet of its own,
// and deploys the contract.
func Start(ctx context.Context, cfg Config) (_ *DevChain, err error) {
	funds := cfg.Funds
	if funds == nil {
		funds = DefaultFunds
	}
	faucet, err := ethcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	alloc := core.SystemContractAllocs()
	// The faucet holds enough to fund many more accounts later.
	alloc[ethcrypto.PubkeyToAddress(faucet.PublicKey)] = types.Account{Balance: new(big.Int).Mul(funds, big.NewInt(1<<20))}
	for _, a := range cfg.Fund {
		alloc[a] = types.Account{Balance: new(big.Int).Set(funds)}
	}

	nodeConf := node.DefaultConfig
	nodeConf.DataDir = ""
	nodeConf.P2P = p2p.Config{NoDiscovery: true}
	nodeConf.HTTPHost = ""
	if cfg.RPC {
		nodeConf.HTTPHost = "127.0.0.1"
		nodeConf.HTTPPort = cfg.RPCPort
		nodeConf.HTTPModules = []string{"eth", "net", "web3"}
		nodeConf.HTTPVirtualHosts = []string{"localhost", "127.0.0.1"}
	}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{
		Config:   params.AllDevChainProtocolChanges,
		GasLimit: ethconfig.Defaults.Miner.GasCeil,
		Alloc:    alloc,
	}
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	ethConf.LogNoHistory = true

	stack, err := node.New(&nodeConf)
	if err != nil {
		return nil, fmt.Errorf("devchain: node: %w", err)
	}
	d := &DevChain{node: stack, faucet: faucet, funds: funds, stop: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.eth, err = eth.New(stack, &ethConf); err != nil {
		return nil, fmt.Errorf("devchain:: %w", err)
	}
	fs := filters.NewFilterSystem(d.eth.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(fs)}})
	if err = stack.Start(); err != nil {
		return nil, fmt.Errorf("devchain: start: %w", err)
	}
	if d.beacon, err = catalyst.NewSimulatedBeacon(0, common.Address{}, d.eth); err != nil {
		return nil, fmt.Errorf("devchain: beacon: %w", err)
	}
	if err = d.beacon.Fork(d.eth.BlockChain().GetCanonicalHash(0)); err != nil {
		return nil, fmt.Errorf("devchain: beacon: %w", err)
	}
	d.client = ethclient.NewClient(stack.Attach())
	d.backend = &devBackend{Client: d.client, d: d}

	// Mine whenever a transaction enters the pool, from this process or
	// through JSON-RPC.
	txs := make(chan core.NewTxsEvent, 64)
	d.sub = d.eth.TxPool().SubscribeTransactions(txs, false)
	go d.autoMine(txs)

	addr, err := pay.Deploy(ctx, d.backend, faucet)
	if err != nil {
		return nil, err
	}
	if d.chain, err = pay.NewChain(ctx, d.backend, addr); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DevChain) autoMine(txs <-chan core.NewTxsEvent) {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case <-txs:
		}
		// Take every event already queued: one block holds them all.
		for drained := false; !drained; {
			select {
			case <-txs:
			default:
				drained = true
			}
		}
		d.mine()
	}
}

// mine seals a block if transactions are pending.
func (d *DevChain) mine() {
	d.sealMu.Lock()
	defer d.sealMu.Unlock()
	if d.closed {
		return
	}
	pool := d.eth.TxPool()
	if err := pool.Sync(); err != nil {
		return
	}
	if pending, _ := pool.Stats(); pending > 0 {
		d.beacon.Commit()
	}
}

// Commit seals a block now, empty or not.
func (d *DevChain) Commit() {
	d.sealMu.Lock()
	defer d.sealMu.Unlock()
	if !d.closed {
		d.beacon.Commit()
	}
}

// AdjustTime seals a block dt later than the latest one: the chain's clock
// jumps ahead (to test expiries). Pending transactions are mined first.
func (d *DevChain) AdjustTime(dt time.Duration) error {
	d.mine()
	d.sealMu.Lock()
	defer d.sealMu.Unlock()
	if d.closed {
		return errors.New("devchain: closed")
	}
	return d.beacon.AdjustTime(dt)
}

// Backend returns the in-process client. Its transactions are mined at
// once.
func (d *DevChain) Backend() pay.Backend { return d.backend }

// Chain returns the deployed contract on the in-process client.
func (d *DevChain) Chain() *pay.Chain { return d.chain }

// Contract returns the contract's address.
func (d *DevChain) Contract() common.Address { return d.chain.Address() }

// URL returns the JSON-RPC endpoint ("" unless Config.RPC).
func (d *DevChain) URL() string {
	if d.node.Config().HTTPHost == "" {
		return ""
	}
	return d.node.HTTPEndpoint()
}

// Fund sends amount wei (Config.Funds when nil) from the faucet to each
// account.
func (d *DevChain) Fund(ctx context.Context, amount *big.Int, accounts ...common.Address) error {
	if amount == nil {
		amount = d.funds
	}
	for _, a := range accounts {
		if _, err := d.chain.Transfer(ctx, d.faucet, a, amount); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the chain and its RPC server.
func (d *DevChain) Close() error {
	d.sealMu.Lock()
	if d.closed {
		d.sealMu.Unlock()
		return nil
	}
	d.closed = true
	d.sealMu.Unlock()
	close(d.stop)
	if d.sub != nil {
		d.sub.Unsubscribe()
		<-d.done
	}
	var errs []error
	if d.client != nil {
		d.client.Close()
	}
	if d.beacon != nil {
		errs = append(errs, d.beacon.Stop())
	}
	errs = append(errs, d.node.Close())
	return errors.Join(errs...)
}

// devBackend is the in-process client; waitMined asks it to mine what is
// pending, so a transaction sent in this process is mined at once.
type devBackend struct {
	*ethclient.Client
	d *DevChain
}

// Mine implements pay.Miner.
func (b *devBackend) Mine() { b.d.mine() }
