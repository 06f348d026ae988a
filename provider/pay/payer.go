package pay

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

// Defaults of a PayerConfig.
const (
	DefaultLifetime = 7 * 24 * time.Hour
	DefaultRenew    = 24 * time.Hour
)

// PayerConfig configures a Payer.
type PayerConfig struct {
	Chain *Chain
	// Key is the client's key: it funds the channels and signs vouchers.
	Key *ecdsa.PrivateKey
	// Store keeps the channels' state (meta keys "pay/channel/<provider>").
	Store meta.Store
	// Lifetime is how long a new channel runs (DefaultLifetime when 0);
	// a channel is extended by as much when it is used within Renew of
	// its expiry (DefaultRenew when 0). Providers refuse vouchers on
	// channels about to expire: they need time to claim.
	Lifetime time.Duration
	Renew    time.Duration
	// MinDeposit is the least deposit of a new channel (0 when nil).
	MinDeposit *big.Int
	Logger     *slog.Logger
}

// ChannelState is what the client keeps of its channel to one provider.
type ChannelState struct {
	Contract common.Address `json:"contract"`
	ID       uint64         `json:"id"`
	Provider common.Address `json:"provider"`
	Deposit  *big.Int       `json:"deposit"` // everything put in
	Expiry   time.Time      `json:"expiry"`
	// Cumulative is the total of the latest voucher signed; Signature is
	// its signature. Acked is the highest total the provider acknowledged.
	Cumulative *big.Int `json:"cumulative"`
	Signature  []byte   `json:"signature,omitempty"`
	Acked      *big.Int `json:"acked"`
	// Reclaimed is set once the remainder went back to the client; the
	// channel is then closed.
	Reclaimed *big.Int `json:"reclaimed,omitempty"`
}

// Available returns what the deposit still covers beyond the vouchers signed.
func (s *ChannelState) Available() *big.Int { return new(big.Int).Sub(s.Deposit, s.Cumulative) }

// Voucher returns the latest voucher signed, or nil.
func (s *ChannelState) Voucher() *Voucher {
	if s.Cumulative.Sign() == 0 || len(s.Signature) == 0 {
		return nil
	}
	return &Voucher{Contract: s.Contract, Channel: s.ID, Cumulative: new(big.Int).Set(s.Cumulative),
		Signature: append([]byte(nil), s.Signature...)}
}

// Payer is the client's side of the payment channels: checkExistingChannel,
// createChannel, topUp, vouchers (makePayment), reclaim. Channels and
// vouchers are kept in the client's meta store, so a restarted client
// never signs a lower total than it signed before. It is safe for
// concurrent use; the work for one provider is serialized.
type Payer struct {
	cfg  PayerConfig
	addr common.Address
	log  *slog.Logger

	mu    sync.Mutex
	locks map[common.Address]*sync.Mutex
	// states holds, under mu, a copy of each provider's current channel
	// record as last read or written by this Payer, the only writer of
	// them: a payment reads its channel three times (pay, latest, ack),
	// and decoding the record from the store each time was a third of
	// what paying cost the client.
	states map[common.Address]*ChannelState
	// listed holds the record keys known to be on the list of channels
	// (channelsKey), so that a save need not read the list again.
	listed map[string]bool
}

// Meta keys of the Payer's records.
const (
	channelKeyPrefix = "pay/channel/"
	channelsKey      = "pay/channels" // JSON list of the providers with a channel record
)

