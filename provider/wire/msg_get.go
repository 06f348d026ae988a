package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// --- GetChunk (type 10) ---

// GetChunk asks for Count segments of a stored replica from index First.
// The provider may answer with fewer (never zero) to stay under MaxFrame;
// the client asks again for the rest.
type GetChunk struct {
	Root  meta.ID
	First int
	Count int
}

// Type implements Msg.
func (*GetChunk) Type() Type { return TypeGetChunk }

func (g *GetChunk) check() error {
	if err := checkRoot(g.Root); err != nil {
		return err
	}
	if err := checkIndex("first", g.First); err != nil {
		return err
	}
	if g.Count < 1 || g.Count > MaxCount {
		return fmt.Errorf("%w: count %d out of [1, %d]", ErrMalformed, g.Count, MaxCount)
	}
	return nil
}

// Marshal implements Msg.
func (g *GetChunk) Marshal(b []byte) ([]byte, error) {
	if err := g.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, g.Root[:])
	b = pb.AppendUint(b, 2, uint64(g.First))
	return pb.AppendUint(b, 3, uint64(g.Count)), nil
}

// Unmarshal implements Msg.
func (g *GetChunk) Unmarshal(body []byte) error {
	*g = GetChunk{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", g.Root[:])
		case 2:
			g.First, err = f.intVal("first", MaxCount)
		case 3:
			g.Count, err = f.intVal("count", MaxCount)
		}
		return err
	})
	if err != nil {
		return err
	}
	return g.check()
}

// --- ChunkData (type 11) ---

// ChunkData answers GetChunk with consecutive segments from First.
type ChunkData struct {
	Root     meta.ID
	First    int
	Segments [][]byte
}

// Type implements Msg.
func (*ChunkData) Type() Type { return TypeChunkData }

func (c *ChunkData) check() error {
	if err := checkRoot(c.Root); err != nil {
		return err
	}
	if err := checkIndex("first", c.First); err != nil {
		return err
	}
	if len(c.Segments) > MaxCount {
		return fmt.Errorf("%w: %d segments, max %d", ErrTooLarge, len(c.Segments), MaxCount)
	}
	total := 0
	for i, s := range c.Segments {
		if len(s) > MaxSegment {
			return fmt.Errorf("%w: segment %d is %d bytes, max %d", ErrTooLarge, i, len(s), MaxSegment)
		}
		total += protowire.SizeTag(3) + protowire.SizeBytes(len(s))
	}
	// Checked here, not only by the framer, so that an oversized answer is
	// refused before it is encoded.
	if total > MaxFrame {
		return fmt.Errorf("%w: %d bytes of segments, max frame %d", ErrTooLarge, total, MaxFrame)
	}
	return nil
}

// Marshal implements Msg.
func (c *ChunkData) Marshal(b []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, c.Root[:])
	b = pb.AppendUint(b, 2, uint64(c.First))
	for _, s := range c.Segments {
		// Written even when empty: a segment's position is its index.
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	}
	return b, nil
}

// Unmarshal implements Msg.
func (c *ChunkData) Unmarshal(body []byte) error {
	*c = ChunkData{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", c.Root[:])
		case 2:
			c.First, err = f.intVal("first", MaxCount)
		case 3:
			// Bounded while parsing: a frame of empty segments would
			// otherwise grow a slice of millions of headers.
			if len(c.Segments) >= MaxCount {
				return fmt.Errorf("%w: more than %d segments", ErrTooLarge, MaxCount)
			}
			var s []byte
			if s, err = f.bytesMax("segment", MaxSegment); err == nil {
				c.Segments = append(c.Segments, s)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.check()
}
