package pay

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/pay/contract"
)

// Backend is what pay needs of an Ethereum node. Both an *ethclient.Client
// (any JSON-RPC endpoint, `--eth-rpc URL`) and the in-process client of a
// DevChain satisfy it.
type Backend interface {
	bind.ContractBackend
	bind.DeployBackend
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
	ChainID(ctx context.Context) (*big.Int, error)
}

// Errors of the chain layer.
var (
	// ErrReverted is wrapped by the error of a transaction (or of its gas
	// estimate) that the contract refused; the message names the reason,
	// e.g. "NotAbovePaid(5, 7)".
	ErrReverted = errors.New("contract reverted")
	// ErrInsufficientFunds means an account lacks the ether a transaction
	// needs (its value plus gas).
	ErrInsufficientFunds = errors.New("insufficient funds")
)

// Chain is the PaymentChannel contract on one chain, reached through a
// Backend. It is safe for concurrent use: transactions from one key are
// sent one at a time, each waited for until it is mined.
type Chain struct {
	backend  Backend
	chainID  *big.Int
	address  common.Address
	abi      *contract.PaymentChannel
	instance *bind.BoundContract
	closer   func()

	mu      sync.Mutex
	senders map[common.Address]*sync.Mutex
}

// Contract returns the generated binding of the contract's ABI.
func Contract() *contract.PaymentChannel { return contract.NewPaymentChannel() }

// NewChain binds the contract deployed at address on b. It fails when no
// code is deployed there.
func NewChain(ctx context.Context, b Backend, address common.Address) (*Chain, error) {
	id, err := b.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("pay: chain id: %w", err)
	}
	code, err := b.CodeAt(ctx, address, nil)
	if err != nil {
		return nil, fmt.Errorf("pay: contract code at %s: %w", address, err)
	}
	if len(code) == 0 {
		return nil, fmt.Errorf("%w: no contract at %s on chain %v", meta.ErrNotFound, address, id)
	}
	c := contract.NewPaymentChannel()
	return &Chain{
		backend:  b,
		chainID:  id,
		address:  address,
		abi:      c,
		instance: c.Instance(b, address),
		senders:  make(map[common.Address]*sync.Mutex),
	}, nil
}

// Dial connects to a JSON-RPC endpoint and binds the contract at address.
// Close the Chain to close the connection.
func Dial(ctx context.Context, url string, address common.Address) (*Chain, error) {
	cl, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pay: dial %s: %w", url, err)
	}
	c, err := NewChain(ctx, cl, address)
	if err != nil {
		cl.Close()
		return nil, err
	}
	c.closer = cl.Close
	return c, nil
}

// Close releases the connection Dial made (nothing for NewChain).
func (c *Chain) Close() {
	if c.closer != nil {
		c.closer()
	}
}

// Deploy deploys a new PaymentChannel contract from key's account and waits
// until it is mined.
func Deploy(ctx context.Context, b Backend, key *ecdsa.PrivateKey) (common.Address, error) {
	id, err := b.ChainID(ctx)
	if err != nil {
		return common.Address{}, fmt.Errorf("pay: chain id: %w", err)
	}
	opts := bind.NewKeyedTransactor(key, id)
	opts.Context = ctx
	bin := common.FromHex(contract.PaymentChannelMetaData.Bin)
	addr, tx, err := bind.DeployContract(opts, bin, b, nil)
	if err != nil {
		return common.Address{}, fmt.Errorf("pay: deploy: %w", err)
	}
	if _, err := waitMined(ctx, b, tx); err != nil {
		return common.Address{}, fmt.Errorf("pay: deploy: %w", err)
	}
	return addr, nil
}

// Address returns the contract's address.
func (c *Chain) Address() common.Address { return c.address }

// ChainID returns the chain's id (vouchers are bound to it).
func (c *Chain) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// Backend returns the backend the chain is reached through.
func (c *Chain) Backend() Backend { return c.backend }

// Balance returns an account's balance in wei.
func (c *Chain) Balance(ctx context.Context, a common.Address) (*big.Int, error) {
	return c.backend.BalanceAt(ctx, a, nil)
}

// Now returns the time of the latest block: the clock the contract checks
// expiries against.
func (c *Chain) Now(ctx context.Context) (time.Time, error) {
	h, err := c.backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("pay: latest block: %w", err)
	}
	return time.Unix(int64(h.Time), 0), nil
}

