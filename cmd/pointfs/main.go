// Command pointfs is a filesystem whose files live on a decentralized
// network of storage providers. One binary holds every role: the mount, the
// engine daemon, a storage provider, a local devnet, and the commands that
// put, get and inspect files (DESIGN §10).
//
// This package is the wiring: flags, config, which store, network and
// engine a command runs on, the daemon's local API and its signals. The
// work itself lives in meta, upload, provider and fs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const usageText = `pointfs: files on a network of storage providers

Usage:
  pointfs mount    [--data DIR] [--foreground] [--key KEYFILE | --root CAP] MOUNTPOINT
  pointfs publish  PATH
  pointfs unmount  MOUNTPOINT
  pointfs put      [--data DIR] [--redundancy N] [--wait] FILE
  pointfs get      [--data DIR] ID OUT
  pointfs status   [--data DIR] [--json] [ID|PATH]
  pointfs ls       [--data DIR]
  pointfs daemon   [--data DIR]
  pointfs devnet   --data DIR [--providers N]
  pointfs provider --data DIR [--listen MULTIADDR] [--bootstrap MULTIADDR] [--eth-rpc URL --contract ADDRESS]
  pointfs provider claim --data DIR [--eth-rpc URL] [--contract ADDRESS]

Every command keeps its state in --data DIR (default: $XDG_DATA_HOME/pointfs).
With no network configured in DIR, the engine starts an embedded devnet.
`

func main() {
	// Called as a mount helper (mount -t fuse.pointfs → mount.fuse3 →
	// pointfs DEV MOUNTPOINT -o OPTIONS) the first argument is no command.
	if len(os.Args) >= 3 && strings.HasPrefix(filepath.Base(os.Args[0]), "mount.") {
		exit("mount", cmdMount(mountHelperArgs(os.Args[1:])))
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "mount":
		err = cmdMount(args)
	case "unmount", "umount":
		err = cmdUnmount(args)
	case "publish":
		err = cmdPublish(args)
	case "put":
		err = cmdPut(args)
	case "get":
		err = cmdGet(args)
	case "status":
		err = cmdStatus(args)
	case "ls":
		err = cmdLs(args)
	case "daemon":
		err = cmdDaemon(args)
	case "devnet":
		err = cmdDevnet(args)
	case "provider":
		err = cmdProvider(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usageText)
		return
	default:
		fmt.Fprintf(os.Stderr, "pointfs: unknown command %q\n\n%s", cmd, usageText)
		os.Exit(2)
	}
	exit(cmd, err)
}

// exit ends the process: 0 on success, else one line on stderr and 1
// (2 for a usage error).
func exit(cmd string, err error) {
	if err == nil {
		os.Exit(0)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "pointfs %s: %v\n", cmd, err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "pointfs %s: %v\n", cmd, err)
	os.Exit(1)
}

// usageError is a command line that makes no sense.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// newFlags makes a flag set for a subcommand whose errors are returned,
// not printed and exited on.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// parse parses args, allowing flags after positional arguments
// (`pointfs put FILE --wait` works as well as `pointfs put --wait FILE`).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// defaultDataDir is $XDG_DATA_HOME/pointfs, else ~/.local/share/pointfs.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "pointfs")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "pointfs")
	}
	return ".pointfs"
}

// dataFlag registers --data on fs.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", defaultDataDir(), "`DIR` that holds all of this instance's state")
}

// absData makes a data dir absolute, so a daemon that changes directory
// and the commands that talk to it agree on its socket.
func absData(d string) (string, error) {
	if d == "" {
		return "", usagef("--data must not be empty")
	}
	return filepath.Abs(d)
}