// NewPayer returns a Payer.
func NewPayer(cfg PayerConfig) (*Payer, error) {
	if cfg.Chain == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: payer needs a chain, a key and a store", meta.ErrInvalid)
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Renew <= 0 {
		cfg.Renew = DefaultRenew
	}
	if cfg.Renew >= cfg.Lifetime {
		cfg.Renew = cfg.Lifetime / 2
	}
	if cfg.MinDeposit == nil {
		cfg.MinDeposit = new(big.Int)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Payer{cfg: cfg, addr: ethcrypto.PubkeyToAddress(cfg.Key.PublicKey), log: cfg.Logger,
		locks: make(map[common.Address]*sync.Mutex), states: make(map[common.Address]*ChannelState),
		listed: make(map[string]bool)}, nil
}

// Address is the client's address.
func (p *Payer) Address() common.Address { return p.addr }

// Chain is the chain the Payer pays on.
func (p *Payer) Chain() *Chain { return p.cfg.Chain }

// Balance is the client's balance in wei.
func (p *Payer) Balance(ctx context.Context) (*big.Int, error) {
	return p.cfg.Chain.Balance(ctx, p.addr)
}

func (p *Payer) lock(provider common.Address) func() {
	p.mu.Lock()
	l := p.locks[provider]
	if l == nil {
		l = new(sync.Mutex)
		p.locks[provider] = l
	}
	p.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Ready reports from local state alone (no chain access) whether the
// channel to provider can take a payment of need now: it exists, is not
// near its expiry, and its deposit covers need. When it cannot, Ensure
// makes it so.
func (p *Payer) Ready(ctx context.Context, provider common.Address, need *big.Int) bool {
	st, err := p.state(ctx, provider)
	if err != nil || st == nil || st.Reclaimed != nil || st.Contract != p.cfg.Chain.Address() {
		return false
	}
	if time.Until(st.Expiry) < p.cfg.Renew {
		return false
	}
	return need == nil || st.Available().Cmp(need) >= 0
}

// Channel is checkExistingChannel: the client's usable channel to
// provider, or nil when there is none (never opened, reclaimed, closed or
// expired on chain, or on another contract). It reads the chain.
func (p *Payer) Channel(ctx context.Context, provider common.Address) (*ChannelState, error) {
	st, err := p.state(ctx, provider)
	if err != nil || st == nil {
		return nil, err
	}
	if st.Reclaimed != nil || st.Contract != p.cfg.Chain.Address() {
		return nil, nil
	}
	oc, err := p.cfg.Chain.Channel(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	now, err := p.chainNow(ctx)
	if err != nil {
		return nil, err
	}
	if !oc.Exists() || oc.Closed || oc.Client != p.addr || oc.Provider != provider || !oc.Expiry.After(now) {
		return nil, nil
	}
	// The chain is the truth for deposit and expiry (a top-up whose
	// receipt we missed, say).
	st.Deposit, st.Expiry = oc.Deposit, oc.Expiry
	return st, nil
}

// Ensure makes the channel to provider ready for a payment of need:
// createChannel when there is none (deposit: the largest of need, expect
// and MinDeposit, so the channel covers the work expected), extend when it
// expires within Renew, topUp when the deposit left is short of need (by
// at least expect). An error wrapping ErrInsufficientFunds means the
// client's account cannot pay for it.
func (p *Payer) Ensure(ctx context.Context, provider common.Address, need, expect *big.Int) (*ChannelState, error) {
	defer p.lock(provider)()
	return p.ensure(ctx, provider, need, expect)
}

func (p *Payer) ensure(ctx context.Context, provider common.Address, need, expect *big.Int) (*ChannelState, error) {
	if need == nil {
		need = new(big.Int)
	}
	if expect == nil || expect.Cmp(need) < 0 {
		expect = need
	}
	ch := p.cfg.Chain
	st, err := p.Channel(ctx, provider)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if old, _ := p.state(ctx, provider); old != nil && old.Reclaimed == nil {
			// Its remainder comes back with ReclaimExpired once it expired
			// (on its own chain: a record of another contract waits for a
			// Payer on that one).
			p.log.Info("channel unusable: opening another", "provider", provider, "old", old.ID)
			if err := p.keepOld(ctx, old); err != nil {
				return nil, err
			}
		}
		if err := p.adoptLost(ctx, provider); err != nil && ctx.Err() == nil {
			p.log.Warn("look for a channel on chain this data dir forgot", "provider", provider, "err", err)
		}
		deposit := maxInt(expect, p.cfg.MinDeposit, big.NewInt(1))
		if err := p.afford(ctx, deposit); err != nil {
			return nil, err
		}
		expiry := time.Now().Add(p.cfg.Lifetime).Truncate(time.Second)
		id, _, err := ch.Open(ctx, p.cfg.Key, provider, deposit, expiry)
		if err != nil {
			return nil, p.funds(ctx, err, deposit)
		}
		st = &ChannelState{Contract: ch.Address(), ID: id, Provider: provider, Deposit: deposit, Expiry: expiry,
			Cumulative: new(big.Int), Acked: new(big.Int)}
		p.log.Info("channel opened", "provider", provider, "channel", id, "deposit", deposit, "expiry", expiry)
		return st, p.save(ctx, st)
	}
	if time.Until(st.Expiry) < p.cfg.Renew {
		expiry := time.Now().Add(p.cfg.Lifetime).Truncate(time.Second)
		if _, err := ch.Extend(ctx, p.cfg.Key, st.ID, expiry); err != nil {
			return nil, p.funds(ctx, err, nil)
		}
		st.Expiry = expiry
		if err := p.save(ctx, st); err != nil {
			return nil, err
		}
	}
	if short := new(big.Int).Sub(need, st.Available()); short.Sign() > 0 {
		add := maxInt(short, expect)
		if err := p.afford(ctx, add); err != nil {
			return nil, err
		}
		if _, err := ch.TopUp(ctx, p.cfg.Key, st.ID, add); err != nil {
			return nil, p.funds(ctx, err, add)
		}
		st.Deposit = new(big.Int).Add(st.Deposit, add)
		p.log.Info("channel topped up", "provider", provider, "channel", st.ID, "added", add, "deposit", st.Deposit)
		if err := p.save(ctx, st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// afford fails with ErrInsufficientFunds when the client's balance is below
// value (gas comes on top; the transaction itself reports that).
func (p *Payer) afford(ctx context.Context, value *big.Int) error {
	bal, err := p.Balance(ctx)
	if err != nil {
		return err
	}
	if bal.Cmp(value) < 0 {
		return fmt.Errorf("%w: client %s has %v wei, a deposit of %v wei is needed", ErrInsufficientFunds, p.addr, bal, value)
	}
	return nil
}

// funds words a failed transaction that ran out of money for humans.
func (p *Payer) funds(ctx context.Context, err error, value *big.Int) error {
	if !errors.Is(err, ErrInsufficientFunds) {
		return err
	}
	bal, berr := p.Balance(ctx)
	if berr != nil || value == nil {
		return err
	}
	return fmt.Errorf("%w: client %s has %v wei, not enough for %v wei and gas", ErrInsufficientFunds, p.addr, bal, value)
}

// Pay is makePayment: it signs a voucher that adds amount to what the
// client owes provider on its channel and returns it, the new cumulative
// total. It tops the channel up first when the deposit left is short (by
// at least the deposit so far, so top-ups get rarer). The voucher is kept
// before Pay returns; send it to the provider (or send Latest later: a
// higher total covers every earlier one).
func (p *Payer) Pay(ctx context.Context, provider common.Address, amount *big.Int) (*Voucher, error) {
	if amount == nil || amount.Sign() <= 0 {
		return nil, fmt.Errorf("%w: payment of %v wei", meta.ErrInvalid, amount)
	}
	defer p.lock(provider)()
	st, err := p.state(ctx, provider)
	if err != nil {
		return nil, err
	}
	if st == nil || st.Reclaimed != nil || st.Contract != p.cfg.Chain.Address() || st.Available().Cmp(amount) < 0 || time.Until(st.Expiry) < p.cfg.Renew {
		expect := amount
		if st != nil && st.Deposit != nil {
			expect = maxInt(amount, st.Deposit)
		}
		if st, err = p.ensure(ctx, provider, amount, expect); err != nil {
			return nil, err
		}
	}
	total := new(big.Int).Add(st.Cumulative, amount)
	v, err := SignVoucher(p.cfg.Key, st.Contract, p.cfg.Chain.ChainID(), st.ID, total)
	if err != nil {
		return nil, err
	}
	st.Cumulative, st.Signature = total, v.Signature
	if err := p.save(ctx, st); err != nil {
		return nil, err
	}
	return v, nil
}

// Latest returns the latest voucher signed for provider on its current
// channel, or nil (none, or the channel was reclaimed or is on another
// contract: what it covered must be paid again on a new channel).
func (p *Payer) Latest(ctx context.Context, provider common.Address) (*Voucher, error) {
	st, err := p.state(ctx, provider)
	if err != nil || st == nil || st.Reclaimed != nil || st.Contract != p.cfg.Chain.Address() {
		return nil, err
	}
	return st.Voucher(), nil
}

// Acked records that provider acknowledged a voucher of total cumulative
// on channel.
func (p *Payer) Acked(ctx context.Context, provider common.Address, channel uint64, cumulative *big.Int) error {
	defer p.lock(provider)()
	st, err := p.state(ctx, provider)
	if err != nil || st == nil || st.ID != channel {
		return err
	}
	if cumulative.Cmp(st.Acked) <= 0 {
		return nil
	}
	st.Acked = new(big.Int).Set(cumulative)
	return p.save(ctx, st)
}

// Channels lists the client's channel records (old ones included), by
// provider.
func (p *Payer) Channels(ctx context.Context) ([]*ChannelState, error) {
	var out []*ChannelState
	err := p.cfg.Store.View(ctx, func(tx meta.Tx) error {
		out = out[:0]
		keys, err := channelKeys(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			st, err := getState(tx, k)
			if err != nil {
				return err
			}
			if st != nil {
				out = append(out, st)
			}
		}
		return nil
	})
	return out, err
}

// Reclaim is the outcome of taking back what was left of one channel.
type Reclaim struct {
	Channel  uint64
	Provider common.Address
	Amount   *big.Int // refunded to the client
	Gas      *big.Int // what the transaction cost in gas (0 when none was sent)
}

// Reclaim takes back what is left of the channel to provider once it has
// expired (on the chain's clock).
func (p *Payer) Reclaim(ctx context.Context, provider common.Address) (*Reclaim, error) {
	defer p.lock(provider)()
	st, err := p.state(ctx, provider)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: no channel to %s", meta.ErrNotFound, provider)
	}
	return p.reclaim(ctx, st, channelKeyPrefix+strings.ToLower(provider.Hex()))
}

// ReclaimExpired reclaims every expired channel not reclaimed yet (old
// channels replaced by newer ones included). A failure on one channel
// does not stop the others.
func (p *Payer) ReclaimExpired(ctx context.Context) ([]Reclaim, error) {
	var keys []string
	err := p.cfg.Store.View(ctx, func(tx meta.Tx) (err error) {
		keys, err = channelKeys(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	now, err := p.chainNow(ctx)
	if err != nil {
		return nil, err
	}
	var out []Reclaim
	var errs []error
	for _, k := range keys {
		var st *ChannelState
		if err := p.cfg.Store.View(ctx, func(tx meta.Tx) (err error) { st, err = getState(tx, k); return err }); err != nil {
			return out, err
		}
		if st == nil || st.Reclaimed != nil || st.Contract != p.cfg.Chain.Address() || now.Before(st.Expiry) {
			continue
		}
		unlock := p.lock(st.Provider)
		got, err := p.reclaim(ctx, st, k)
		unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, *got)
	}
	return out, errors.Join(errs...)
}

func (p *Payer) reclaim(ctx context.Context, st *ChannelState, key string) (*Reclaim, error) {
	r := &Reclaim{Channel: st.ID, Provider: st.Provider, Amount: new(big.Int), Gas: new(big.Int)}
	if st.Reclaimed != nil {
		return r, nil
	}
	oc, err := p.cfg.Chain.Channel(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	now, err := p.chainNow(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case oc.Closed:
		// Reclaimed before (the record was not saved): nothing more.
	case now.Before(oc.Expiry):
		return nil, fmt.Errorf("%w: channel %d to %s expires at %s", meta.ErrInvalid, st.ID, st.Provider, oc.Expiry.UTC().Format(time.RFC3339))
	default:
		got, receipt, err := p.cfg.Chain.Reclaim(ctx, p.cfg.Key, st.ID)
		if err != nil {
			return nil, err
		}
		r.Amount, r.Gas = got, GasCost(receipt)
	}
	st.Reclaimed = r.Amount
	p.log.Info("channel reclaimed", "provider", st.Provider, "channel", st.ID, "amount", r.Amount)
	return r, p.put(ctx, key, st)
}

// chainNow is the chain's clock (the one the contract checks expiries on).
func (p *Payer) chainNow(ctx context.Context) (time.Time, error) { return p.cfg.Chain.Now(ctx) }

// stateKey is the meta key of the current channel record to provider.
func stateKey(provider common.Address) string {
	return channelKeyPrefix + strings.ToLower(provider.Hex())
}

// state returns the current channel record to provider (nil: none), the
// caller's to change.
func (p *Payer) state(ctx context.Context, provider common.Address) (*ChannelState, error) {
	p.mu.Lock()
	st, ok := p.states[provider]
	p.mu.Unlock()
	if ok {
		return st.clone(), nil
	}
	err := p.cfg.Store.View(ctx, func(tx meta.Tx) (err error) {
		st, err = getState(tx, stateKey(provider))
		return err
	})
	if err != nil || st == nil {
		return st, err
	}
	p.mu.Lock()
	if _, ok := p.states[provider]; !ok {
		p.states[provider] = st.clone()
	}
	p.mu.Unlock()
	return st, nil
}

func (p *Payer) save(ctx context.Context, st *ChannelState) error {
	return p.put(context.WithoutCancel(ctx), stateKey(st.Provider), st)
}

// put writes st at key and keeps the Payer's copy of the current records
// in step.
func (p *Payer) put(ctx context.Context, key string, st *ChannelState) error {
	p.mu.Lock()
	listed := p.listed[key]
	p.mu.Unlock()
	err := p.cfg.Store.Update(ctx, func(tx meta.Tx) error {
		if listed {
			return putRecord(tx, key, st)
		}
		return putState(tx, key, st)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if key == stateKey(st.Provider) {
		if err != nil {
			delete(p.states, st.Provider) // unknown: read it again
		} else {
			p.states[st.Provider] = st.clone()
		}
	}
	if err == nil {
		p.listed[key] = true
	}
	return err
}

// keepOld moves a channel record that is being replaced to a key of its
// own, so ReclaimExpired still finds it.
func (p *Payer) keepOld(ctx context.Context, old *ChannelState) error {
	return p.put(ctx, oldKey(old.Provider, old.Contract, old.ID), old)
}

func oldKey(provider, contract common.Address, id uint64) string {
	return fmt.Sprintf("%s%s/%s/%d", channelKeyPrefix, strings.ToLower(provider.Hex()), strings.ToLower(contract.Hex()), id)
}

// adoptLost records the client's latest channel to provider on chain when
// this Payer has no record of it: a data dir lost (or brought back from
// an older copy) forgot it, and its deposit would stay locked in the
// contract for good. It is not paid on again, since what was signed on it
// is not known here (a voucher for less than the provider holds would be
// refused): it is kept as an old channel, which ReclaimExpired takes back
// once it expires, less what its provider claims meanwhile.
func (p *Payer) adoptLost(ctx context.Context, provider common.Address) error {
	ch := p.cfg.Chain
	id, err := ch.ChannelOf(ctx, p.addr, provider)
	if err != nil || id == 0 {
		return err
	}
	if cur, err := p.state(ctx, provider); err != nil {
		return err
	} else if cur != nil && cur.Contract == ch.Address() && cur.ID == id {
		return nil // known: it just expired or cannot cover the payment
	}
	key := oldKey(provider, ch.Address(), id)
	var old *ChannelState
	if err := p.cfg.Store.View(ctx, func(tx meta.Tx) (err error) { old, err = getState(tx, key); return err }); err != nil || old != nil {
		return err
	}
	oc, err := ch.Channel(ctx, id)
	if err != nil || !oc.Exists() || oc.Closed || oc.Client != p.addr || oc.Provider != provider {
		return err
	}
	st := &ChannelState{Contract: ch.Address(), ID: id, Provider: provider, Deposit: oc.Deposit, Expiry: oc.Expiry,
		Cumulative: new(big.Int).Set(oc.Paid), Acked: new(big.Int).Set(oc.Paid)}
	p.log.Warn("found a channel this data dir did not know (a lost data dir?): it is reclaimed once it expires",
		"provider", provider, "channel", id, "deposit", oc.Deposit, "expiry", oc.Expiry)
	return p.keepOld(ctx, st)
}

// clone returns a deep copy of s.
func (s *ChannelState) clone() *ChannelState {
	c := *s
	for _, v := range []**big.Int{&c.Deposit, &c.Cumulative, &c.Acked, &c.Reclaimed} {
		if *v != nil {
			*v = new(big.Int).Set(*v)
		}
	}
	c.Signature = slices.Clone(s.Signature)
	return &c
}

func getState(tx meta.Tx, key string) (*ChannelState, error) {
	b, err := tx.Get(key)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st ChannelState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, key, err)
	}
	if st.Deposit == nil {
		st.Deposit = new(big.Int)
	}
	if st.Cumulative == nil {
		st.Cumulative = new(big.Int)
	}
	if st.Acked == nil {
		st.Acked = new(big.Int)
	}
	return &st, nil
}

// putRecord writes st at key.
func putRecord(tx meta.Tx, key string, st *ChannelState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// putState writes st at key and puts key on the list of channel records.
func putState(tx meta.Tx, key string, st *ChannelState) error {
	if err := putRecord(tx, key, st); err != nil {
		return err
	}
	keys, err := channelKeys(tx)
	if err != nil {
		return err
	}
	if slices.Contains(keys, key) {
		return nil
	}
	keys = append(keys, key)
	slices.Sort(keys)
	kb, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return tx.Put(channelsKey, kb)
}

func channelKeys(tx meta.Tx) ([]string, error) {
	b, err := tx.Get(channelsKey)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, channelsKey, err)
	}
	return keys, nil
}

func maxInt(vs ...*big.Int) *big.Int {
	m := new(big.Int)
	for _, v := range vs {
		if v != nil && v.Cmp(m) > 0 {
			m = v
		}
	}
	return new(big.Int).Set(m)
}
