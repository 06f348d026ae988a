package badgerdb

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// Node records (the mount's inodes) are binary too, in the form of link
// records (linkcodec.go): a version byte, then protobuf-style fields.
// Every create, write-back and attribute change rewrites one, and `ls -l`
// reads one per entry. As JSON, a create spent about a fifth of the
// mount's CPU encoding its records and growing the stacks of the
// goroutines doing it (go-json's encoder uses deep stacks, and FUSE
// requests each run on a new goroutine). Records written as JSON before
// are still read; the next write of a node rewrites it.
const nodeCodecV1 = 0x01

// Field numbers of a node record. Never reuse one.
const (
	nfInode = iota + 1
	nfMode
	nfUID
	nfGID
	nfNlink
	nfSize
	nfAtime
	nfMtime
	nfCtime
	nfTarget
	nfFile
	nfSpooled
	nfPolicy
	nfXattr
)

// encodeNode returns n's record.
func encodeNode(n *meta.Node) []byte {
	b := make([]byte, 1, 128+len(n.Target))
	b[0] = nodeCodecV1
	b = pb.AppendUint(b, nfInode, uint64(n.Inode))
	b = pb.AppendUint(b, nfMode, uint64(n.Mode))
	b = pb.AppendUint(b, nfUID, uint64(n.UID))
	b = pb.AppendUint(b, nfGID, uint64(n.GID))
	b = pb.AppendUint(b, nfNlink, uint64(n.Nlink))
	b = pb.AppendInt(b, nfSize, n.Size)
	b = pb.AppendTime(b, nfAtime, n.Atime)
	b = pb.AppendTime(b, nfMtime, n.Mtime)
	b = pb.AppendTime(b, nfCtime, n.Ctime)
	b = pb.AppendString(b, nfTarget, n.Target)
	if !n.File.IsZero() {
		b = pb.AppendBytes(b, nfFile, n.File[:])
	}
	b = pb.AppendBool(b, nfSpooled, n.Spooled)
	if p := n.Policy; p != (meta.Policy{}) {
		var m []byte
		m = pb.AppendInt(m, 1, int64(p.Redundancy))
		m = pb.AppendTime(m, 2, p.Expires)
		m = pb.AppendBool(m, 3, p.Autorenew)
		b = pb.AppendMsg(b, nfPolicy, m)
	}
	for _, name := range slices.Sorted(maps.Keys(n.Xattrs)) {
		var m []byte
		m = pb.AppendString(m, 1, name)
		m = pb.AppendBytes(m, 2, n.Xattrs[name])
		b = pb.AppendMsg(b, nfXattr, m)
	}
	return b
}

// decodeNode reads a record encodeNode wrote into n.
func decodeNode(b []byte, n *meta.Node) error {
	if len(b) == 0 || b[0] != nodeCodecV1 {
		return fmt.Errorf("node record of version %d", firstByte(b))
	}
	*n = meta.Node{}
	return pb.Fields(b[1:], func(num protowire.Number, f pb.Field) (err error) {
		var v uint64
		switch num {
		case nfInode:
			v, err = f.Uint()
			n.Inode = meta.Inode(v)
		case nfMode:
			v, err = f.Uint()
			n.Mode = os.FileMode(v)
			err = errors32(err, v)
		case nfUID:
			v, err = f.Uint()
			n.UID = uint32(v)
			err = errors32(err, v)
		case nfGID:
			v, err = f.Uint()
			n.GID = uint32(v)
			err = errors32(err, v)
		case nfNlink:
			v, err = f.Uint()
			n.Nlink = uint32(v)
			err = errors32(err, v)
		case nfSize:
			n.Size, err = f.Int()
		case nfAtime:
			n.Atime, err = f.Time()
		case nfMtime:
			n.Mtime, err = f.Time()
		case nfCtime:
			n.Ctime, err = f.Time()
		case nfTarget:
			n.Target, err = f.Str()
		case nfFile:
			err = f.Fixed(n.File[:])
		case nfSpooled:
			n.Spooled, err = f.Bool()
		case nfPolicy:
			err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
				switch num {
				case 1:
					n.Policy.Redundancy, err = f.IntVal()
				case 2:
					n.Policy.Expires, err = f.Time()
				case 3:
					n.Policy.Autorenew, err = f.Bool()
				}
				return err
			})
		case nfXattr:
			var name string
			val := []byte{}
			err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
				switch num {
				case 1:
					name, err = f.Str()
				case 2:
					var raw []byte
					if raw, err = f.Raw(); err == nil {
						val = append(val, raw...)
					}
				}
				return err
			})
			if n.Xattrs == nil {
				n.Xattrs = make(map[string][]byte)
			}
			n.Xattrs[name] = val
		}
		return err
	})
}

// errors32 is err, or an error if v does not fit 32 bits.
func errors32(err error, v uint64) error {
	if err == nil && v > 1<<32-1 {
		return fmt.Errorf("%d out of range", v)
	}
	return err
}
