package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/provider/pay"
)

// Payments (DESIGN §5). After STORE_CHUNK_REQUEST is agreed, the engine
// checks for a channel to the provider (checkExistingChannel) that covers
// the link's price; if there is none the link goes to
// establish_payment_channel, where createChannel (or a top-up) is made,
// sized for the work expected at that provider. Once the link's pledge is
// verified, the link is persisted as signed together with what it owes;
// then the provider's payment worker (makePayment) signs a voucher for the
// channel's new cumulative total and sends it (SEND_MICROPAYMENT_FOR_CHUNK),
// one voucher for all the links signed meanwhile. A payment record per
// link (meta.Payment, shown on the link in a detailed status) says what it
// paid and whether the provider acknowledged it.
//
// Nothing stalls silently: a client that cannot fund a channel keeps its
// links in establish_payment_channel with the reason in their error text
// and in PaymentStatus, and tries again every PayRetry. A payment the
// provider did not acknowledge (it was unreachable) is sent again by a
// background loop, from a durable list, across restarts; a later voucher's
// higher total covers every earlier one, so resending means sending the
// latest voucher.

// Micropayer is a Network that can send vouchers; *provider.Client is one.
type Micropayer interface {
	SendMicropayment(ctx context.Context, p peer.ID, v *pay.Voucher) (*big.Int, error)
}

// PaymentStatus is the state of the engine's payments, for status pages.
type PaymentStatus struct {
	// State is "off" (no payer configured), "ok", or "blocked" when the
	// last attempt to fund a channel or to pay failed.
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"` // why it is blocked
	Since   time.Time `json:"since,omitzero"`
	Client  string    `json:"client,omitempty"` // the paying account
}

// ProviderSpend is what a file's links cost at one provider.
type ProviderSpend struct {
	Provider string         `json:"provider"` // peer id
	Address  common.Address `json:"address"`
	Links    int            `json:"links"`             // links with a payment
	Paid     string         `json:"paid"`              // wei acknowledged by the provider
	Pending  string         `json:"pending,omitempty"` // wei in vouchers not acknowledged yet
}

// errPaymentBlocked marks a link that waits for money: it keeps its state.
var errPaymentBlocked = errors.New("waiting for payment")

// unpaidPrefix names the durable list of signed links whose payments are
// not all acknowledged: one key per link, so that link workers adding and
// removing entries at once never write the same key.
const unpaidPrefix = "pay/unpaid/"

func unpaidKey(id meta.LinkID) string { return unpaidPrefix + id.String() }

type unpaidEntry struct {
	Chunk meta.ID     `json:"chunk"`
	Link  meta.LinkID `json:"link"`
}

// payments is the engine's payment state; nil when payments are off.
type payments struct {
	payer *pay.Payer
	net   Micropayer
	retry time.Duration

	mu     sync.Mutex
	issue  string
	since  time.Time
	locks  map[common.Address]*sync.Mutex // settle, one provider at a time
	queues map[common.Address]*payQueue   // links signed, for the payment workers
}

