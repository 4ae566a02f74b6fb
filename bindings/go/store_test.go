package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	helloDigest      = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	helloWorldDigest = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(t.TempDir(), StoreOptions{Durability: "relaxed"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// putImage stores a one-layer image and tags it; returns the manifest digest.
func putImage(t *testing.T, s *Store, tag, layer string) string {
	t.Helper()
	cfg, err := s.Put([]byte("{}"), "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Put([]byte(layer), "")
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg.Digest, cfg.Size, l.Digest, l.Size)
	m, err := s.Put([]byte(manifest), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(tag, m.Digest); err != nil {
		t.Fatal(err)
	}
	return m.Digest
}

func TestPutGetStatDelete(t *testing.T) {
	s := openStore(t)
	out, err := s.Put([]byte("hello"), helloDigest)
	if err != nil || out != (PutOutcome{Digest: helloDigest, Size: 5, Created: true}) {
		t.Fatalf("put %v %+v", err, out)
	}
	out, err = s.Put([]byte("hello"), "")
	if err != nil || out.Created {
		t.Fatalf("second put %v %+v", err, out)
	}
	if _, err := s.Put([]byte("hellO"), helloDigest); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("mismatch %v", err)
	}
	if _, err := s.Put([]byte("x"), "sha256:zz"); !errors.Is(err, ErrInvalidDigest) {
		t.Fatalf("bad digest %v", err)
	}
	got, err := s.Get(helloDigest)
	if err != nil || string(got) != "hello" {
		t.Fatalf("get %v %q", err, got)
	}
	if _, err := s.Get(helloWorldDigest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing %v", err)
	}
	st, err := s.Stat(helloDigest)
	if err != nil || st.Size != 5 || st.Digest != helloDigest {
		t.Fatalf("stat %v %+v", err, st)
	}
	if has, err := s.Has(helloWorldDigest); err != nil || has {
		t.Fatalf("has %v %v", has, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0] != helloDigest {
		t.Fatalf("list %v %v", err, list)
	}
	if err := s.Delete(helloDigest); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(helloDigest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice %v", err)
	}
}

func TestWriterAndReader(t *testing.T) {
	s := openStore(t)
	out, err := s.PutReader(strings.NewReader("hello world"), helloWorldDigest)
	if err != nil || out.Digest != helloWorldDigest || out.Size != 11 || !out.Created {
		t.Fatalf("PutReader %v %+v", err, out)
	}
	w, err := s.NewWriter("sha256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello"); err != nil {
		t.Fatal(err)
	}
	if w.Written() != 5 {
		t.Fatal("written")
	}
	if _, err := w.Commit(helloWorldDigest, -1); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("commit mismatch %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("write after commit %v", err)
	}
	w.Close()
	w.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close %v", err)
	}
	if _, err := s.NewWriter("md5"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("md5 %v", err)
	}

	r, err := s.OpenBlob(helloWorldDigest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all, err := io.ReadAll(r)
	if err != nil || string(all) != "hello world" || r.Size() != 11 {
		t.Fatalf("read all %v %q", err, all)
	}
	buf := make([]byte, 5)
	if n, err := r.ReadAt(buf, 6); err != nil || n != 5 || string(buf) != "world" {
		t.Fatalf("ReadAt %d %v %q", n, err, buf)
	}
	if n, err := r.ReadAt(buf, 8); err != io.EOF || n != 3 || string(buf[:3]) != "rld" {
		t.Fatalf("ReadAt end %d %v", n, err)
	}
	sec := io.NewSectionReader(r, 0, r.Size())
	if b, _ := io.ReadAll(sec); string(b) != "hello world" {
		t.Fatalf("section %q", b)
	}
	if _, err := s.OpenBlob(helloDigest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing %v", err)
	}
}

func TestTagsScrubGC(t *testing.T) {
	s := openStore(t)
	m := putImage(t, s, "v1", "layer-bytes")
	if _, err := s.Put([]byte("hello"), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("bad tag!", m); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("bad tag %v", err)
	}
	tags, err := s.Tags()
	if err != nil || len(tags) != 1 || tags[0].Name != "v1" || tags[0].Digest != m || tags[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("tags %v %+v", err, tags)
	}
	if d, err := s.Resolve("v1"); err != nil || d != m {
		t.Fatalf("resolve %v %s", err, d)
	}
	events := 0
	rep, err := s.Scrub(context.Background(), ScrubOptions{Threads: 1}, func(p Progress) bool {
		events++
		return p.Operation == "scrub"
	})
	if err != nil || rep.Checked != 4 || !rep.Clean || events == 0 {
		t.Fatalf("verify %v %+v events %d", err, rep, events)
	}
	_, err = s.Scrub(context.Background(), ScrubOptions{}, func(Progress) bool { return false })
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("verify cancel %v", err)
	}
	zero := uint64(0)
	g, err := s.GC(nil, GCOptions{GraceSeconds: &zero, DryRun: true}, nil)
	if err != nil || !g.DryRun || len(g.Deleted) != 1 || g.Deleted[0] != helloDigest {
		t.Fatalf("gc dry run %v %+v", err, g)
	}
	g, err = s.GC(context.Background(), GCOptions{GraceSeconds: &zero}, nil)
	if err != nil || g.Reachable != 3 || len(g.Deleted) != 1 {
		t.Fatalf("gc %v %+v", err, g)
	}
	g, err = s.GC(context.Background(), GCOptions{}, nil)
	if err != nil || len(g.Deleted) != 0 {
		t.Fatalf("gc default grace %v %+v", err, g)
	}
	if err := s.Untag("v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag("v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("untag twice %v", err)
	}
}

func TestExportImportCancel(t *testing.T) {
	src := openStore(t)
	m := putImage(t, src, "v1", "layer-bytes")
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "bundle.tar")
	rep, err := src.Export(context.Background(), tarPath, ExportOptions{Tar: true}, nil)
	if err != nil || rep.Blobs != 3 || strings.Join(rep.Tags, ",") != "v1" {
		t.Fatalf("export %v %+v", err, rep)
	}
	if _, err := src.Export(context.Background(), filepath.Join(dir, "folder"), ExportOptions{Tags: []string{"v1"}}, nil); err != nil {
		t.Fatal(err)
	}
	// An existing tar file is refused unless Overwrite is asked, and left as it was.
	before, _ := os.ReadFile(tarPath)
	if _, err := src.Export(context.Background(), tarPath, ExportOptions{Tar: true}, nil); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("export over an existing file: %v", err)
	}
	if after, _ := os.ReadFile(tarPath); !bytes.Equal(before, after) {
		t.Fatal("a refused export changed the existing file")
	}
	if _, err := src.Export(context.Background(), tarPath, ExportOptions{Tar: true, Overwrite: true}, nil); err != nil {
		t.Fatalf("export with Overwrite: %v", err)
	}

	dst := openStore(t)
	// A context cancelled while the import runs stops it and leaves the store unchanged.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = dst.Import(ctx, tarPath, ImportOptions{}, func(Progress) bool { cancel(); return true })
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("import cancel %v", err)
	}
	if tags, _ := dst.Tags(); len(tags) != 0 {
		t.Fatalf("tags after cancel %+v", tags)
	}
	// An already-ended context never starts the operation.
	if _, err := dst.Import(ctx, tarPath, ImportOptions{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended ctx %v", err)
	}
	// A panicking callback stops the operation (the store stays unchanged) and the panic
	// comes back as a panic in the caller, not as a cancellation.
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_, err := dst.Import(context.Background(), tarPath, ImportOptions{}, func(Progress) bool { panic("boom") })
		t.Errorf("Import returned %v instead of panicking", err)
		return nil
	}()
	if recovered != "boom" {
		t.Fatalf("recovered %#v, want the callback's panic value", recovered)
	}
	if tags, _ := dst.Tags(); len(tags) != 0 {
		t.Fatalf("tags after the panic %+v", tags)
	}
	ir, err := dst.Import(context.Background(), tarPath, ImportOptions{}, nil)
	if err != nil || ir.BlobsAdded != 3 || strings.Join(ir.Tags, ",") != "v1" {
		t.Fatalf("import %v %+v", err, ir)
	}
	if d, _ := dst.Resolve("v1"); d != m {
		t.Fatalf("resolve after import %s", d)
	}
	if _, err := dst.Import(context.Background(), filepath.Join(dir, "missing.tar"), ImportOptions{}, nil); !errors.Is(err, ErrIO) {
		t.Fatalf("missing %v", err)
	}
}

