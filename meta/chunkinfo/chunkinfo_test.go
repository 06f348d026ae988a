package chunkinfo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// Vectors computed by an independent implementation: node v20, JSON.stringify
// of the objects with the documented key order, js-sha3's keccak256 of the
// UTF-8 bytes, and a JavaScript rendition of merkle-utils.js. Chunk i is
// keccak256 of the ASCII letter "a", "b", "c".
const (
	fileVector   = `{"type":"file","chunks":["3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb","b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510","0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2"],"hash":"keccak256","filesize":600000,"merkle":["3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb","b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510","0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2","78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd","a913a112496fd01321f84d4bca03e06b436ac5fd8691bf2c92a52225d168e946","f2ed55ed585278982de28b42b610107674e5b5725269e4f8b11c413a71c8c211"]}`
	fileVectorID = "a01c4a85bc3dece5954b6c1ba053e264aa56e04a2539e8861b6ee5f665e71279"

	// The dir below; its third name holds `"`, `\`, "é", U+0001, U+001F, a
	// newline, a tab, U+2028, DEL, "€" and an astral emoji.
	dirVectorHex = "7b2274797065223a22646972222c2266696c6573223a5b7b2274797065223a2266696c65707472222c226e616d65223a226361742e6a7067222c2273697a65223a3132333435362c226964223a2233616332323531363864663534323132613235633163303166643335626562666561343038666461633265333164646436663830613462626639613566316362227d2c7b2274797065223a22646972707472222c226e616d65223a2273756220646972222c2273697a65223a302c226964223a2262353535336465333135653065646635303464393135306166383264616661356334363637666136313865643061366631396336396234313136366335353130227d2c7b2274797065223a2266696c65707472222c226e616d65223a22715c22625c5c7320c3a95c75303030315c75303031665c6e5c74e280a87fe282acf09f9880222c2273697a65223a372c226964223a2230623432623633393363316635333036306665336464626663643761616463636138393434363561356134333866363963383764373930623232393962396232227d5d7d"
	dirVectorID  = "71390eeedcf1fc6f2ee53d5ab16d0592c4f9f6cebf09e2c846323f1fad68000d"

	// JSON.stringify of the string of every code point 0..127 followed by
	// "é", U+2028, U+2029, U+FEFF and U+1F600, as UTF-8 hex.
	asciiVectorHex = "225c75303030305c75303030315c75303030325c75303030335c75303030345c75303030355c75303030365c75303030375c625c745c6e5c75303030625c665c725c75303030655c75303030665c75303031305c75303031315c75303031325c75303031335c75303031345c75303031355c75303031365c75303031375c75303031385c75303031395c75303031615c75303031625c75303031635c75303031645c75303031655c753030316620215c22232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7fc3a9e280a8e280a9efbbbff09f988022"
)

func letters(n int) []meta.ID {
	ids := make([]meta.ID, n)
	for i := range ids {
		ids[i] = merkle.Keccak256([]byte{byte('a' + i)})
	}
	return ids
}

func vectorDir() []DirEntry {
	ids := letters(3)
	return []DirEntry{
		{Type: TypeFilePtr, Name: "cat.jpg", Size: 123456, ID: ids[0]},
		{Type: TypeDirPtr, Name: "sub dir", Size: 0, ID: ids[1]},
		{Type: TypeFilePtr, Name: "q\"b\\s é\x01\x1f\n\t\u2028\x7f€😀", Size: 7, ID: ids[2]},
	}
}

func randomIDs(r *rand.Rand, n int) []meta.ID {
	ids := make([]meta.ID, n)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(r.Uint32())
		}
	}
	return ids
}

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, meta.ErrCorrupt) {
		t.Errorf("%s: err = %v, want ErrCorrupt", what, err)
	}
}