func (ps *payments) lock(a common.Address) func() {
	ps.mu.Lock()
	l := ps.locks[a]
	if l == nil {
		l = new(sync.Mutex)
		ps.locks[a] = l
	}
	ps.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func newPayments(cfg *Config) (*payments, error) {
	if cfg.Payer == nil {
		return nil, nil
	}
	m, ok := cfg.Net.(Micropayer)
	if !ok {
		return nil, fmt.Errorf("%w: the network cannot send micropayments", meta.ErrInvalid)
	}
	retry := cfg.PayRetry
	if retry <= 0 {
		retry = 5 * time.Second
	}
	return &payments{payer: cfg.Payer, net: m, retry: retry, locks: map[common.Address]*sync.Mutex{}, queues: map[common.Address]*payQueue{}}, nil
}

func (ps *payments) setIssue(err error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err == nil {
		ps.issue, ps.since = "", time.Time{}
		return
	}
	if ps.issue == "" {
		ps.since = time.Now()
	}
	ps.issue = err.Error()
}

// PaymentStatus reports whether the engine can pay its providers.
func (e *Engine) PaymentStatus() PaymentStatus {
	ps := e.pay
	if ps == nil {
		return PaymentStatus{State: "off"}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := PaymentStatus{State: "ok", Client: ps.payer.Address().Hex()}
	if ps.issue != "" {
		st.State, st.Message, st.Since = "blocked", ps.issue, ps.since
	}
	return st
}

// Payer returns the engine's payer (nil when payments are off).
func (e *Engine) Payer() *pay.Payer {
	if e.pay == nil {
		return nil
	}
	return e.pay.payer
}

// offeredRate is the price per byte per day a link offers in its
// STORE_CHUNK_REQUEST: the provider's rate from its OFFER.
func offeredRate(l *meta.Link) *big.Int {
	if r, ok := new(big.Int).SetString(l.Rate, 10); ok {
		return r
	}
	// Links made before Rate was kept: Price = rate × length × days.
	price, ok := new(big.Int).SetString(l.Price, 10)
	if !ok {
		return nil
	}
	unit := provider.Price(big.NewInt(1), l.SealedLen, l.Expires.Sub(l.Created))
	if unit.Sign() > 0 {
		if q, r := new(big.Int).QuoRem(price, unit, new(big.Int)); r.Sign() == 0 {
			return q
		}
	}
	return price
}

// rateOf is the rate a new link keeps from the provider's offer.
func rateOf(o provider.Offer) string {
	if o.PricePerByteDay == nil {
		return "0"
	}
	return o.PricePerByteDay.String()
}

func linkCost(l *meta.Link) *big.Int {
	p, ok := new(big.Int).SetString(l.Price, 10)
	if !ok || p.Sign() < 0 {
		return new(big.Int)
	}
	return p
}

// needsChannel is checkExistingChannel for an agreed link: whether it must
// go through establish_payment_channel first. It reads local state only.
func (e *Engine) needsChannel(ctx context.Context, l *meta.Link) bool {
	if e.pay == nil || linkCost(l).Sign() == 0 {
		return false
	}
	return !e.pay.payer.Ready(ctx, l.Address, linkCost(l))
}

// establishChannel is createChannel (or a top-up or an extension) for l's
// provider, sized for the work expected there: the links the chunks in
// flight will place with it, at l's price. Failing for lack of money or
// of the chain, it returns an error wrapping errPaymentBlocked: the link
// waits in establish_payment_channel and tries again.
func (e *Engine) establishChannel(ctx context.Context, l *meta.Link) error {
	need := linkCost(l)
	expect := new(big.Int).Mul(need, big.NewInt(e.expectedLinks(ctx)))
	_, err := e.pay.payer.Ensure(ctx, l.Address, need, expect)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("%w: payment channel to %s: %w", errPaymentBlocked, l.Address, err)
		e.pay.setIssue(err)
		return err
	}
	e.pay.setIssue(nil)
	return nil
}

// expectedLinks estimates how many links the chunks in flight will place
// with one provider: uploading chunks × redundancy / providers, within
// [1, 1024].
func (e *Engine) expectedLinks(ctx context.Context) int64 {
	n := 0
	_ = e.store.View(ctx, func(tx meta.Tx) error {
		n = 0
		return tx.Uploading(func(meta.ID) error { n++; return nil })
	})
	e.providers.mu.Lock()
	np := max(len(e.providers.offers), 1)
	e.providers.mu.Unlock()
	k := (int64(n)*int64(e.cfg.Redundancy) + int64(np) - 1) / int64(np)
	return min(max(k, 1), 1024)
}

// linkPay is the payment record of one link, kept apart from the link's
// own record (meta key "pay/link/<link id>") so that other writers of
// signed links (audits, renewals) never overwrite it.
type linkPay struct {
	Chunk    meta.ID        `json:"chunk"`
	Provider string         `json:"provider"`
	Address  common.Address `json:"address"`
	Payments []meta.Payment `json:"payments"`
}

func linkPayKey(id meta.LinkID) string { return "pay/link/" + id.String() }

func getLinkPay(tx meta.Tx, id meta.LinkID) (*linkPay, error) {
	b, err := tx.Get(linkPayKey(id))
	if errors.Is(err, meta.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lp linkPay
	if err := json.Unmarshal(b, &lp); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, linkPayKey(id), err)
	}
	return &lp, nil
}

