package pay

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

// KV is durable storage for a Payee (a provider keeps it in its index).
type KV interface {
	// Get returns the value of key, or an error wrapping meta.ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Put writes every pair in one atomic step; once it returns, they
	// survive a crash.
	Put(pairs ...Pair) error
	// Write is Put without waiting for durability: the pairs survive a
	// crash once a later Put, or a sync of the store by its owner, has
	// returned.
	Write(pairs ...Pair) error
	// Each calls fn for every key with the prefix, in key order.
	Each(prefix []byte, fn func(key, val []byte) error) error
}

// Pair is one key and value for KV.Put.
type Pair struct{ Key, Value []byte }

// ErrStaleVoucher means a voucher is not above the last one accepted on its
// channel: a replay, or an older voucher arriving late. The provider holds
// at least that much already.
var ErrStaleVoucher = errors.New("voucher not above the last accepted")

// Defaults of a PayeeConfig.
const (
	DefaultMinRemaining = 10 * time.Minute
	DefaultClaimBefore  = time.Hour
	DefaultClaimCheck   = time.Minute
	DefaultClockTTL     = 5 * time.Second
)

// PayeeConfig configures a Payee.
type PayeeConfig struct {
	Chain *Chain
	// Key is the provider's key: vouchers must name its address, and
	// claims are sent from it (it pays their gas).
	Key   *ecdsa.PrivateKey
	Store KV
	// MinRemaining refuses vouchers on channels that expire sooner: the
	// provider needs time to claim (DefaultMinRemaining when 0).
	MinRemaining time.Duration
	// ClaimBefore is how long before a channel's expiry Run claims its
	// latest voucher (DefaultClaimBefore when 0).
	ClaimBefore time.Duration
	// ClaimCheck is how often Run looks for channels to claim
	// (DefaultClaimCheck when 0).
	ClaimCheck time.Duration
	// ClockTTL is how long Accept trusts a reading of the chain's clock,
	// advanced by the wall clock since (DefaultClockTTL when 0; negative:
	// read it for every voucher). A voucher only needs the clock to tell
	// whether its channel is about to expire, and each reading is a round
	// trip to the chain's node: read per voucher, it was most of the
	// devnet node's CPU during an upload. A chain's clock moves with the
	// wall clock; only a dev chain whose clock is moved by hand needs a
	// fresh reading each time.
	ClockTTL time.Duration
	Logger   *slog.Logger
}

// Payee is the provider's side of the payment channels: it verifies the
// vouchers clients send, keeps the latest of each channel durably, keeps
// each client's account (billed for signed pledges, paid by vouchers) and
// cashes the vouchers in on chain. It is safe for concurrent use.
type Payee struct {
	cfg  PayeeConfig
	addr common.Address
	log  *slog.Logger

	mu       sync.Mutex // serializes voucher acceptance and account changes
	claimMu  sync.Mutex // one claim round at a time
	accounts map[common.Address]*account

	clockMu   sync.Mutex
	chainTime time.Time // the chain's clock, as last read
	readAt    time.Time // when it was read (wall clock, monotonic)
}

// channelRecord is what a Payee keeps of one channel.
type channelRecord struct {
	Contract common.Address `json:"contract"`
	ID       uint64         `json:"id"`
	Client   common.Address `json:"client"`
	Deposit  string         `json:"deposit"` // as last read from the chain
	Expiry   int64          `json:"expiry"`  // unix seconds, as last read
	Voucher  *Voucher       `json:"voucher,omitempty"`
	Claimed  string         `json:"claimed"`        // cumulative cashed in on chain
	Lost     string         `json:"lost,omitempty"` // why it can no longer be claimed
	Accepted int64          `json:"accepted"`       // unix seconds of the latest voucher
}

// account is what one client owes: Billed for pledges signed, Paid by
// vouchers accepted (over all its channels).
type account struct {
	Billed string `json:"billed"`
	Paid   string `json:"paid"`
}

var (
	keyChannel = []byte("c") // c ‖ contract ‖ uint64be(id) → channelRecord
	keyAccount = []byte("a") // a ‖ client address → account
)

func channelKey(contract common.Address, id uint64) []byte {
	k := append(append([]byte{}, keyChannel...), contract[:]...)
	return binary.BigEndian.AppendUint64(k, id)
}
func accountKey(a common.Address) []byte {
	return append(append([]byte{}, keyAccount...), a[:]...)
}