func TestFileVector(t *testing.T) {
	chunks := letters(3)
	if got := string(EncodeFile(chunks, 600000)); got != fileVector {
		t.Fatalf("EncodeFile:\n got %s\nwant %s", got, fileVector)
	}
	if got := FileID(chunks, 600000).String(); got != fileVectorID {
		t.Fatalf("FileID = %s, want %s", got, fileVectorID)
	}
	f := File{Chunks: chunks, Size: 600000}
	if string(f.Encode()) != fileVector || f.ID().String() != fileVectorID {
		t.Fatal("File methods disagree with the functions")
	}
	gotChunks, size, err := DecodeFile([]byte(fileVector))
	if err != nil || size != 600000 || len(gotChunks) != 3 || gotChunks[2] != chunks[2] {
		t.Fatalf("DecodeFile = %v, %d, %v", gotChunks, size, err)
	}
}

func TestFileNoChunks(t *testing.T) {
	const want = `{"type":"file","chunks":[],"hash":"keccak256","filesize":0,"merkle":["c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"]}`
	if got := string(EncodeFile(nil, 0)); got != want {
		t.Fatalf("empty file:\n got %s\nwant %s", got, want)
	}
	chunks, size, err := DecodeFile([]byte(want))
	if err != nil || len(chunks) != 0 || size != 0 {
		t.Fatalf("DecodeFile = %v, %d, %v", chunks, size, err)
	}
	// The original node's form for no chunks is refused: its merkle is empty.
	_, _, err = DecodeFile([]byte(`{"type":"file","chunks":[],"hash":"keccak256","filesize":0,"merkle":[]}`))
	wantCorrupt(t, "empty merkle", err)
}

func TestFileRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 5, 16, 17, 1000} {
		chunks := randomIDs(r, n)
		chunks = append(chunks, chunks[0]) // ids may repeat
		size := int64(n)*262144 + 5
		b := EncodeFile(chunks, size)
		got, gotSize, err := DecodeFile(b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if gotSize != size || len(got) != len(chunks) {
			t.Fatalf("n=%d: size %d, %d chunks", n, gotSize, len(got))
		}
		for i := range chunks {
			if got[i] != chunks[i] {
				t.Fatalf("n=%d: chunk %d differs", n, i)
			}
		}
		if FileID(got, gotSize) != merkle.Keccak256(b) {
			t.Fatalf("n=%d: id of decoded content differs", n)
		}
	}
}

func TestDecodeFileCorrupt(t *testing.T) {
	v := fileVector
	mutations := map[string]string{
		"type":            strings.Replace(v, `"file"`, `"dir"`, 1),
		"hash name":       strings.Replace(v, `"keccak256"`, `"blake3"`, 1),
		"key order":       strings.Replace(v, `"hash":"keccak256","filesize":600000`, `"filesize":600000,"hash":"keccak256"`, 1),
		"space":           strings.Replace(v, `"chunks":[`, `"chunks": [`, 1),
		"upper-case hex":  strings.Replace(v, "3ac2", "3AC2", 1),
		"0x prefix":       strings.Replace(v, `"3ac2`, `"0x3ac2`, 1),
		"short id":        strings.Replace(v, `"3ac225`, `"3ac2`, 1),
		"non-hex id":      strings.Replace(v, "3ac2", "3acg", 1),
		"negative size":   strings.Replace(v, "600000", "-600000", 1),
		"leading zero":    strings.Replace(v, "600000", "0600000", 1),
		"float size":      strings.Replace(v, "600000", "6e5", 1),
		"huge size":       strings.Replace(v, "600000", "99999999999999999999", 1),
		"changed chunk":   strings.Replace(v, `"3ac2`, `"4ac2`, 1),
		"changed root":    strings.Replace(v, "f2ed55", "f2ed56", 1),
		"missing node":    strings.Replace(v, `"a913a112496fd01321f84d4bca03e06b436ac5fd8691bf2c92a52225d168e946",`, "", 1),
		"trailing bytes":  v + "\n",
		"trailing comma":  strings.Replace(v, `"],"hash"`, `",],"hash"`, 1),
		"empty":           "",
		"json null":       "null",
		"duplicated tail": v + v,
	}
	for what, m := range mutations {
		if m == v {
			t.Fatalf("%s: mutation did not apply", what)
		}
		_, _, err := DecodeFile([]byte(m))
		wantCorrupt(t, what, err)
	}
	for i := 0; i < len(v); i++ {
		_, _, err := DecodeFile([]byte(v[:i]))
		wantCorrupt(t, fmt.Sprintf("truncated to %d", i), err)
	}
}