func putLinkPay(tx meta.Tx, id meta.LinkID, lp *linkPay) error {
	b, err := json.Marshal(lp)
	if err != nil {
		return err
	}
	return tx.Put(linkPayKey(id), b)
}

// owe records, in tx, that l owes amount more to its provider: a payment
// without a voucher yet, and l on the durable list of links to pay.
func owe(tx meta.Tx, l *meta.Link, amount *big.Int) error {
	lp, err := getLinkPay(tx, l.ID)
	if err != nil {
		return err
	}
	if lp == nil {
		lp = &linkPay{Chunk: l.Chunk, Provider: l.Provider, Address: l.Address}
	}
	lp.Payments = append(lp.Payments, meta.Payment{Amount: amount.String()})
	if err := putLinkPay(tx, l.ID, lp); err != nil {
		return err
	}
	b, err := json.Marshal(unpaidEntry{Chunk: l.Chunk, Link: l.ID})
	if err != nil {
		return err
	}
	return tx.Put(unpaidKey(l.ID), b)
}

// oweFor returns what to write with l as it becomes signed: a payment of
// its price owed to its provider (nil when there is nothing to pay). A
// pledge asked for again after a restart owes once.
func (e *Engine) oweFor(l *meta.Link) func(meta.Tx) error {
	cost := linkCost(l)
	if e.pay == nil || cost.Sign() == 0 {
		return nil
	}
	return func(tx meta.Tx) error {
		if lp, err := getLinkPay(tx, l.ID); err != nil || lp != nil {
			return err
		}
		return owe(tx, l, cost)
	}
}

// maxPayBatch bounds the links one voucher pays for: their payment records
// are written in one transaction.
const maxPayBatch = 128

// payQueue holds the signed links waiting for a provider's payment worker.
type payQueue struct {
	p       peer.ID
	links   []meta.LinkID
	running bool
	full    chan struct{} // payEarly links wait: pay without waiting longer
}

// queuePayment is makePayment for a link just persisted as signed: its
// provider's payment worker sends a voucher for it within payGather,
// together with the other links signed meanwhile: one signature, one
// round trip and a few writes per batch instead of per link (a voucher's
// cumulative total covers every earlier one, DESIGN §5). A payment that
// does not go through stays on the durable list of links to pay, which
// payLoop goes through.
func (e *Engine) queuePayment(l *meta.Link, p peer.ID) {
	ps := e.pay
	if ps == nil || linkCost(l).Sign() == 0 {
		return
	}
	ps.mu.Lock()
	q := ps.queues[l.Address]
	if q == nil {
		q = &payQueue{full: make(chan struct{}, 1)}
		ps.queues[l.Address] = q
	}
	q.p = p
	q.links = append(q.links, l.ID)
	if len(q.links) >= payEarly {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
	if q.running {
		ps.mu.Unlock()
		return
	}
	q.running = true
	ps.mu.Unlock()
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		ps.mu.Lock()
		q.running = false
		ps.mu.Unlock()
		return // the payment loop pays it after the next start
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		e.payWorker(l.Address, q)
	}()
}

// payGather is how long a payment worker lets signed links gather before
// it pays for them. A voucher costs a signature, a round trip, the
// provider's check and a few writes on each side whatever it covers;
// links are signed at a provider some milliseconds apart while an upload
// runs, so paying at once meant a voucher per link.
const payGather = 100 * time.Millisecond

// payEarly is how many links waiting make a worker pay without waiting
// for payGather: a provider refuses new work from a client that owes for
// too many pledges (provider.DefaultUnpaidBytes: 64 chunks of 256 KiB for
// 30 days), and a fast client signs more than that in 100 ms.
const payEarly = 16