// OnChain is a channel as the contract holds it.
type OnChain struct {
	ID       uint64
	Client   common.Address
	Provider common.Address
	Deposit  *big.Int // everything the client put in
	Paid     *big.Int // everything claimed by the provider
	Expiry   time.Time
	Closed   bool // reclaimed by the client
}

// Exists reports whether the channel was ever opened.
func (o *OnChain) Exists() bool { return o.Client != (common.Address{}) }

// Channel reads channel id from the contract. An unknown id gives a
// channel that does not Exist.
func (c *Chain) Channel(ctx context.Context, id uint64) (*OnChain, error) {
	out, err := bind.Call(c.instance, &bind.CallOpts{Context: ctx}, c.abi.PackChannel(new(big.Int).SetUint64(id)), c.abi.UnpackChannel)
	if err != nil {
		return nil, fmt.Errorf("pay: read channel %d: %w", id, err)
	}
	return &OnChain{
		ID: id, Client: out.Client, Provider: out.Provider, Deposit: out.Deposit, Paid: out.Paid,
		Expiry: time.Unix(int64(out.Expiry), 0), Closed: out.Closed,
	}, nil
}

// ChannelOf returns the client's latest channel to provider that was not
// reclaimed, or 0.
func (c *Chain) ChannelOf(ctx context.Context, client, provider common.Address) (uint64, error) {
	id, err := bind.Call(c.instance, &bind.CallOpts{Context: ctx}, c.abi.PackChannelOf(client, provider), c.abi.UnpackChannelOf)
	if err != nil {
		return 0, fmt.Errorf("pay: channel of %s to %s: %w", client, provider, err)
	}
	if !id.IsUint64() {
		return 0, fmt.Errorf("%w: channel id %v", meta.ErrInvalid, id)
	}
	return id.Uint64(), nil
}

// Open opens a channel from key's account to provider with deposit wei,
// until expiry, and returns its id.
func (c *Chain) Open(ctx context.Context, key *ecdsa.PrivateKey, provider common.Address, deposit *big.Int, expiry time.Time) (uint64, *types.Receipt, error) {
	r, err := c.transact(ctx, key, deposit, c.abi.PackOpen(provider, uint64(expiry.Unix())))
	if err != nil {
		return 0, nil, fmt.Errorf("pay: open channel to %s: %w", provider, err)
	}
	for _, l := range r.Logs {
		if ev, err := c.abi.UnpackOpenedEvent(l); err == nil && l.Address == c.address {
			return ev.Id.Uint64(), r, nil
		}
	}
	return 0, r, fmt.Errorf("pay: open channel to %s: no Opened event in the receipt", provider)
}

// TopUp adds amount wei to channel id's deposit.
func (c *Chain) TopUp(ctx context.Context, key *ecdsa.PrivateKey, id uint64, amount *big.Int) (*types.Receipt, error) {
	r, err := c.transact(ctx, key, amount, c.abi.PackTopUp(new(big.Int).SetUint64(id)))
	if err != nil {
		return nil, fmt.Errorf("pay: top up channel %d: %w", id, err)
	}
	return r, nil
}

// Extend moves channel id's expiry later.
func (c *Chain) Extend(ctx context.Context, key *ecdsa.PrivateKey, id uint64, expiry time.Time) (*types.Receipt, error) {
	r, err := c.transact(ctx, key, nil, c.abi.PackExtend(new(big.Int).SetUint64(id), uint64(expiry.Unix())))
	if err != nil {
		return nil, fmt.Errorf("pay: extend channel %d: %w", id, err)
	}
	return r, nil
}

// Claim cashes voucher v in from key's account (the channel's provider).
func (c *Chain) Claim(ctx context.Context, key *ecdsa.PrivateKey, v *Voucher) (*types.Receipt, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	r, err := c.transact(ctx, key, nil, c.abi.PackClaim(new(big.Int).SetUint64(v.Channel), v.Cumulative, v.Signature))
	if err != nil {
		return nil, fmt.Errorf("pay: claim %v on channel %d: %w", v.Cumulative, v.Channel, err)
	}
	return r, nil
}

// Reclaim refunds what is left of an expired channel to its client (key).
func (c *Chain) Reclaim(ctx context.Context, key *ecdsa.PrivateKey, id uint64) (*big.Int, *types.Receipt, error) {
	r, err := c.transact(ctx, key, nil, c.abi.PackReclaim(new(big.Int).SetUint64(id)))
	if err != nil {
		return nil, nil, fmt.Errorf("pay: reclaim channel %d: %w", id, err)
	}
	for _, l := range r.Logs {
		if ev, err := c.abi.UnpackReclaimedEvent(l); err == nil && l.Address == c.address {
			return ev.Amount, r, nil
		}
	}
	return new(big.Int), r, nil
}