func errText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		var b bytes.Buffer
		for _, u := range e.Unwrap() {
			b.WriteString(u.Error())
		}
		return b.String()
	}
	return ""
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := OpenStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put([]byte("x"), ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close %v", err)
	}
	if _, err := OpenStore(t.TempDir(), StoreOptions{Durability: "sometimes"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad options %v", err)
	}
	if _, err := OpenStore(t.TempDir(), StoreOptions{GCGrace: 1500 * time.Millisecond}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "GCGrace") {
		t.Fatalf("a grace of 1.5s: %v", err)
	}
	if _, err := OpenStore(t.TempDir(), StoreOptions{GCGrace: time.Minute, UploadTTL: time.Hour, NoTrackUse: true, Quota: 1 << 20}); err != nil {
		t.Fatalf("every option: %v", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "oci-layout"), []byte(`{"imageLayoutVersion":"9.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(bad, StoreOptions{}); !errors.Is(err, ErrInvalidLayout) {
		t.Fatalf("bad layout %v", err)
	}
}

// Handles dropped without Close are freed by their cleanups, while other handles stay in use
// across forced collections.
func TestGarbageCollectionWhileHandlesInUse(t *testing.T) {
	s := openStore(t)
	if _, err := s.Put([]byte("hello world"), helloWorldDigest); err != nil {
		t.Fatal(err)
	}
	before := cleanupsRun.Load()
	const forgotten = 8
	func() {
		for i := 0; i < forgotten; i++ {
			fs, err := OpenStore(t.TempDir(), StoreOptions{Durability: "relaxed"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Put([]byte("x"), ""); err != nil {
				t.Fatal(err)
			}
			r, err := s.OpenBlob(helloWorldDigest)
			if err != nil {
				t.Fatal(err)
			}
			_ = r.Size()
			w, err := s.NewWriter("")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write([]byte("abandoned"))
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r, err := s.OpenBlob(helloWorldDigest)
				if err != nil {
					t.Error(err)
					return
				}
				runtime.GC()
				b, err := io.ReadAll(r)
				if err != nil || string(b) != "hello world" {
					t.Errorf("read during GC: %v %q", err, b)
				}
				r.Close()
				if _, err := s.Put([]byte(fmt.Sprint("blob-", i)), ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	want := before + 3*forgotten
	for i := 0; i < 200 && cleanupsRun.Load() < want; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := cleanupsRun.Load(); got < want {
		t.Fatalf("cleanups ran %d times, want at least %d", got-before, 3*forgotten)
	}
}

func TestUploadsAndCompleteness(t *testing.T) {
	s := openStore(t)
	w, err := s.BeginUpload("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello "); err != nil {
		t.Fatal(err)
	}
	id, err := w.UploadID()
	if err != nil || len(id) != 32 {
		t.Fatalf("upload id %q %v", id, err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ups, err := s.Uploads()
	if err != nil || len(ups) != 1 || ups[0].ID != id || ups[0].Size != 6 || ups[0].Active {
		t.Fatalf("uploads %v %+v", err, ups)
	}
	r, err := s.ResumeUpload(id)
	if err != nil || r.Written() != 6 {
		t.Fatalf("resume %v", err)
	}
	if _, err := io.WriteString(r, "world"); err != nil {
		t.Fatal(err)
	}
	out, err := r.Commit(helloWorldDigest, 11)
	if err != nil || !out.Created {
		t.Fatalf("commit %v %+v", err, out)
	}
	r.Close()
	if _, err := s.ResumeUpload(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resume committed %v", err)
	}

	a, err := s.BeginUpload("sha512")
	if err != nil {
		t.Fatal(err)
	}
	aid, _ := a.UploadID()
	a.Close()
	if err := s.AbortUpload(aid); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortUpload(aid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("abort twice %v", err)
	}
	plain, err := s.NewWriter("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.UploadID(); !errors.Is(err, ErrInvalidUpload) {
		t.Fatalf("plain upload id %v", err)
	}
	if err := plain.Abort(); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	m := putImage(t, s, "v1", "layer")
	rep, err := s.Completeness([]string{"v1", m})
	if err != nil || !rep.Complete || len(rep.Images) != 2 || rep.Images[0].Blobs != 3 {
		t.Fatalf("completeness %v %+v", err, rep)
	}
	layer, _ := s.Put([]byte("layer"), "")
	if err := s.Delete(layer.Digest); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Completeness([]string{"v1"})
	if err != nil || rep.Complete || len(rep.Missing) != 1 || rep.Missing[0] != layer.Digest {
		t.Fatalf("incomplete %v %+v", err, rep)
	}
}

// Get streams a blob through the reader handle in chunks: a blob spanning many chunks (and
// ending inside one) reads back whole, so nothing limits the size to one call's length.
func TestGetAndReadRange(t *testing.T) {
	s := openStore(t)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	put, err := s.Put(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(put.Digest); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v, %d bytes", err, len(got))
	}
	// ReadRange: the bytes from the offset, fewer at the end, none past it.
	for _, r := range []struct{ off, n, want uint64 }{{0, 10, 10}, {995, 10, 5}, {1000, 4, 0}, {2000, 4, 0}} {
		got, err := s.ReadRange(put.Digest, r.off, r.n)
		if err != nil || uint64(len(got)) != r.want || !bytes.Equal(got, data[min(r.off, 1000):min(r.off+r.want, 1000)]) {
			t.Fatalf("ReadRange(%d, %d): %v, %d bytes", r.off, r.n, err, len(got))
		}
	}
	if _, err := s.ReadRange("sha256:"+strings.Repeat("0", 64), 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadRange of a missing blob: %v", err)
	}
	empty, err := s.Put(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(empty.Digest); err != nil || len(got) != 0 {
		t.Fatalf("empty blob: %v %q", err, got)
	}
}

// The 32-bit path (C.GoBytes with a C.int length, which panics at 2 GiB and leaked the
// library's buffer) is gone from the package: no source file converts a length to C.int.
func TestNoThirtyTwoBitLengths(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"C.GoBytes(", "C.int(n)", "dr_store_get("} {
			if bytes.Contains(src, []byte(bad)) {
				t.Errorf("%s still uses %s", f, bad)
			}
		}
	}
}