// payWorker settles the links queued for one provider until none are left.
func (e *Engine) payWorker(addr common.Address, q *payQueue) {
	ps := e.pay
	for {
		t := time.NewTimer(payGather)
		select {
		case <-e.ctx.Done():
		case <-t.C:
		case <-q.full:
		}
		t.Stop()
		ps.mu.Lock()
		n := min(len(q.links), maxPayBatch)
		if n == 0 || e.ctx.Err() != nil {
			q.links, q.running = nil, false
			ps.mu.Unlock()
			return
		}
		links, p := q.links[:n:n], q.p
		q.links = q.links[n:]
		ps.mu.Unlock()
		if err := e.settle(e.ctx, addr, p, links); err != nil && e.ctx.Err() == nil {
			e.log.Info("payment not acknowledged yet", "provider", p, "links", len(links), "err", err)
		}
	}
}

// PayRenewal pays for extending l's pledge from old to until at its rate
// (the provider bills the same extension). Call it once the renewed pledge
// is verified.
func (e *Engine) PayRenewal(ctx context.Context, l *meta.Link, p peer.ID, old, until time.Time) error {
	if e.pay == nil || !until.After(old) {
		return nil
	}
	amount := provider.Price(offeredRate(l), l.SealedLen, until.Sub(old))
	if amount.Sign() == 0 {
		return nil
	}
	err := e.store.Update(context.WithoutCancel(ctx), func(tx meta.Tx) error { return owe(tx, l, amount) })
	if err != nil {
		return err
	}
	return e.settle(ctx, l.Address, p, []meta.LinkID{l.ID})
}

// settle signs one voucher for the payments of links (all to the provider
// addr, whose peer is p) that have none yet, sends the latest voucher to
// the provider, and records what the provider acknowledged. Links whose
// payments are all acknowledged leave the list of links to pay. Work for
// one provider is serialized.
func (e *Engine) settle(ctx context.Context, addr common.Address, p peer.ID, links []meta.LinkID) (err error) {
	ps := e.pay
	unlock := ps.lock(addr)
	defer unlock()
	ids := make([]meta.LinkID, 0, len(links))
	lps := make([]*linkPay, 0, len(links))
	err = e.store.View(ctx, func(tx meta.Tx) error {
		ids, lps = ids[:0], lps[:0]
		for _, id := range links {
			lp, err := getLinkPay(tx, id)
			if err != nil {
				return err
			}
			if lp != nil {
				ids, lps = append(ids, id), append(lps, lp)
			}
		}
		return nil
	})
	if err != nil || len(lps) == 0 {
		return err
	}
	// each calls fn on every payment not yet acknowledged.
	each := func(fn func(pm *meta.Payment)) {
		for _, lp := range lps {
			for i := range lp.Payments {
				if pm := &lp.Payments[i]; !pm.Acked {
					fn(pm)
				}
			}
		}
	}
	save := func() error {
		return e.store.Update(context.WithoutCancel(ctx), func(tx meta.Tx) error {
			for i, lp := range lps {
				if err := putLinkPay(tx, ids[i], lp); err != nil {
					return err
				}
				if slices.ContainsFunc(lp.Payments, func(pm meta.Payment) bool { return !pm.Acked }) {
					continue
				}
				if err := tx.Delete(unpaidKey(ids[i])); err != nil {
					return err
				}
			}
			return nil
		})
	}
	defer func() {
		each(func(pm *meta.Payment) {
			pm.Error = ""
			if err != nil {
				pm.Error = err.Error()
			}
		})
		if perr := save(); err == nil {
			err = perr
		}
	}()

	// One voucher for everything not signed for yet.
	amount := new(big.Int)
	var unsigned []*meta.Payment
	each(func(pm *meta.Payment) {
		if pm.Cumulative == "" {
			a, _ := new(big.Int).SetString(pm.Amount, 10)
			if a != nil && a.Sign() > 0 {
				amount.Add(amount, a)
				unsigned = append(unsigned, pm)
			}
		}
	})
	if len(unsigned) > 0 {
		v, err := ps.payer.Pay(ctx, addr, amount)
		if err != nil {
			err = fmt.Errorf("%w: pay %s: %w", errPaymentBlocked, addr, err)
			ps.setIssue(err)
			return err
		}
		for _, pm := range unsigned {
			pm.Channel, pm.Cumulative = v.Channel, v.Cumulative.String()
		}
		// Keep the voucher's total before it goes out: the payer never
		// signs this amount again.
		if err := save(); err != nil {
			return err
		}
	}
	v, err := ps.payer.Latest(ctx, addr)
	if err != nil {
		return err
	}
	if v == nil {
		// The channel these payments were signed on is gone (reclaimed,
		// or a dev chain that restarted): pay them again on a new one.
		each(func(pm *meta.Payment) { pm.Channel, pm.Cumulative = 0, "" })
		return fmt.Errorf("no usable channel to %s: the payments of %d links go out again on a new one", addr, len(ids))
	}
	total, err := ps.net.SendMicropayment(ctx, p, v)
	switch {
	case errors.Is(err, meta.ErrExists):
		// The provider holds this voucher (or a higher one, which only we
		// could have signed): an earlier send got through.
		total = v.Cumulative
	case err != nil:
		return err
	}
	ps.setIssue(nil)
	if err := ps.payer.Acked(ctx, addr, v.Channel, total); err != nil {
		return err
	}
	old := false
	each(func(pm *meta.Payment) {
		c, ok := new(big.Int).SetString(pm.Cumulative, 10)
		switch {
		case ok && pm.Channel == v.Channel && c.Cmp(total) <= 0:
			pm.Acked = true
		case pm.Channel != v.Channel:
			// Signed on a channel since replaced (it expired) and never
			// acknowledged, so never credited: pay it on the current one
			// next round.
			pm.Channel, pm.Cumulative = 0, ""
			old = true
		}
	})
	if old {
		return fmt.Errorf("payments to %s signed on a replaced channel go out again", addr)
	}
	return nil
}

