package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/provider"
)

// providerInfo is DATA/provider.json, written by a provider once it
// listens, so that whoever started it (a devnet, a test) can reach it.
type providerInfo struct {
	PID     int      `json:"pid"`
	PeerID  string   `json:"peer_id"`
	Address string   `json:"address"`
	Addrs   []string `json:"addrs"`
	// The chain it is paid on (also what `provider claim` defaults to).
	EthRPC   string `json:"eth_rpc,omitempty"`
	Contract string `json:"contract,omitempty"`
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdProvider(args []string) error {
	if len(args) > 0 && args[0] == "claim" {
		return cmdProviderClaim(args[1:])
	}
	fl := newFlags("provider")
	data := dataFlag(fl)
	var listen, boot multiFlag
	fl.Var(&listen, "listen", "`MULTIADDR` to listen on (repeatable; default 127.0.0.1, TCP and QUIC, any port)")
	fl.Var(&boot, "bootstrap", "`MULTIADDR` of a peer to join the DHT through (repeatable)")
	ethRPC := fl.String("eth-rpc", "", "Ethereum JSON-RPC `URL` for payments (with --contract)")
	contract := fl.String("contract", "", "`ADDRESS` of the PaymentChannel contract at --eth-rpc")
	maxUnpaid := fl.String("max-unpaid", "", "wei a client may owe for unpaid pledges before new work is declined (default: 16 MiB for 30 days at --price)")
	capacity := fl.Int64("capacity", 10<<30, "bytes this provider stores at most")
	price := fl.String("price", "1", "price in wei per byte per day")
	maxExpiry := fl.Duration("max-expiry", 400*24*time.Hour, "longest pledge accepted")
	forge := fl.Bool("fault-forge-pledge", false, "misbehave for tests: sign pledges with another key")
	drop := fl.Bool("fault-drop-segments", false, "misbehave for tests: ignore the first receipt of some segments")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("provider takes no arguments")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	p, ok := new(big.Int).SetString(*price, 10)
	if !ok || p.Sign() < 0 {
		return usagef("--price %q is not a number of wei", *price)
	}
	bootInfos, err := parsePeers(boot)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	key, err := provider.LoadOrCreateKey(filepath.Join(d, "key"))
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	log := slogFor("info")
	startDebug(log)
	var pc provider.PayConfig
	if *ethRPC != "" {
		chain, err := dialChain(ctx, *ethRPC, *contract)
		if err != nil {
			return err
		}
		defer chain.Close()
		pc.Chain = chain
		if *maxUnpaid != "" {
			v, ok := new(big.Int).SetString(*maxUnpaid, 10)
			if !ok || v.Sign() < 0 {
				return usagef("--max-unpaid %q is not a number of wei", *maxUnpaid)
			}
			pc.MaxUnpaid = v
		}
	}
	s, err := provider.Start(ctx, provider.Config{
		DataDir:         d,
		Key:             key,
		Listen:          listen,
		Bootstrap:       bootInfos,
		Capacity:        *capacity,
		PricePerByteDay: p,
		MaxExpiry:       *maxExpiry,
		Faults:          provider.Faults{ForgePledge: *forge, DropSegmentsOnce: *drop},
		Pay:             pc,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	info := providerInfo{PID: os.Getpid(), PeerID: s.ID().String(), Address: s.Address().Hex()}
	if pc.Chain != nil {
		info.EthRPC, info.Contract = *ethRPC, pc.Chain.Address().Hex()
	}
	for _, a := range s.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	if err := saveJSON(filepath.Join(d, "provider.json"), info); err != nil {
		s.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "pointfs provider: %s (%s) listening on %v\n", info.PeerID, info.Address, info.Addrs)
	<-ctx.Done()
	return s.Close()
}

func cmdDevnet(args []string) error {
	fl := newFlags("devnet")
	data := fl.String("data", "", "`DIR` for the network's state (required)")
	count := fl.Int("providers", 5, "number of provider processes")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("devnet takes no arguments")
	}
	if *data == "" {
		return usagef("devnet needs --data DIR")
	}
	if *count < 1 {
		return usagef("--providers must be at least 1")
	}
	d, err := absData(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()

	// The dev chain, served on 127.0.0.1, with the client (this data
	// dir's key) and every provider funded. It stops after the children.
	fund := []common.Address{}
	for i := 0; i <= *count; i++ {
		kp := filepath.Join(d, "key")
		if i > 0 {
			pdir := filepath.Join(d, "providers", fmt.Sprintf("p%d", i))
			if err := os.MkdirAll(pdir, 0o700); err != nil {
				return err
			}
			kp = filepath.Join(pdir, "key")
		}
		k, err := provider.LoadOrCreateKey(kp)
		if err != nil {
			return err
		}
		fund = append(fund, addressOf(k))
	}
	chain, err := startDevChain(ctx, true, fund...)
	if err != nil {
		return err
	}
	defer chain.Close()

	var children []*exec.Cmd
	defer func() { stopChildren(children) }()
	exited := make(chan error, *count)
	net := networkFile{ChainRPC: chain.URL(), Contract: chain.Contract().Hex()}
	for i := 1; i <= *count; i++ {
		pdir := filepath.Join(d, "providers", fmt.Sprintf("p%d", i))
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(pdir, "provider.json"))
		args := []string{"provider", "--data", pdir, "--listen", "/ip4/127.0.0.1/tcp/0",
			"--eth-rpc", net.ChainRPC, "--contract", net.Contract}
		if len(net.Bootstrap) > 0 {
			args = append(args, "--bootstrap", net.Bootstrap[0])
		}
		logf, err := os.OpenFile(filepath.Join(pdir, "provider.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = providerEnv(os.Environ(), *count, runtime.NumCPU())
		// Its own process group: a ^C to the devnet reaches the devnet,
		// which then stops its children in order.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		logf.Close()
		children = append(children, cmd)
		go func(i int) {
			err := cmd.Wait()
			fmt.Fprintf(os.Stderr, "pointfs devnet: provider %d (pid %d) exited: %v\n", i, cmd.Process.Pid, err)
			exited <- err
		}(i)
		info, err := waitProviderInfo(ctx, filepath.Join(pdir, "provider.json"), exited)
		if err != nil {
			return fmt.Errorf("provider %d: %w (see %s)", i, err, filepath.Join(pdir, "provider.log"))
		}
		net.Providers = append(net.Providers, networkProvider{
			PID: info.PID, PeerID: info.PeerID, Address: info.Address, Data: pdir, Addrs: info.Addrs,
		})
		if len(info.Addrs) > 0 {
			net.Bootstrap = append(net.Bootstrap, info.Addrs[0])
		}
	}
	if err := saveJSON(filepath.Join(d, "network.json"), net); err != nil {
		return err
	}
	cfg, err := loadConfig(d)
	if err != nil {
		return err
	}
	cfg.Bootstrap = net.Bootstrap
	cfg.EthRPC, cfg.Contract = net.ChainRPC, net.Contract
	if err := saveJSON(configPath(d), cfg); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pointfs devnet: %d providers running, paid on the chain at %s (contract %s); network in %s\n",
		len(net.Providers), net.ChainRPC, net.Contract, filepath.Join(d, "network.json"))
	// A provider that dies (or is killed by a test) stays dead: the network
	// goes on without it, as a real one would, until SIGINT or SIGTERM.
	<-ctx.Done()
	return nil
}

// providerEnv is the environment of one of count provider processes
// sharing cpus cores: unless the caller set GOMAXPROCS, each provider's Go
// runtime gets its share of the cores (at least one). With the default of
// one thread per core, five providers on two cores spent a tenth of the
// machine's CPU on their schedulers looking for work on idle threads and
// on switching between them (put --wait of 256 MiB at r=3: 17–21 CPU-s
// with the default, 15–17 with one thread each). On a real network each
// provider has a machine of its own and keeps the default.
func providerEnv(env []string, count, cpus int) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(max(1, cpus/count)))
}

// waitProviderInfo waits for a starting provider to write its info file.
func waitProviderInfo(ctx context.Context, path string, exited <-chan error) (*providerInfo, error) {
	deadline := time.After(60 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var info providerInfo
			if err := json.Unmarshal(b, &info); err == nil {
				return &info, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-exited:
			return nil, fmt.Errorf("exited before it was ready: %v", err)
		case <-deadline:
			return nil, errors.New("not ready after 60s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopChildren asks each child to stop, then kills what is left.
func stopChildren(children []*exec.Cmd) {
	for _, c := range children {
		if c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range children {
		if c.Process == nil {
			continue
		}
		for time.Now().Before(deadline) {
			if err := c.Process.Signal(syscall.Signal(0)); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = c.Process.Kill()
	}
}
