package provider

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

// ErrNotSecp256k1 means a peer's identity is not a secp256k1 key, so it has
// no Ethereum address: it may ask for offers and read chunks, but cannot
// store anything (a pledge must name the client).
var ErrNotSecp256k1 = fmt.Errorf("%w: peer key is not secp256k1", meta.ErrInvalid)

// libp2pKey turns an Ethereum key into the libp2p identity of the same
// secp256k1 key, so that a node's peer id and address are one identity.
func libp2pKey(key *ecdsa.PrivateKey) (lcrypto.PrivKey, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", meta.ErrInvalid)
	}
	k, err := lcrypto.UnmarshalSecp256k1PrivateKey(ethcrypto.FromECDSA(key))
	if err != nil {
		return nil, fmt.Errorf("provider: key to libp2p identity: %w", err)
	}
	return k, nil
}

// PeerIDOf returns the libp2p peer id of an Ethereum key.
func PeerIDOf(key *ecdsa.PrivateKey) (peer.ID, error) {
	k, err := libp2pKey(key)
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(k)
}

// AddressOf returns the Ethereum address of a peer whose id embeds its
// secp256k1 public key (every pointfs node's does). It is how a provider
// learns which client it stores for, and how a client checks whose
// signature a pledge must carry.
//
// The answer is remembered (a point decompression per call showed in
// profiles: every request of every link asks it).
func AddressOf(p peer.ID) (common.Address, error) {
	if a, ok := addresses.Load(p); ok {
		return a.(common.Address), nil
	}
	a, err := addressOf(p)
	if err == nil && addressCount.Add(1) <= maxAddresses {
		addresses.Store(p, a)
	}
	return a, err
}

// addresses remembers AddressOf's answers, up to maxAddresses peers (peer
// ids come from the network: the map must not grow without bound).
var (
	addresses    sync.Map // peer.ID → common.Address
	addressCount atomic.Int64
)

const maxAddresses = 1 << 16

func addressOf(p peer.ID) (common.Address, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %s: %v", ErrNotSecp256k1, p, err)
	}
	if _, ok := pub.(*lcrypto.Secp256k1PublicKey); !ok {
		return common.Address{}, fmt.Errorf("%w: %s has a %v key", ErrNotSecp256k1, p, pub.Type())
	}
	raw, err := pub.Raw() // 33-byte compressed point
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %s: %v", ErrNotSecp256k1, p, err)
	}
	ecpub, err := ethcrypto.DecompressPubkey(raw)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %s: %v", ErrNotSecp256k1, p, err)
	}
	return ethcrypto.PubkeyToAddress(*ecpub), nil
}

// LoadOrCreateKey reads a secp256k1 key kept as hex in path, or creates one
// there (mode 0600, written atomically) when the file does not exist. Any
// pointfs node, client or provider, keeps its identity this way.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")
		k, err := ethcrypto.HexToECDSA(s)
		if err != nil {
			return nil, fmt.Errorf("%w: key file %s: %v", meta.ErrInvalid, path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("provider: read key: %w", err)
	}
	k, err := ethcrypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("provider: generate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("provider: key dir: %w", err)
	}
	// Written to a temporary file and renamed, so that a crash never leaves
	// a half-written key that would later be read as a different identity.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, fmt.Errorf("provider: write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		if _, err = tmp.WriteString(common.Bytes2Hex(ethcrypto.FromECDSA(k)) + "\n"); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("provider: write key: %w", err)
	}
	return k, nil
}
