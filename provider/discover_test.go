package provider

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta/merkle"
)

// Five providers bootstrapped to the first; a client that knows only the
// last one finds all five on the DHT and can store with each.
func TestDiscoverFindsAllProviders(t *testing.T) {
	first := startServer(t, nil)
	servers := []*Server{first}
	for range 4 {
		servers = append(servers, startServer(t, func(c *Config) { c.Bootstrap = []peer.AddrInfo{first.AddrInfo()} }))
	}
	c := startClient(t, servers[len(servers)-1].AddrInfo())

	want := make(map[peer.ID]*Server)
	for _, s := range servers {
		want[s.ID()] = s
	}
	var offers []Offer
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		offers, err = c.Discover(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(offers) == len(servers) || time.Now().After(deadline) {
			break
		}
		t.Logf("attempt found %d", len(offers))
		// Announcements may still be on their way.
		time.Sleep(100 * time.Millisecond)
	}
	if len(offers) != len(servers) {
		t.Fatalf("discovered %d providers, want %d", len(offers), len(servers))
	}
	for _, o := range offers {
		s := want[o.Peer]
		if s == nil || o.Address != s.Address() {
			t.Fatalf("unexpected offer %+v", o)
		}
		delete(want, o.Peer)
	}

	// Every discovered provider is reachable, including those the client
	// learnt of only through the DHT.
	for _, o := range offers {
		r := newReplica(t, 32<<10, 16<<10, merkle.HashBlake3)
		p := storeAll(t, c, want2(servers, o.Peer), r, time.Now().Add(time.Hour))
		if err := VerifyPledge(p, o.Address); err != nil {
			t.Fatal(err)
		}
	}
}

func want2(servers []*Server, p peer.ID) *Server {
	for _, s := range servers {
		if s.ID() == p {
			return s
		}
	}
	return nil
}
