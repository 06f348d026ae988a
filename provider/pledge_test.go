package provider

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

func TestPledgeSignVerify(t *testing.T) {
	key, _ := ethcrypto.GenerateKey()
	other, _ := ethcrypto.GenerateKey()
	provider := ethcrypto.PubkeyToAddress(key.PublicKey)
	client := common.HexToAddress("0x1234")
	root := meta.ID{1, 2, 3}

	p, err := SignPledge(key, client, root, 262172, 1_900_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Provider != provider || p.Client != client || p.Root != root || len(p.Signature) != 65 {
		t.Fatalf("pledge %+v", p)
	}
	if v := p.Signature[64]; v != 27 && v != 28 {
		t.Fatalf("V = %d, want 27 or 28", v)
	}
	if err := VerifyPledge(p, provider); err != nil {
		t.Fatal(err)
	}
	// The 0/1 recovery id convention verifies too.
	p01 := *p
	p01.Signature = append([]byte(nil), p.Signature...)
	p01.Signature[64] -= 27
	if err := VerifyPledge(&p01, provider); err != nil {
		t.Fatal(err)
	}

	bad := func(name string, mod func(p *meta.Pledge), against common.Address) {
		t.Helper()
		q := *p
		q.Signature = append([]byte(nil), p.Signature...)
		mod(&q)
		if err := VerifyPledge(&q, against); !errors.Is(err, meta.ErrBadPledge) {
			t.Errorf("%s: got %v, want ErrBadPledge", name, err)
		}
	}
	otherAddr := ethcrypto.PubkeyToAddress(other.PublicKey)
	bad("other provider", func(q *meta.Pledge) { q.Provider = common.Address{} }, otherAddr)
	bad("provider field lies", func(q *meta.Pledge) { q.Provider = otherAddr }, provider)
	bad("client changed", func(q *meta.Pledge) { q.Client[0] ^= 1 }, provider)
	bad("root changed", func(q *meta.Pledge) { q.Root[31] ^= 1 }, provider)
	bad("length changed", func(q *meta.Pledge) { q.Length++ }, provider)
	bad("expiry changed", func(q *meta.Pledge) { q.Expires++ }, provider)
	bad("signature flipped", func(q *meta.Pledge) { q.Signature[10] ^= 1 }, provider)
	bad("short signature", func(q *meta.Pledge) { q.Signature = q.Signature[:64] }, provider)
	bad("bad V", func(q *meta.Pledge) { q.Signature[64] = 35 }, provider)
	if err := VerifyPledge(nil, provider); !errors.Is(err, meta.ErrBadPledge) {
		t.Errorf("nil pledge: %v", err)
	}
	forged, _ := SignPledge(other, client, root, 262172, 1_900_000_000)
	if err := VerifyPledge(forged, provider); !errors.Is(err, meta.ErrBadPledge) {
		t.Errorf("forged pledge: %v", err)
	}
}

// The digest is pinned: it is what a contract or another implementation
// must compute.
func TestPledgeDigestVector(t *testing.T) {
	client := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	var root meta.ID
	root[0] = 0xbb
	inner := ethcrypto.Keccak256(client[:], root[:],
		[]byte{0, 0, 0, 0, 0, 0, 0x01, 0x00}, []byte{0, 0, 0, 0, 0x71, 0x3f, 0xb3, 0x00})
	want := ethcrypto.Keccak256([]byte("\x19Ethereum Signed Message:\n32"), inner)
	if got := PledgeDigest(client, root, 256, 1_899_999_999+1); common.Bytes2Hex(got) != common.Bytes2Hex(want) {
		t.Fatalf("digest %x, want %x", got, want)
	}
}

func TestAddressOf(t *testing.T) {
	key, _ := ethcrypto.GenerateKey()
	id, err := PeerIDOf(key)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := AddressOf(id)
	if err != nil {
		t.Fatal(err)
	}
	if addr != ethcrypto.PubkeyToAddress(key.PublicKey) {
		t.Fatalf("AddressOf = %s, want %s", addr, ethcrypto.PubkeyToAddress(key.PublicKey))
	}
	_, pub, _ := lcrypto.GenerateEd25519Key(nil)
	edID, _ := peer.IDFromPublicKey(pub)
	if _, err := AddressOf(edID); !errors.Is(err, ErrNotSecp256k1) {
		t.Fatalf("ed25519 peer: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("reloaded key differs")
	}
	os.WriteFile(path, []byte("not hex"), 0o600)
	if _, err := LoadOrCreateKey(path); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("garbage key file: %v", err)
	}
}
