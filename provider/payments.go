package provider

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/pay"
	"github.com/pointfs/pointfs/provider/wire"
)

// PayConfig is a provider's side of the payment channels (DESIGN §5).
type PayConfig struct {
	// Chain is where vouchers are checked and claimed, from the provider's
	// own account (Config.Key), which pays the gas of its claims. nil: the
	// provider asks for no payment and declines vouchers.
	Chain *pay.Chain
	// MaxUnpaid is how much a client may owe for pledges it was given and
	// has not paid before its new STORE_CHUNK_REQUESTs are declined. nil:
	// DefaultUnpaidBytes stored for 30 days at the provider's price.
	MaxUnpaid *big.Int
	// MinRemaining, ClaimBefore and ClaimCheck tune the Payee (pay's
	// defaults when 0): vouchers on channels expiring within MinRemaining
	// are refused; a channel is claimed ClaimBefore its expiry, looked for
	// every ClaimCheck.
	MinRemaining, ClaimBefore, ClaimCheck time.Duration
}

// DefaultUnpaidBytes sizes the default PayConfig.MaxUnpaid: a client that
// keeps several links in flight owes for a few pledges between signature
// and payment; one that owes for 16 MiB-months has stopped paying.
const DefaultUnpaidBytes = 16 << 20

// Price is what storing size bytes for d costs at rate wei per byte per
// day, whole days rounded up (at least one). Client and provider compute a
// link's price the same way.
func Price(rate *big.Int, size int64, d time.Duration) *big.Int {
	if rate == nil || rate.Sign() <= 0 || size <= 0 {
		return new(big.Int)
	}
	days := int64((d + 24*time.Hour - 1) / (24 * time.Hour))
	if days < 1 {
		days = 1
	}
	p := new(big.Int).Mul(rate, big.NewInt(size))
	return p.Mul(p, big.NewInt(days))
}

// startPayee makes the Payee when payments are on, and runs its claims
// until the server closes.
func (s *Server) startPayee() error {
	pc := s.cfg.Pay
	if pc.Chain == nil {
		return nil
	}
	p, err := newPayee(pc, s.cfg.Key, &payKV{db: s.store.db, sync: func(ctx context.Context) error { return s.sync.Wait(ctx) }}, s.log)
	if err != nil {
		return err
	}
	s.payee = p
	s.maxUnpaid = pc.MaxUnpaid
	if s.maxUnpaid == nil {
		s.maxUnpaid = Price(s.cfg.PricePerByteDay, DefaultUnpaidBytes, 30*24*time.Hour)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.Run(s.ctx)
	}()
	return nil
}

func newPayee(pc PayConfig, key *ecdsa.PrivateKey, kv pay.KV, log *slog.Logger) (*pay.Payee, error) {
	return pay.NewPayee(pay.PayeeConfig{
		Chain: pc.Chain, Key: key, Store: kv, MinRemaining: pc.MinRemaining,
		ClaimBefore: pc.ClaimBefore, ClaimCheck: pc.ClaimCheck, Logger: log.With("part", "payee"),
	})
}

// Payee returns the provider's Payee, nil when payments are off.
func (s *Server) Payee() *pay.Payee { return s.payee }

// micropayment answers SEND_MICROPAYMENT_FOR_CHUNK.
func (s *Server) micropayment(client common.Address, m *wire.Micropayment) wire.Msg {
	if s.payee == nil {
		return wire.Errorf(wire.CodeDeclined, "this provider takes no payments")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.t.write)
	defer cancel()
	v := &pay.Voucher{Contract: m.Contract, Channel: m.Channel, Cumulative: m.Cumulative, Signature: m.Signature}
	acc, err := s.payee.Accept(ctx, client, v)
	switch {
	case errors.Is(err, pay.ErrStaleVoucher):
		return wire.Errorf(wire.CodeStale, "%v", err)
	case errors.Is(err, pay.ErrBadVoucher):
		return wire.Errorf(wire.CodeDeclined, "%v", err)
	case err != nil:
		return s.internal("accept voucher", err)
	}
	return &wire.MicropaymentAck{Channel: acc.Channel, Cumulative: acc.Cumulative, Credited: acc.Credited}
}

