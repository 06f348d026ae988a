package upload

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider"
)

// addrNet is a Network that only knows its address: checkListed needs no
// more of it.
type addrNet struct {
	Network
	addr common.Address
}

func (n addrNet) Address() common.Address { return n.addr }

// A listed replica is recorded only when everything about it checks out;
// a provider that lies about any part of it (another client's tag, a tag
// moved from another replica or another provider, segment hashes that do
// not give the root, a pledge that is not its own or not for us, an
// expired pledge) gets the entry refused.
func TestCheckListedRefusesLies(t *testing.T) {
	master := make([]byte, 32)
	rand.Read(master)
	client := common.Address{0xc1}
	e := &Engine{cfg: Config{Master: master, Now: time.Now, AuditInterval: time.Hour}, net: addrNet{addr: client}}
	e.owner = ownerSecrets(master)

	pkey, _ := ethcrypto.GenerateKey()
	paddr := ethcrypto.PubkeyToAddress(pkey.PublicKey)
	p := peer.ID("provider")
	now := time.Now()

	segs := []meta.ID{{1}, {2}, {3}}
	h, _ := merkle.HasherFor(merkle.HashBlake3)
	root := merkle.RootWith(h, segs)
	chunk, link := meta.ID{0xcc}, meta.LinkID{0x11}
	exp := now.Add(24 * time.Hour).Unix()
	good := func() provider.Listed {
		pl, err := provider.SignPledge(pkey, client, root, 40000, exp)
		if err != nil {
			t.Fatal(err)
		}
		return provider.Listed{Root: root, Hash: merkle.HashBlake3, SegmentSize: 16384, SealedLen: 40000,
			Expires: time.Unix(exp, 0), Segments: segs, Pledge: pl,
			Tag: sealTag(e.owner, root, paddr, tagBody{Chunk: chunk, Link: link})}
	}

	l, err := e.checkListed(p, paddr, e.owner, true, good(), now)
	if err != nil {
		t.Fatalf("a true entry refused: %v", err)
	}
	if l.Chunk != chunk || l.ID != link || l.State != meta.LinkSigned || l.Root != root || l.Address != paddr || l.Key != nil {
		t.Fatalf("recovered link %+v", l)
	}

	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	other := ownerSecrets(otherKey)
	var share [32]byte
	rand.Read(share[:])
	key := [32]byte{9}

	lies := map[string]func(*provider.Listed){
		"another client's tag": func(x *provider.Listed) {
			x.Tag = sealTag(other, root, paddr, tagBody{Chunk: chunk, Link: link})
		},
		"tag of another provider": func(x *provider.Listed) {
			x.Tag = sealTag(e.owner, root, common.Address{0xee}, tagBody{Chunk: chunk, Link: link})
		},
		"tag of another replica": func(x *provider.Listed) {
			x.Tag = sealTag(e.owner, meta.ID{0xab}, paddr, tagBody{Chunk: chunk, Link: link})
		},
		"flipped tag byte": func(x *provider.Listed) { x.Tag[len(x.Tag)-1] ^= 1 },
		"share tag as owner tag": func(x *provider.Listed) {
			x.Tag = sealTag(e.owner, root, paddr, tagBody{Chunk: chunk, Link: link, Key: &key})
		},
		"segments that miss the root": func(x *provider.Listed) { x.Segments = []meta.ID{{1}, {2}, {4}} },
		"too few segments":            func(x *provider.Listed) { x.Segments = segs[:2] },
		"unknown hash":                func(x *provider.Listed) { x.Hash = "md5" },
		"pledge by another key": func(x *provider.Listed) {
			k2, _ := ethcrypto.GenerateKey()
			x.Pledge, _ = provider.SignPledge(k2, client, root, 40000, exp)
		},
		"pledge for another client": func(x *provider.Listed) {
			x.Pledge, _ = provider.SignPledge(pkey, common.Address{0xc2}, root, 40000, exp)
		},
		"pledge for another length": func(x *provider.Listed) {
			x.Pledge, _ = provider.SignPledge(pkey, client, root, 39999, exp)
		},
		"expired pledge": func(x *provider.Listed) {
			x.Pledge, _ = provider.SignPledge(pkey, client, root, 40000, now.Add(-time.Minute).Unix())
		},
		"no pledge": func(x *provider.Listed) { x.Pledge = nil },
	}
	for name, lie := range lies {
		x := good()
		lie(&x)
		if l, err := e.checkListed(p, paddr, e.owner, true, x, now); err == nil {
			t.Errorf("%s: accepted as %+v", name, l)
		}
	}

	// A share tag opens with the share's secrets only, and carries the key.
	s := shareSecrets(share)
	x := good()
	x.Tag = sealTag(s, root, paddr, tagBody{Chunk: chunk, Link: link, Key: &key})
	if _, err := e.checkListed(p, paddr, e.owner, true, x, now); err == nil {
		t.Error("a share tag opened as the owner's")
	}
	l, err = e.checkListed(p, paddr, s, false, x, now)
	if err != nil {
		t.Fatalf("share entry refused: %v", err)
	}
	if [32]byte(l.Key) != key || e.linkKey(l) != key {
		t.Fatalf("share link key %x", l.Key)
	}
}

func TestTagRoundTrip(t *testing.T) {
	s := ownerSecrets([]byte("0123456789abcdef0123456789abcdef"))
	root, addr := meta.ID{7}, common.Address{8}
	body := tagBody{Chunk: meta.ID{1, 2}, Link: meta.LinkID{3}}
	tag := sealTag(s, root, addr, body)
	if len(tag) > 256 {
		t.Fatalf("tag of %d bytes: over the wire's cap", len(tag))
	}
	got, err := openTag(s, root, addr, tag)
	if err != nil || got.Chunk != body.Chunk || got.Link != body.Link || got.Key != nil {
		t.Fatalf("open: %+v, %v", got, err)
	}
	if _, err := openTag(s, root, addr, tag[:len(tag)-1]); !errors.Is(err, errBadTag) {
		t.Fatalf("truncated tag: %v", err)
	}
	if _, err := openTag(s, root, addr, nil); !errors.Is(err, errBadTag) {
		t.Fatalf("empty tag: %v", err)
	}
	if a, b := sealTag(s, root, addr, body), sealTag(s, root, addr, body); string(a) == string(b) {
		t.Fatal("two tags of one replica are equal: the nonce is not random")
	}
}