// NewPayee returns a Payee over cfg.Store.
func NewPayee(cfg PayeeConfig) (*Payee, error) {
	if cfg.Chain == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: payee needs a chain, a key and a store", meta.ErrInvalid)
	}
	if cfg.MinRemaining <= 0 {
		cfg.MinRemaining = DefaultMinRemaining
	}
	if cfg.ClaimBefore <= 0 {
		cfg.ClaimBefore = DefaultClaimBefore
	}
	if cfg.ClaimCheck <= 0 {
		cfg.ClaimCheck = DefaultClaimCheck
	}
	if cfg.ClockTTL == 0 {
		cfg.ClockTTL = DefaultClockTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Payee{
		cfg: cfg, addr: ethcrypto.PubkeyToAddress(cfg.Key.PublicKey), log: cfg.Logger,
		accounts: make(map[common.Address]*account),
	}, nil
}

// Address is the provider's address (the one channels must pay).
func (p *Payee) Address() common.Address { return p.addr }

// Accepted is the outcome of a voucher taken by Accept.
type Accepted struct {
	Channel    uint64
	Cumulative *big.Int // the voucher's total, now the channel's latest
	Credited   *big.Int // what it adds to the last one accepted
}

// Accept verifies a voucher that client sent and keeps it: it must be for
// this contract and chain, signed by client, on a channel from client to
// this provider that is open and does not expire within MinRemaining, for
// no more than the deposit and strictly more than the last voucher
// accepted. Refusals wrap ErrBadVoucher, or ErrStaleVoucher for a voucher
// not above the last.
func (p *Payee) Accept(ctx context.Context, client common.Address, v *Voucher) (*Accepted, error) {
	ch := p.cfg.Chain
	if err := v.check(); err != nil {
		return nil, err
	}
	if v.Contract != ch.Address() {
		return nil, fmt.Errorf("%w: for contract %s, this provider uses %s", ErrBadVoucher, v.Contract, ch.Address())
	}
	signer, err := v.Signer(ch.ChainID())
	if err != nil {
		return nil, err
	}
	if signer != client {
		return nil, fmt.Errorf("%w: signed by %s, not by the client %s", ErrBadVoucher, signer, client)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := p.channel(v.Contract, v.Channel)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if rec != nil && rec.Client != client {
		return nil, fmt.Errorf("%w: channel %d is %s's, not %s's", ErrBadVoucher, v.Channel, rec.Client, client)
	}
	last := new(big.Int)
	if rec != nil && rec.Voucher != nil {
		last = rec.Voucher.Cumulative
	}
	if v.Cumulative.Cmp(last) <= 0 {
		return nil, fmt.Errorf("%w: %v wei on channel %d, the last accepted is %v", ErrStaleVoucher, v.Cumulative, v.Channel, last)
	}

	now, err := p.recentNow(ctx)
	if err != nil {
		return nil, err
	}
	deposit := new(big.Int)
	if rec != nil {
		deposit, _ = new(big.Int).SetString(rec.Deposit, 10)
	}
	// The contract only lets a deposit grow and an expiry move later, and a
	// channel closes only after its expiry: what was read before holds
	// unless the voucher asks for more or the expiry is near.
	if rec == nil || v.Cumulative.Cmp(deposit) > 0 || time.Unix(rec.Expiry, 0).Before(now.Add(p.cfg.MinRemaining)) {
		oc, err := ch.Channel(ctx, v.Channel)
		if err != nil {
			return nil, err
		}
		switch {
		case !oc.Exists():
			return nil, fmt.Errorf("%w: no channel %d on chain", ErrBadVoucher, v.Channel)
		case oc.Provider != p.addr:
			return nil, fmt.Errorf("%w: channel %d pays %s, not this provider", ErrBadVoucher, v.Channel, oc.Provider)
		case oc.Client != client:
			return nil, fmt.Errorf("%w: channel %d is %s's, not %s's", ErrBadVoucher, v.Channel, oc.Client, client)
		case oc.Closed:
			return nil, fmt.Errorf("%w: channel %d is closed", ErrBadVoucher, v.Channel)
		case oc.Expiry.Before(now.Add(p.cfg.MinRemaining)):
			return nil, fmt.Errorf("%w: channel %d expires at %s, too soon to claim", ErrBadVoucher, v.Channel, oc.Expiry.UTC().Format(time.RFC3339))
		case v.Cumulative.Cmp(oc.Paid) <= 0:
			return nil, fmt.Errorf("%w: %v wei on channel %d, %v were claimed already", ErrStaleVoucher, v.Cumulative, v.Channel, oc.Paid)
		}
		if rec == nil {
			rec = &channelRecord{Contract: v.Contract, ID: v.Channel, Client: client, Claimed: oc.Paid.String()}
		}
		rec.Deposit, rec.Expiry, deposit = oc.Deposit.String(), oc.Expiry.Unix(), oc.Deposit
	}
	if v.Cumulative.Cmp(deposit) > 0 {
		return nil, fmt.Errorf("%w: %v wei on channel %d, above its deposit of %v", ErrBadVoucher, v.Cumulative, v.Channel, deposit)
	}

	credit := new(big.Int).Sub(v.Cumulative, last)
	acct, err := p.account(client)
	if err != nil {
		return nil, err
	}
	next := *acct
	next.Paid = add(acct.Paid, credit)
	keep := *v
	keep.Cumulative = new(big.Int).Set(v.Cumulative)
	keep.Signature = append([]byte(nil), v.Signature...)
	rec.Voucher = &keep
	rec.Accepted = time.Now().Unix()
	rb, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	ab, err := json.Marshal(&next)
	if err != nil {
		return nil, err
	}
	if err := p.cfg.Store.Put(Pair{channelKey(rec.Contract, rec.ID), rb}, Pair{accountKey(client), ab}); err != nil {
		return nil, fmt.Errorf("pay: keep voucher: %w", err)
	}
	*acct = next
	p.log.Debug("voucher accepted", "client", client, "channel", v.Channel, "cumulative", v.Cumulative, "credit", credit)
	return &Accepted{Channel: v.Channel, Cumulative: new(big.Int).Set(v.Cumulative), Credited: credit}, nil
}

// Bill records that client owes amount wei more (for a pledge signed).
// The record is written but not made durable: the caller syncs the store
// before it hands out what the bill is for, so that one sync covers the
// pledge's data and its bill.
func (p *Payee) Bill(client common.Address, amount *big.Int) error {
	if amount == nil || amount.Sign() <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	acct, err := p.account(client)
	if err != nil {
		return err
	}
	next := *acct
	next.Billed = add(acct.Billed, amount)
	b, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	if err := p.cfg.Store.Write(Pair{accountKey(client), b}); err != nil {
		return fmt.Errorf("pay: bill: %w", err)
	}
	*acct = next
	return nil
}

// Unpaid returns what client owes for pledges beyond what its vouchers
// paid (negative when it paid ahead).
func (p *Payee) Unpaid(client common.Address) (*big.Int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	acct, err := p.account(client)
	if err != nil {
		return nil, err
	}
	return new(big.Int).Sub(amount(acct.Billed), amount(acct.Paid)), nil
}

// account returns client's account, cached. p.mu is held.
func (p *Payee) account(client common.Address) (*account, error) {
	if a, ok := p.accounts[client]; ok {
		return a, nil
	}
	a := &account{Billed: "0", Paid: "0"}
	b, err := p.cfg.Store.Get(accountKey(client))
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, a); err != nil {
			return nil, fmt.Errorf("%w: account of %s: %v", meta.ErrCorrupt, client, err)
		}
	}
	p.accounts[client] = a
	return a, nil
}

