package provider

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
)

// promised counts the bytes the provider has promised and not written
// yet: reservations, and the segments still missing from replicas being
// received. free subtracts them from the disk's free space. A replica's
// region is a hole until its segments arrive, so the disk's own count
// does not see them: without this, a provider whose disk is smaller than
// its capacity accepted every request while the disk looked free, and
// failed the segments once it filled.
type promised struct {
	by  map[string]int64 // reservation or replica → bytes not written
	sum int64
}

func reservationPromise(client common.Address, l meta.LinkID) string {
	return string(linkKey(prefixReservation, client, l))
}

func replicaPromise(root meta.ID) string { return string(recordKey(root)) }

// set records that key has n bytes still to write (none: forgets key).
// s.mu is held.
func (p *promised) set(key string, n int64) {
	if p.by == nil {
		p.by = make(map[string]int64)
	}
	p.sum -= p.by[key]
	if n <= 0 {
		delete(p.by, key)
		return
	}
	p.by[key] = n
	p.sum += n
}

// wrote records that n bytes of key were written. s.mu is held.
func (p *promised) wrote(key string, n int64) {
	if left, ok := p.by[key]; ok {
		p.set(key, left-n)
	}
}