// reclaimEvery is how often the payment loop takes back what is left of
// expired channels.
const reclaimEvery = 10 * time.Minute

// payLoop sends again, every PayRetry, the payments of signed links that
// were not acknowledged, and now and then reclaims expired channels.
func (e *Engine) payLoop(ctx context.Context) {
	t := time.NewTicker(e.pay.retry)
	defer t.Stop()
	var reclaimed time.Time
	for {
		if err := e.PayRound(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("payment round", "err", err)
		}
		if time.Since(reclaimed) >= reclaimEvery {
			reclaimed = time.Now()
			back, err := e.pay.payer.ReclaimExpired(ctx)
			for _, r := range back {
				e.log.Info("reclaimed an expired channel", "provider", r.Provider, "channel", r.Channel, "wei", r.Amount)
			}
			if err != nil && ctx.Err() == nil {
				e.log.Warn("reclaim expired channels", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PayRound settles once every link on the list of links to pay, one
// voucher per provider (per maxPayBatch links).
func (e *Engine) PayRound(ctx context.Context) error {
	if e.pay == nil {
		return nil
	}
	type group struct {
		p     peer.ID
		links []meta.LinkID
	}
	var (
		by    = map[common.Address]*group{}
		order []common.Address
		gone  []meta.LinkID
		errs  []error
	)
	err := e.store.View(ctx, func(tx meta.Tx) error {
		list, err := readUnpaid(tx)
		if err != nil {
			return err
		}
		for _, u := range list {
			lp, err := getLinkPay(tx, u.Link)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if lp == nil {
				gone = append(gone, u.Link)
				continue
			}
			p, err := peer.Decode(lp.Provider)
			if err != nil {
				errs = append(errs, fmt.Errorf("link %s: %w", u.Link, err))
				continue
			}
			g := by[lp.Address]
			if g == nil {
				g = &group{p: p}
				by[lp.Address] = g
				order = append(order, lp.Address)
			}
			g.links = append(g.links, u.Link)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		err := e.store.Update(ctx, func(tx meta.Tx) error {
			for _, id := range gone {
				if err := tx.Delete(unpaidKey(id)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range order {
		g := by[a]
		for len(g.links) > 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n := min(len(g.links), maxPayBatch)
			if err := e.settle(ctx, a, g.p, g.links[:n]); err != nil {
				errs = append(errs, fmt.Errorf("provider %s: %w", a, err))
			}
			g.links = g.links[n:]
		}
	}
	return errors.Join(errs...)
}

func readUnpaid(tx meta.Tx) ([]unpaidEntry, error) {
	var list []unpaidEntry
	err := tx.Scan(unpaidPrefix, func(k string, v []byte) error {
		var u unpaidEntry
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, k, err)
		}
		list = append(list, u)
		return nil
	})
	return list, err
}

// Cost returns what the links of file id cost so far: the payments their
// providers acknowledged, in wei (the xattr user.point.cost). A chunk that
// several files share counts for each of them.
func (e *Engine) Cost(ctx context.Context, id meta.ID) (*big.Int, error) {
	spend, err := e.Spend(ctx, id)
	if err != nil {
		return nil, err
	}
	total := new(big.Int)
	for _, s := range spend {
		p, _ := new(big.Int).SetString(s.Paid, 10)
		total.Add(total, p)
	}
	return total, nil
}

// Spend returns what file id's links cost at each provider (paid and
// pending), by provider.
func (e *Engine) Spend(ctx context.Context, id meta.ID) ([]ProviderSpend, error) {
	var links []*meta.Link
	err := e.store.View(ctx, func(tx meta.Tx) error {
		links = links[:0]
		chunks, err := tx.FileChunks(id)
		if err != nil {
			return err
		}
		f := &meta.File{ID: id, Chunks: chunks}
		for _, c := range f.DistinctChunks() {
			ls, err := tx.Links(c)
			if err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
			links = append(links, ls...)
		}
		return withPayments(tx, links)
	})
	if err != nil {
		return nil, err
	}
	return spendOf(links), nil
}

// withPayments fills in the payments of links from their payment records.
func withPayments(tx meta.Tx, links []*meta.Link) error {
	for _, l := range links {
		lp, err := getLinkPay(tx, l.ID)
		if err != nil {
			return err
		}
		if lp != nil {
			l.Payments = lp.Payments
		}
	}
	return nil
}

func spendOf(links []*meta.Link) []ProviderSpend {
	type acc struct {
		s             ProviderSpend
		paid, pending *big.Int
	}
	by := map[string]*acc{}
	var order []string
	for _, l := range links {
		if len(l.Payments) == 0 {
			continue
		}
		a := by[l.Provider]
		if a == nil {
			a = &acc{s: ProviderSpend{Provider: l.Provider, Address: l.Address}, paid: new(big.Int), pending: new(big.Int)}
			by[l.Provider] = a
			order = append(order, l.Provider)
		}
		a.s.Links++
		for _, pm := range l.Payments {
			v, ok := new(big.Int).SetString(pm.Amount, 10)
			if !ok {
				continue
			}
			if pm.Acked {
				a.paid.Add(a.paid, v)
			} else {
				a.pending.Add(a.pending, v)
			}
		}
	}
	slices.Sort(order)
	out := make([]ProviderSpend, 0, len(order))
	for _, k := range order {
		a := by[k]
		a.s.Paid = a.paid.String()
		if a.pending.Sign() > 0 {
			a.s.Pending = a.pending.String()
		}
		out = append(out, a.s)
	}
	return out
}

// fillPayments adds cost, spend per provider and any payment problem to a
// detailed status, and each link's payments.
func (e *Engine) fillPayments(ctx context.Context, st *FileStatus) {
	if e.pay == nil {
		return
	}
	var links []*meta.Link
	seen := map[meta.LinkID]bool{}
	for _, cs := range st.Chunks {
		for _, l := range cs.Links {
			if !seen[l.ID] {
				seen[l.ID] = true
				links = append(links, l)
			}
			if l.State == meta.LinkEstablishPaymentChannel && l.Error != "" && st.Payment == "" {
				st.Payment = l.Error
			}
		}
	}
	if err := e.store.View(ctx, func(tx meta.Tx) error { return withPayments(tx, links) }); err != nil {
		e.log.Warn("read payments", "file", st.File.ID, "err", err)
	}
	st.Spend = spendOf(links)
	total := new(big.Int)
	for _, s := range st.Spend {
		p, _ := new(big.Int).SetString(s.Paid, 10)
		total.Add(total, p)
	}
	st.Cost = total.String()
	if st.Payment == "" {
		if ps := e.PaymentStatus(); ps.State == "blocked" {
			st.Payment = ps.Message
		}
	}
}