func TestDirVector(t *testing.T) {
	want, _ := hex.DecodeString(dirVectorHex)
	got := EncodeDir(vectorDir())
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeDir:\n got %s\nwant %s", got, want)
	}
	if id := merkle.Keccak256(got).String(); id != dirVectorID {
		t.Fatalf("dir id %s, want %s", id, dirVectorID)
	}
	entries, err := DecodeDir(want)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(entries) != fmt.Sprint(vectorDir()) {
		t.Fatalf("DecodeDir = %v", entries)
	}
}

func TestJSONStringEscaping(t *testing.T) {
	var sb strings.Builder
	for c := 0; c < 128; c++ {
		sb.WriteByte(byte(c))
	}
	sb.WriteString("é\u2028\u2029\ufeff😀")
	want, _ := hex.DecodeString(asciiVectorHex)
	if got := appendJSONString(nil, sb.String()); !bytes.Equal(got, want) {
		t.Fatalf("escaping:\n got %q\nwant %q", got, want)
	}
	// Invalid UTF-8 cannot be represented; it becomes U+FFFD.
	if got := string(appendJSONString(nil, "a\xffb")); got != "\"a\uFFFDb\"" {
		t.Fatalf("invalid UTF-8: %q", got)
	}
}

func TestDirRoundTrip(t *testing.T) {
	if got := string(EncodeDir(nil)); got != `{"type":"dir","files":[]}` {
		t.Fatalf("empty dir: %s", got)
	}
	entries, err := DecodeDir([]byte(`{"type":"dir","files":[]}`))
	if err != nil || len(entries) != 0 {
		t.Fatalf("empty dir: %v, %v", entries, err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	ids := randomIDs(r, 50)
	var in []DirEntry
	for i, id := range ids {
		typ := TypeFilePtr
		if i%3 == 0 {
			typ = TypeDirPtr
		}
		in = append(in, DirEntry{Type: typ, Name: fmt.Sprintf("f%d \"é\\\x02", i), Size: r.Int64N(1 << 40), ID: id})
	}
	out, err := DecodeDir(EncodeDir(in))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatal("round trip differs")
	}
}

func TestDecodeDirCorrupt(t *testing.T) {
	id := letters(1)[0].String()
	entry := func(typ, name, size, id string) string {
		return `{"type":"dir","files":[{"type":"` + typ + `","name":"` + name + `","size":` + size + `,"id":"` + id + `"}]}`
	}
	if _, err := DecodeDir([]byte(entry("fileptr", "ok", "1", id))); err != nil {
		t.Fatalf("the base case fails: %v", err)
	}
	cases := map[string]string{
		"entry type":        entry("file", "x", "1", id),
		"dot":               entry("fileptr", ".", "1", id),
		"dot dot":           entry("fileptr", "..", "1", id),
		"slash":             entry("fileptr", "a/b", "1", id),
		"NUL":               entry("fileptr", `a\u0000b`, "1", id),
		"empty name":        entry("fileptr", "", "1", id),
		"negative size":     entry("fileptr", "x", "-1", id),
		"upper-case id":     entry("fileptr", "x", "1", strings.ToUpper(id)),
		"0x id":             entry("fileptr", "x", "1", "0x"+id),
		"needless escape":   entry("fileptr", `\u0041`, "1", id),
		"escaped U+2028":    entry("fileptr", `a\u2028`, "1", id),
		"invalid UTF-8":     entry("fileptr", "a\xff", "1", id),
		"float size":        entry("fileptr", "x", "1.0", id),
		"key order":         `{"files":[],"type":"dir"}`,
		"space":             `{"type":"dir", "files":[]}`,
		"wrong type":        `{"type":"file","files":[]}`,
		"null files":        `{"type":"dir","files":null}`,
		"missing files":     `{"type":"dir"}`,
		"extra key":         `{"type":"dir","files":[],"x":1}`,
		"case-folded key":   `{"Type":"dir","files":[]}`,
		"trailing":          `{"type":"dir","files":[]} `,
		"not json":          `{"type":"dir","files":[`,
		"duplicate names":   `{"type":"dir","files":[{"type":"fileptr","name":"a","size":1,"id":"` + id + `"},{"type":"dirptr","name":"a","size":0,"id":"` + id + `"}]}`,
		"entry missing key": `{"type":"dir","files":[{"type":"fileptr","name":"a","id":"` + id + `"}]}`,
	}
	for what, c := range cases {
		_, err := DecodeDir([]byte(c))
		wantCorrupt(t, what, err)
	}
}

func TestCheckDir(t *testing.T) {
	good := vectorDir()
	if err := CheckDir(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []DirEntry{
		{Type: "", Name: "x"},
		{Type: TypeFilePtr, Name: "a\xffb"},
		{Type: TypeFilePtr, Name: "a/b"},
		{Type: TypeFilePtr, Name: "x", Size: -1},
		{Type: TypeDirPtr, Name: "cat.jpg"}, // repeats the first entry's name
	} {
		if err := CheckDir(append(vectorDir(), bad)); !errors.Is(err, meta.ErrInvalid) {
			t.Errorf("CheckDir accepted %+v: %v", bad, err)
		}
	}
}

// optionalDir has entries with each optional key alone, all of them, and
// none.
func optionalDir() []DirEntry {
	ids := letters(3)
	return []DirEntry{
		{Type: TypeFilePtr, Name: "a", Size: 1, ID: ids[0], Mode: 0o644},
		{Type: TypeFilePtr, Name: "b", Size: 2, ID: ids[1], Mtime: 1700000000123456789},
		{Type: TypeDirPtr, Name: "c", ID: ids[2], Mode: 0o7755, Mtime: -1},
		{Type: TypeSymlink, Name: "d ↗", Size: 12, Mode: 0o777, Mtime: 5, Target: "../x \"y\"\n/é"},
		{Type: TypeFilePtr, Name: "e", Size: 3, ID: ids[0]},
	}
}

func TestDirOptionalFields(t *testing.T) {
	ids := letters(3)
	want := `{"type":"dir","files":[` +
		`{"type":"fileptr","name":"a","size":1,"id":"` + ids[0].String() + `","mode":420},` +
		`{"type":"fileptr","name":"b","size":2,"id":"` + ids[1].String() + `","mtime":1700000000123456789},` +
		`{"type":"dirptr","name":"c","size":0,"id":"` + ids[2].String() + `","mode":4077,"mtime":-1},` +
		`{"type":"symlink","name":"d ↗","size":12,"id":"` + meta.ID{}.String() + `","mode":511,"mtime":5,"target":"../x \"y\"\n/é"},` +
		`{"type":"fileptr","name":"e","size":3,"id":"` + ids[0].String() + `"}]}`
	if got := string(EncodeDir(optionalDir())); got != want {
		t.Fatalf("EncodeDir:\n got %s\nwant %s", got, want)
	}
	got, err := DecodeDir([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(optionalDir()) {
		t.Fatalf("DecodeDir = %+v", got)
	}
	// Without the optional fields an entry is the original format: the
	// vector of TestDirVector does not move.
	if id := merkle.Keccak256(EncodeDir(vectorDir())).String(); id != dirVectorID {
		t.Fatalf("dir vector id moved: %s", id)
	}
}

func TestDirOptionalRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ids := randomIDs(r, 200)
	var in []DirEntry
	for i, id := range ids {
		e := DirEntry{Type: TypeFilePtr, Name: fmt.Sprintf("f%d\x01é", i), Size: r.Int64N(1 << 40), ID: id}
		if r.IntN(2) == 0 {
			e.Mode = uint32(r.IntN(MaxMode + 1))
		}
		if r.IntN(2) == 0 {
			e.Mtime = r.Int64() - r.Int64()
		}
		switch i % 4 {
		case 1:
			e.Type = TypeDirPtr
		case 2:
			e.Type, e.ID = TypeSymlink, meta.ID{}
			e.Target = strings.Repeat("t\u2028\"", 1+r.IntN(20))
			e.Size = int64(len(e.Target))
		}
		in = append(in, e)
	}
	if err := CheckDir(in); err != nil {
		t.Fatal(err)
	}
	b := EncodeDir(in)
	out, err := DecodeDir(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatal("round trip differs")
	}
	// A symlink target of exactly MaxTarget bytes is fine.
	long := strings.Repeat("x", MaxTarget)
	if _, err := DecodeDir(EncodeDir([]DirEntry{{Type: TypeSymlink, Name: "l", Size: MaxTarget, Target: long}})); err != nil {
		t.Fatalf("target of %d bytes: %v", MaxTarget, err)
	}
}

func TestDecodeDirOptionalCorrupt(t *testing.T) {
	id := letters(1)[0].String()
	zero := meta.ID{}.String()
	dir := func(entry string) string { return `{"type":"dir","files":[` + entry + `]}` }
	file := func(extra string) string {
		return dir(`{"type":"fileptr","name":"x","size":1,"id":"` + id + `"` + extra + `}`)
	}
	link := func(size, lid, extra string) string {
		return dir(`{"type":"symlink","name":"l","size":` + size + `,"id":"` + lid + `"` + extra + `}`)
	}
	for what, ok := range map[string]string{
		"file with mode and mtime": file(`,"mode":420,"mtime":7`),
		"symlink":                  link("3", zero, `,"target":"a/b"`),
	} {
		if _, err := DecodeDir([]byte(ok)); err != nil {
			t.Fatalf("%s: the base case fails: %v", what, err)
		}
	}
	cases := map[string]string{
		"mode zero":              file(`,"mode":0`),
		"mtime zero":             file(`,"mtime":0`),
		"target empty":           link("0", zero, `,"target":""`),
		"mtime before mode":      file(`,"mtime":7,"mode":420`),
		"mode before id":         dir(`{"type":"fileptr","name":"x","size":1,"mode":420,"id":"` + id + `"}`),
		"target before mtime":    link("3", zero, `,"target":"a/b","mtime":7`),
		"mode too big":           file(`,"mode":4096`),
		"mode negative":          file(`,"mode":-1`),
		"mode leading zero":      file(`,"mode":0644`),
		"mode as string":         file(`,"mode":"420"`),
		"mode float":             file(`,"mode":420.0`),
		"mtime float":            file(`,"mtime":1.5`),
		"mtime exponent":         file(`,"mtime":1e9`),
		"mtime too big":          file(`,"mtime":99999999999999999999`),
		"target on a file":       file(`,"target":"a"`),
		"target on a dir":        dir(`{"type":"dirptr","name":"x","size":0,"id":"` + id + `","target":"a"}`),
		"symlink without target": link("0", zero, ``),
		"symlink with an id":     link("3", id, `,"target":"a/b"`),
		"symlink size":           link("4", zero, `,"target":"a/b"`),
		"target NUL":             link("3", zero, `,"target":"a\u0000b"`),
		"target invalid UTF-8":   link("3", zero, ",\"target\":\"a\xffb\""),
		"target needless escape": link("3", zero, `,"target":"\u0061/b"`),
		"target too long":        link("4097", zero, `,"target":"`+strings.Repeat("x", MaxTarget+1)+`"`),
		"unknown optional key":   file(`,"uid":1000`),
		"duplicate mode":         file(`,"mode":420,"mode":420`),
	}
	for what, c := range cases {
		_, err := DecodeDir([]byte(c))
		wantCorrupt(t, what, err)
	}
}

func TestCheckDirOptional(t *testing.T) {
	if err := CheckDir(optionalDir()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []DirEntry{
		{Type: TypeFilePtr, Name: "x", Mode: MaxMode + 1},
		{Type: TypeFilePtr, Name: "x", Target: "t"},
		{Type: TypeDirPtr, Name: "x", Target: "t"},
		{Type: TypeSymlink, Name: "x"},
		{Type: TypeSymlink, Name: "x", Size: 3, Target: "a\x00b"},
		{Type: TypeSymlink, Name: "x", Size: 3, Target: "a\xffb"},
		{Type: TypeSymlink, Name: "x", Size: MaxTarget + 1, Target: strings.Repeat("y", MaxTarget+1)},
		{Type: TypeSymlink, Name: "x", Size: 1, Target: "t", ID: letters(1)[0]},
		{Type: TypeSymlink, Name: "x", Size: 2, Target: "t"},
		{Type: TypeSymlink, Name: "a", Size: 1, Target: "t"}, // repeats the first entry's name
	} {
		if err := CheckDir(append(optionalDir(), bad)); !errors.Is(err, meta.ErrInvalid) {
			t.Errorf("CheckDir accepted %+v: %v", bad, err)
		}
	}
}

func FuzzDecodeFile(f *testing.F) {
	f.Add([]byte(fileVector))
	f.Add(EncodeFile(nil, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		chunks, size, err := DecodeFile(b)
		if err != nil {
			if !errors.Is(err, meta.ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(EncodeFile(chunks, size), b) {
			t.Fatal("accepted a non-canonical chunkinfo")
		}
	})
}

func FuzzDecodeDir(f *testing.F) {
	want, _ := hex.DecodeString(dirVectorHex)
	f.Add(want)
	f.Add([]byte(`{"type":"dir","files":[]}`))
	f.Add(EncodeDir(optionalDir()))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := DecodeDir(b)
		if err != nil {
			if !errors.Is(err, meta.ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(EncodeDir(entries), b) {
			t.Fatal("accepted a non-canonical dir")
		}
	})
}

func bigFile() []meta.ID { return randomIDs(rand.New(rand.NewPCG(5, 6)), 40000) }

func BenchmarkEncodeFile40000(b *testing.B) {
	chunks := bigFile()
	b.ReportAllocs()
	for b.Loop() {
		EncodeFile(chunks, 40000*262144)
	}
}

func BenchmarkDecodeFile40000(b *testing.B) {
	enc := EncodeFile(bigFile(), 40000*262144)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeFile(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// A file's or directory's storage policy, when not the default, is part of
// its entry, after the other optional fields.
func TestDirPolicyFields(t *testing.T) {
	ids := letters(2)
	in := []DirEntry{
		{Type: TypeFilePtr, Name: "a", Size: 1, ID: ids[0], Mode: 420, Redundancy: 5, Expires: 1893456000, NoRenew: true},
		{Type: TypeDirPtr, Name: "b", Size: 0, ID: ids[1], Mtime: 7, Redundancy: MaxRedundancy},
		{Type: TypeFilePtr, Name: "c", Size: 2, ID: ids[0], NoRenew: true},
	}
	want := `{"type":"dir","files":[` +
		`{"type":"fileptr","name":"a","size":1,"id":"` + ids[0].String() + `","mode":420,"redundancy":5,"expires":1893456000,"norenew":true},` +
		`{"type":"dirptr","name":"b","size":0,"id":"` + ids[1].String() + `","mtime":7,"redundancy":64},` +
		`{"type":"fileptr","name":"c","size":2,"id":"` + ids[0].String() + `","norenew":true}]}`
	if got := string(EncodeDir(in)); got != want {
		t.Fatalf("EncodeDir:\n got %s\nwant %s", got, want)
	}
	got, err := DecodeDir([]byte(want))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(in) {
		t.Fatalf("DecodeDir = %+v, %v", got, err)
	}
	file := func(extra string) string {
		return `{"type":"dir","files":[{"type":"fileptr","name":"x","size":1,"id":"` + ids[0].String() + `"` + extra + `}]}`
	}
	for what, c := range map[string]string{
		"redundancy zero":        file(`,"redundancy":0`),
		"redundancy too big":     file(`,"redundancy":65`),
		"redundancy negative":    file(`,"redundancy":-1`),
		"expires zero":           file(`,"expires":0`),
		"expires negative":       file(`,"expires":-5`),
		"norenew false":          file(`,"norenew":false`),
		"expires before redund.": file(`,"expires":9,"redundancy":2`),
		"redundancy before mode": file(`,"redundancy":2,"mode":420`),
		"policy on a symlink": `{"type":"dir","files":[{"type":"symlink","name":"l","size":1,"id":"` + meta.ID{}.String() +
			`","target":"t","redundancy":2}]}`,
	} {
		_, err := DecodeDir([]byte(c))
		wantCorrupt(t, what, err)
	}
}
