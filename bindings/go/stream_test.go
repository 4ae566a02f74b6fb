package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// streamBundle exports a store with two images as a bundle and returns its platform.tar path
// and bytes, and the report of importing that tar from its path into a new store.
func streamBundle(t *testing.T) (string, []byte, *BundleReport) {
	t.Helper()
	src := openStore(t)
	putImage(t, src, "v1", "stream-layer-one")
	putImage(t, src, "v2", strings.Repeat("stream-layer-two", 1000))
	tar := filepath.Join(exportBundle(t, src, BundleExportOptions{}), "platform.tar")
	data, err := os.ReadFile(tar)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := openStore(t).ImportBundle(context.Background(), tar, BundleOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsAdded != 5 || !reflect.DeepEqual(rep.Layouts[0].Tags, []string{"v1", "v2"}) {
		t.Fatalf("path import %+v", rep)
	}
	return tar, data, rep
}

// storeAt opens a store in a known folder, so a test can look at its files.
func storeAt(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := OpenStore(dir, StoreOptions{Durability: "relaxed"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// files lists every file (with its size) and folder under root: staging included.
func files(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := int64(-1)
		if !d.IsDir() {
			size = info.Size()
		}
		fmt.Fprintf(&b, "%s %d\n", strings.TrimPrefix(p, root), size)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestImportBundleStreamReportsWhatThePathImportDoes(t *testing.T) {
	tar, data, want := streamBundle(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, r := range map[string]io.Reader{
		"file": f,
		// Short reads of one byte, and the last bytes delivered together with io.EOF.
		"one byte":   iotest.OneByteReader(bytes.NewReader(data)),
		"data + EOF": iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(data))),
		"gzip":       &gz,
	} {
		calls := 0
		got, err := openStore(t).ImportBundleStream(context.Background(), r, "platform.tar", BundleOptions{}, func(Progress) bool {
			calls++
			return true
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) || calls == 0 {
			t.Fatalf("%s: report %+v (%d progress calls), want %+v", name, got, calls, want)
		}
	}
}

// diskError is a reader's own error type, which errors.As must reach.
type diskError struct{ sector int }

func (e *diskError) Error() string { return fmt.Sprintf("bad sector %d", e.sector) }

// failAfter reads n bytes of data, then fails with err.
func failAfter(data []byte, n int, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data[:n]), iotest.ErrReader(err))
}

func TestImportBundleStreamReaderErrorIsWrappedAndChangesNothing(t *testing.T) {
	_, data, _ := streamBundle(t)
	dst, root := storeAt(t)
	putImage(t, dst, "other", "already-here")
	before, onDisk := storeState(t, dst), files(t, root)

	cause := &diskError{sector: 7}
	_, err := dst.ImportBundleStream(context.Background(), failAfter(data, 1500, cause), "platform.tar", BundleOptions{}, nil)
	var de *diskError
	if !errors.Is(err, cause) || !errors.As(err, &de) || de.sector != 7 || !errors.Is(err, ErrIO) {
		t.Fatalf("reader error came back as %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `stream "platform.tar"`) || !strings.Contains(msg, "bad sector 7") ||
		!strings.Contains(msg, "after 1500 bytes") {
		t.Fatalf("message %q", msg)
	}
	// A reader that never makes progress is stopped, not spun on forever.
	stuck := iotest.ErrReader(nil)
	if _, err := dst.ImportBundleStream(context.Background(), stuck, "", BundleOptions{}, nil); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("stuck reader: %v", err)
	}
	if after := storeState(t, dst); after != before {
		t.Fatalf("store changed: %s -> %s", before, after)
	}
	if now := files(t, root); now != onDisk {
		t.Fatalf("files changed:\n%s\nnow:\n%s", onDisk, now)
	}
	if _, err := dst.ImportBundleStream(context.Background(), nil, "", BundleOptions{}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil reader: %v", err)
	}
}

// panicAfter reads n bytes of data, then panics.
type panicAfter struct {
	data []byte
	n    int
}

func (p *panicAfter) Read(b []byte) (int, error) {
	if p.n == 0 {
		panic("reader exploded")
	}
	k := copy(b[:min(len(b), p.n)], p.data)
	p.data, p.n = p.data[k:], p.n-k
	return k, nil
}

func TestImportBundleStreamReaderPanicPropagates(t *testing.T) {
	_, data, _ := streamBundle(t)
	dst, root := storeAt(t)
	before := files(t, root)
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_, err := dst.ImportBundleStream(context.Background(), &panicAfter{data: data, n: 2000}, "", BundleOptions{}, nil)
		t.Errorf("ImportBundleStream returned %v instead of panicking", err)
		return nil
	}()
	if recovered != "reader exploded" {
		t.Fatalf("recovered %#v, want the reader's panic value", recovered)
	}
	if now := files(t, root); now != before {
		t.Fatalf("files changed after the panic:\n%s\nnow:\n%s", before, now)
	}
	if rep, err := dst.ImportBundleStream(context.Background(), bytes.NewReader(data), "", BundleOptions{}, nil); err != nil || rep.BlobsAdded != 5 {
		t.Fatalf("import after the panic: %v %+v", err, rep)
	}
}

// cancelAfter cancels ctx once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(b []byte) (int, error) {
	k, err := c.r.Read(b[:min(len(b), max(c.n, 1))])
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestImportBundleStreamContextCancels(t *testing.T) {
	_, data, _ := streamBundle(t)
	dst, root := storeAt(t)
	before := files(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := dst.ImportBundleStream(ctx, &cancelAfter{r: bytes.NewReader(data), n: 1000, cancel: cancel}, "", BundleOptions{}, nil)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while reading: %v", err)
	}
	// An ended context before the call: refused before a byte is read.
	r := &panicAfter{data: data, n: 0}
	if _, err := dst.ImportBundleStream(ctx, r, "", BundleOptions{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended ctx: %v", err)
	}
	if now := files(t, root); now != before {
		t.Fatalf("files changed:\n%s\nnow:\n%s", before, now)
	}
}