// Transfer sends amount wei from key's account to another account.
func (c *Chain) Transfer(ctx context.Context, key *ecdsa.PrivateKey, to common.Address, amount *big.Int) (*types.Receipt, error) {
	return transfer(ctx, c.backend, c.chainID, key, to, amount, c.sender(ethcrypto.PubkeyToAddress(key.PublicKey)))
}

// GasCost returns what a receipt's transaction cost its sender in gas.
func GasCost(r *types.Receipt) *big.Int {
	if r == nil || r.EffectiveGasPrice == nil {
		return new(big.Int)
	}
	return new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
}

// sender returns the lock that keeps one account's transactions in order.
func (c *Chain) sender(a common.Address) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.senders[a]
	if m == nil {
		m = new(sync.Mutex)
		c.senders[a] = m
	}
	return m
}

// transact sends a call of the contract from key's account, waits for it to
// be mined and fails when it reverted.
func (c *Chain) transact(ctx context.Context, key *ecdsa.PrivateKey, value *big.Int, data []byte) (*types.Receipt, error) {
	from := ethcrypto.PubkeyToAddress(key.PublicKey)
	lock := c.sender(from)
	lock.Lock()
	defer lock.Unlock()
	opts := bind.NewKeyedTransactor(key, c.chainID)
	opts.Context = ctx
	opts.Value = value
	tx, err := bind.Transact(c.instance, opts, data)
	if err != nil {
		return nil, c.explain(err)
	}
	r, err := waitMined(ctx, c.backend, tx)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func transfer(ctx context.Context, b Backend, chainID *big.Int, key *ecdsa.PrivateKey, to common.Address, amount *big.Int, lock *sync.Mutex) (*types.Receipt, error) {
	from := ethcrypto.PubkeyToAddress(key.PublicKey)
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	nonce, err := b.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("pay: nonce of %s: %w", from, err)
	}
	tip, err := b.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("pay: gas tip: %w", err)
	}
	head, err := b.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("pay: latest block: %w", err)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: 21000, To: &to, Value: amount,
	})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return nil, err
	}
	if err := b.SendTransaction(ctx, signed); err != nil {
		return nil, fmt.Errorf("pay: transfer to %s: %w", to, classify(err))
	}
	return waitMined(ctx, b, signed)
}

// waitMined polls for tx's receipt, quickly at first (a dev chain mines at
// once), and fails when the transaction reverted.
func waitMined(ctx context.Context, b Backend, tx *types.Transaction) (*types.Receipt, error) {
	if m, ok := b.(Miner); ok {
		m.Mine()
	}
	delay := 2 * time.Millisecond
	for {
		r, err := b.TransactionReceipt(ctx, tx.Hash())
		if err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return r, fmt.Errorf("%w: transaction %s failed on chain", ErrReverted, tx.Hash())
			}
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("pay: receipt of %s: %w", tx.Hash(), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pay: transaction %s not mined: %w", tx.Hash(), ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// Miner is implemented by backends that mine on demand (a dev chain's
// in-process client): after sending a transaction, pay calls Mine before
// it waits for the receipt.
type Miner interface{ Mine() }

// explain turns a failed gas estimate or send into an error that names the
// contract's reason (a custom error such as NotAbovePaid) or the lack of
// funds.
func (c *Chain) explain(err error) error {
	var de interface{ ErrorData() any }
	if errors.As(err, &de) {
		if s, ok := de.ErrorData().(string); ok {
			if raw, derr := hex.DecodeString(strings.TrimPrefix(s, "0x")); derr == nil && len(raw) >= 4 {
				for name, e := range c.abi.GetABI().Errors {
					if string(e.ID[:4]) != string(raw[:4]) {
						continue
					}
					args, uerr := e.Inputs.Unpack(raw[4:])
					if uerr != nil {
						return fmt.Errorf("%w: %s", ErrReverted, name)
					}
					parts := make([]string, len(args))
					for i, a := range args {
						parts[i] = fmt.Sprint(a)
					}
					return fmt.Errorf("%w: %s(%s)", ErrReverted, name, strings.Join(parts, ", "))
				}
			}
		}
	}
	return classify(err)
}

func classify(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "execution reverted"):
		return fmt.Errorf("%w: %v", ErrReverted, err)
	case strings.Contains(msg, "insufficient funds"):
		return fmt.Errorf("%w: %v", ErrInsufficientFunds, err)
	}
	return err
}