// refuseDebtor declines new work from a client that owes more than
// MaxUnpaid for pledges it did not pay; nil lets it in.
func (s *Server) refuseDebtor(client common.Address) *wire.Error {
	if s.payee == nil {
		return nil
	}
	owed, err := s.payee.Unpaid(client)
	if err != nil {
		return s.internal("read account", err)
	}
	if owed.Cmp(s.maxUnpaid) > 0 {
		return wire.Errorf(wire.CodeDeclined, "client %s owes %v wei for pledges it has not paid (limit %v): send a micropayment first",
			client, owed, s.maxUnpaid)
	}
	return nil
}

// keepPledge keeps p, just signed, with root's record (when fits, if set,
// says it still covers the record) and bills client for the period the
// pledge covers that was not billed before (the whole pledge the first
// time, the extension on a renewal), at the rate its STORE_CHUNK_REQUEST
// offered: one index write for both. If it fails, the pledge holds all the
// same; it is kept, and billed, when it is signed again. Nothing here is
// synced: the caller's sync, before it hands p out, makes the replica, the
// pledge and the bill durable at once.
func (s *Server) keepPledge(client common.Address, root meta.ID, p *meta.Pledge, fits func(*record) bool) {
	var charge *big.Int
	err := s.store.updateRecord(root, func(r *record) error {
		charge = nil
		if fits == nil || fits(r) {
			r.Pledge = p
		}
		if s.payee == nil {
			return nil
		}
		rate, ok := new(big.Int).SetString(r.Rate, 10)
		if !ok || rate.Sign() <= 0 || r.Expires <= r.BilledUntil {
			return nil
		}
		from := max(r.BilledUntil, time.Now().Unix())
		charge = Price(rate, r.SealedLen, time.Duration(r.Expires-from)*time.Second)
		r.BilledUntil = r.Expires
		return nil
	})
	if err != nil {
		s.log.Warn("keep and bill pledge", "root", root, "err", err)
		return
	}
	if charge == nil || charge.Sign() == 0 {
		return
	}
	if err := s.payee.Bill(client, charge); err != nil {
		s.log.Warn("bill pledge", "root", root, "err", err)
	}
}

// Claim cashes in, from the provider's account, every voucher of the
// provider in dataDir not claimed yet (`pointfs provider claim`). The
// provider must not be running (it claims on its own before channels
// expire): its index is opened here.
func Claim(ctx context.Context, dataDir string, pc PayConfig, log *slog.Logger) ([]pay.Claim, error) {
	if pc.Chain == nil {
		return nil, fmt.Errorf("%w: claiming needs a chain", meta.ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := Config{DataDir: dataDir, Logger: log}.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := openStore(dataDir, log)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	p, err := newPayee(pc, cfg.Key, &payKV{db: st.db, sync: func(context.Context) error { return st.db.Sync() }}, log)
	if err != nil {
		return nil, err
	}
	return p.Claim(ctx)
}

// payKV keeps the Payee's records in the provider's index under prefix
// 'p', made durable by the group sync before Put returns.
type payKV struct {
	db   *badger.DB
	sync func(context.Context) error
}

const prefixPay = 'p'

func payKey(k []byte) []byte { return append([]byte{prefixPay}, k...) }

func (kv *payKV) Get(key []byte) ([]byte, error) {
	var out []byte
	err := kv.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(payKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

func (kv *payKV) Write(pairs ...pay.Pair) error {
	return kv.db.Update(func(txn *badger.Txn) error {
		for _, p := range pairs {
			if err := txn.Set(payKey(p.Key), p.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

func (kv *payKV) Put(pairs ...pay.Pair) error {
	if err := kv.Write(pairs...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kv.sync(ctx)
}

func (kv *payKV) Each(prefix []byte, fn func(key, val []byte) error) error {
	return kv.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: payKey(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.KeyCopy(nil)[1:], v) }); err != nil {
				return err
			}
		}
		return nil
	})
}
