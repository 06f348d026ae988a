package provider

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
)

// advertise announces the provider under ServiceCID on the DHT and renews
// the announcement every reprovide period. Until one succeeds it retries
// with a growing pause, and at once when a new peer connects: the first
// provider of a network has nobody to announce to until someone arrives.
func (s *Server) advertise() {
	defer s.wg.Done()
	sub, err := s.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		s.log.Warn("subscribe to peer events", "err", err)
	} else {
		defer sub.Close()
	}
	var peers <-chan any
	if sub != nil {
		peers = sub.Out()
	}
	const firstPause, maxPause = 200 * time.Millisecond, 30 * time.Second
	pause := firstPause
	for {
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		err := s.dht.Provide(ctx, ServiceCID, true)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		wait := s.t.reprovide
		if err != nil {
			s.log.Debug("announce on the DHT", "err", err, "retry", pause)
			wait, pause = pause, min(2*pause, maxPause)
		} else {
			s.log.Debug("announced on the DHT")
			pause = firstPause
		}
		timer := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-timer.C:
				break waiting
			case <-peers:
				if err != nil {
					// The routing table takes the new peer right after
					// identify; give it a moment, then try again.
					timer.Reset(100 * time.Millisecond)
				}
			case <-s.ctx.Done():
				timer.Stop()
				return
			}
		}
	}
}