func (p *Payee) channel(contract common.Address, id uint64) (*channelRecord, error) {
	b, err := p.cfg.Store.Get(channelKey(contract, id))
	if err != nil {
		return nil, err
	}
	var rec channelRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%w: channel %d: %v", meta.ErrCorrupt, id, err)
	}
	return &rec, nil
}

func (p *Payee) putChannel(rec *channelRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return p.cfg.Store.Put(Pair{channelKey(rec.Contract, rec.ID), b})
}

// now is the later of the wall clock and the chain's: the conservative
// side for a provider that must claim before an expiry.
func (p *Payee) now(ctx context.Context) (time.Time, error) {
	t, err := p.cfg.Chain.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	w := time.Now()
	p.clockMu.Lock()
	p.chainTime, p.readAt = t, w
	p.clockMu.Unlock()
	return later(w, t), nil
}

// recentNow is now from a reading of the chain's clock at most ClockTTL
// old, moved on by the wall clock since.
func (p *Payee) recentNow(ctx context.Context) (time.Time, error) {
	p.clockMu.Lock()
	t, at := p.chainTime, p.readAt
	p.clockMu.Unlock()
	if since := time.Since(at); !at.IsZero() && since < p.cfg.ClockTTL {
		return later(time.Now(), t.Add(since)), nil
	}
	return p.now(ctx)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ChannelInfo is a channel as the Payee knows it.
type ChannelInfo struct {
	Contract  common.Address
	ID        uint64
	Client    common.Address
	Deposit   *big.Int
	Expiry    time.Time
	Latest    *Voucher // nil when no voucher was accepted
	Claimed   *big.Int // cashed in on chain
	Unclaimed *big.Int // accepted, not yet cashed in
	Lost      string
}

// Channels lists the channels the Payee holds vouchers of, by id.
func (p *Payee) Channels() ([]ChannelInfo, error) {
	var out []ChannelInfo
	err := p.cfg.Store.Each(keyChannel, func(_, val []byte) error {
		var rec channelRecord
		if err := json.Unmarshal(val, &rec); err != nil {
			return fmt.Errorf("%w: channel record: %v", meta.ErrCorrupt, err)
		}
		out = append(out, rec.info())
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

func (rec *channelRecord) info() ChannelInfo {
	ci := ChannelInfo{
		Contract: rec.Contract, ID: rec.ID, Client: rec.Client, Deposit: amount(rec.Deposit), Expiry: time.Unix(rec.Expiry, 0),
		Latest: rec.Voucher, Claimed: amount(rec.Claimed), Unclaimed: new(big.Int), Lost: rec.Lost,
	}
	if rec.Voucher != nil && rec.Lost == "" {
		ci.Unclaimed.Sub(rec.Voucher.Cumulative, ci.Claimed)
		if ci.Unclaimed.Sign() < 0 {
			ci.Unclaimed.SetInt64(0)
		}
	}
	return ci
}

// Claim is the outcome of cashing in one channel's latest voucher.
type Claim struct {
	Channel    uint64
	Client     common.Address
	Cumulative *big.Int // the voucher cashed in
	Amount     *big.Int // paid to the provider by this claim
	Gas        *big.Int // what the claim transaction cost in gas
	Err        error
}

// Claim cashes in the latest voucher of every channel that has one not
// claimed yet. It returns what it did; a failure on one channel does not
// stop the others (each Claim carries its own error).
func (p *Payee) Claim(ctx context.Context) ([]Claim, error) {
	return p.claim(ctx, func(*channelRecord, time.Time) bool { return true })
}

// ClaimExpiring claims the channels with unclaimed vouchers that expire
// within ClaimBefore: what Run does periodically.
func (p *Payee) ClaimExpiring(ctx context.Context) ([]Claim, error) {
	return p.claim(ctx, func(rec *channelRecord, now time.Time) bool {
		return time.Unix(rec.Expiry, 0).Before(now.Add(p.cfg.ClaimBefore))
	})
}

func (p *Payee) claim(ctx context.Context, due func(*channelRecord, time.Time) bool) ([]Claim, error) {
	p.claimMu.Lock()
	defer p.claimMu.Unlock()
	now, err := p.now(ctx)
	if err != nil {
		return nil, err
	}
	var todo []uint64
	contract := p.cfg.Chain.Address()
	// Vouchers of another contract (a dev chain that is gone) cannot be
	// claimed here.
	err = p.cfg.Store.Each(append(append([]byte{}, keyChannel...), contract[:]...), func(_, val []byte) error {
		var rec channelRecord
		if err := json.Unmarshal(val, &rec); err != nil {
			return fmt.Errorf("%w: channel record: %v", meta.ErrCorrupt, err)
		}
		if ci := rec.info(); ci.Unclaimed.Sign() > 0 && due(&rec, now) {
			todo = append(todo, rec.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Claim
	for _, id := range todo {
		p.mu.Lock()
		rec, err := p.channel(contract, id)
		p.mu.Unlock()
		if err != nil {
			return out, err
		}
		v := rec.Voucher
		c := Claim{Channel: id, Client: rec.Client, Cumulative: v.Cumulative, Amount: new(big.Int), Gas: new(big.Int)}
		r, err := p.cfg.Chain.Claim(ctx, p.cfg.Key, v)
		if r != nil {
			c.Gas = GasCost(r)
		}
		lost := ""
		if err != nil {
			c.Err = err
			// A channel the client reclaimed (after its expiry) can never
			// be claimed again: stop trying.
			if oc, cerr := p.cfg.Chain.Channel(ctx, id); cerr == nil && oc.Closed {
				lost = fmt.Sprintf("channel closed by the client before the claim of %v wei (%v claimed)", v.Cumulative, oc.Paid)
			}
		} else {
			c.Amount.Sub(v.Cumulative, amount(rec.Claimed))
			for _, l := range r.Logs {
				if ev, uerr := p.cfg.Chain.abi.UnpackClaimedEvent(l); uerr == nil && l.Address == p.cfg.Chain.Address() {
					c.Amount = ev.Amount
				}
			}
		}
		if err == nil || lost != "" {
			p.mu.Lock()
			if cur, gerr := p.channel(contract, id); gerr == nil {
				if err == nil {
					cur.Claimed = v.Cumulative.String()
				} else {
					cur.Lost = lost
				}
				if perr := p.putChannel(cur); perr != nil {
					p.log.Error("record claim", "channel", id, "err", perr)
				}
			}
			p.mu.Unlock()
		}
		if err != nil {
			p.log.Warn("claim failed", "channel", id, "cumulative", v.Cumulative, "err", err)
		} else {
			p.log.Info("claimed", "channel", id, "client", rec.Client, "amount", c.Amount, "cumulative", v.Cumulative)
		}
		out = append(out, c)
	}
	return out, nil
}

// Run claims channels before they expire, every ClaimCheck, until ctx ends.
func (p *Payee) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.ClaimCheck)
	defer t.Stop()
	for {
		if _, err := p.ClaimExpiring(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("claim round", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func amount(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return v
}

func add(s string, d *big.Int) string { return new(big.Int).Add(amount(s), d).String() }
