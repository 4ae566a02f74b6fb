package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exportBundle writes src's whole content as a bundle into a new folder and returns it.
func exportBundle(t *testing.T, src *Store, opts BundleExportOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if _, err := src.ExportBundle(dir, opts); err != nil {
		t.Fatal(err)
	}
	return dir
}

// storeState is what a refused operation must leave as it was: every blob and every tag.
func storeState(t *testing.T, s *Store) string {
	t.Helper()
	blobs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	tags, err := s.Tags()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(blobs, tags)
}

func TestBundleExportImportRoundTrip(t *testing.T) {
	src := openStore(t)
	v1 := putImage(t, src, "v1", "bundle-layer-one")
	v2 := putImage(t, src, "v2", "bundle-layer-two")
	dir := filepath.Join(t.TempDir(), "bundle")
	ex, err := src.ExportBundle(dir, BundleExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Two images of the root repository: one platform.tar with the root layout; config "{}"
	// is shared, so 1 config + 2 layers + 2 manifests.
	if !reflect.DeepEqual(ex.Files, []string{"platform.tar"}) || !reflect.DeepEqual(ex.Layouts, []string{""}) ||
		ex.Images != 2 || ex.Blobs != 5 {
		t.Fatalf("export report %+v", ex)
	}
	if _, err := os.Stat(filepath.Join(dir, "platform.tar")); err != nil {
		t.Fatal(err)
	}
	// The target is not empty now: a second export there is refused.
	if _, err := src.ExportBundle(dir, BundleExportOptions{}); !errors.Is(err, ErrInvalidLayout) {
		t.Fatalf("export into a non-empty folder: %v", err)
	}
	if _, err := src.ExportBundle(filepath.Join(t.TempDir(), "x"), BundleExportOptions{Tags: []string{"v9"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("export of an unknown tag: %v", err)
	}

	dst := openStore(t)
	rep, err := dst.ImportBundle(context.Background(), dir, BundleOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsAdded != 5 || rep.BlobsPresent != 0 || len(rep.Moved) != 0 || len(rep.Layouts) != 1 {
		t.Fatalf("import report %+v", rep)
	}
	l := rep.Layouts[0]
	if l.Source != "platform.tar" || l.Path != "" || l.Repository != "" || l.Images != 2 ||
		!reflect.DeepEqual(l.Tags, []string{"v1", "v2"}) || len(l.Missing) != 0 {
		t.Fatalf("layout %+v", l)
	}
	for tag, want := range map[string]string{"v1": v1, "v2": v2} {
		if got, err := dst.Resolve(tag); err != nil || got != want {
			t.Fatalf("%s resolves to %q (%v), want %s", tag, got, err, want)
		}
	}
	srcBlobs, _ := src.List()
	dstBlobs, _ := dst.List()
	if !reflect.DeepEqual(srcBlobs, dstBlobs) {
		t.Fatalf("blobs differ: %v vs %v", srcBlobs, dstBlobs)
	}
	// Importing it again adds nothing and moves nothing.
	again, err := dst.ImportBundle(context.Background(), dir, BundleOptions{}, nil)
	if err != nil || again.BlobsAdded != 0 || again.BlobsPresent != 5 {
		t.Fatalf("re-import %v %+v", err, again)
	}
}

func TestTamperedBundleIsRefused(t *testing.T) {
	src := openStore(t)
	putImage(t, src, "v1", "bundle-layer-one")
	dir := exportBundle(t, src, BundleExportOptions{})
	tar := filepath.Join(dir, "platform.tar")
	raw, err := os.ReadFile(tar)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(raw, []byte("bundle-layer-one"))
	if at < 0 {
		t.Fatal("the layer is not in platform.tar")
	}
	raw[at] ^= 0x20 // same size, other content: the digest no longer matches
	if err := os.WriteFile(tar, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	dst := openStore(t)
	putImage(t, dst, "other", "already-here")
	before := storeState(t, dst)
	_, err = dst.ImportBundle(context.Background(), dir, BundleOptions{}, nil)
	if !errors.Is(err, ErrImportRefused) {
		t.Fatalf("tampered import: %v", err)
	}
	if after := storeState(t, dst); after != before {
		t.Fatalf("a refused import changed the store:\n%s\n%s", before, after)
	}
}

func TestBundleTagMoveNeedsOverwriteTags(t *testing.T) {
	a, b := openStore(t), openStore(t)
	old := putImage(t, a, "v1", "bundle-layer-one")
	moved := putImage(t, b, "v1", "bundle-layer-two")
	first, second := exportBundle(t, a, BundleExportOptions{}), exportBundle(t, b, BundleExportOptions{})

	dst := openStore(t)
	if _, err := dst.ImportBundle(context.Background(), first, BundleOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, dst)
	_, err := dst.ImportBundle(context.Background(), second, BundleOptions{}, nil)
	if !errors.Is(err, ErrImportRefused) || !strings.Contains(err.Error(), old) || !strings.Contains(err.Error(), moved) {
		t.Fatalf("tag move without OverwriteTags: %v", err)
	}
	if after := storeState(t, dst); after != before {
		t.Fatalf("a refused import changed the store:\n%s\n%s", before, after)
	}
	rep, err := dst.ImportBundle(context.Background(), second, BundleOptions{OverwriteTags: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []TagMove{{Reference: "v1", From: old, To: moved}}; !reflect.DeepEqual(rep.Moved, want) {
		t.Fatalf("moved %+v, want %+v", rep.Moved, want)
	}
	if d, _ := dst.Resolve("v1"); d != moved {
		t.Fatalf("v1 resolves to %s, want %s", d, moved)
	}
}

func TestImportBundleCancel(t *testing.T) {
	src := openStore(t)
	putImage(t, src, "v1", "bundle-layer-one")
	dir := exportBundle(t, src, BundleExportOptions{})
	dst := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := dst.ImportBundle(ctx, dir, BundleOptions{}, func(Progress) bool { cancel(); return true })
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	if state, empty := storeState(t, dst), "[] []"; state != empty {
		t.Fatalf("a cancelled import left %s", state)
	}
	if _, err := dst.ImportBundle(ctx, dir, BundleOptions{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended ctx %v", err)
	}
}

func TestPinUnpinForget(t *testing.T) {
	s := openStore(t)
	old := putImage(t, s, "v1", "layer-one")
	putImage(t, s, "v1", "layer-two") // v1 moves on: the first manifest is now in no entry
	if err := s.Pin(old); err != nil {
		t.Fatal(err)
	}
	zero := uint64(0)
	gc := func() *GCReport {
		t.Helper()
		r, err := s.GC(context.Background(), GCOptions{GraceSeconds: &zero}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Pinned, the untagged manifest and its layer survive a GC with no grace.
	if r := gc(); len(r.Deleted) != 0 {
		t.Fatalf("GC deleted %v despite the pin", r.Deleted)
	}
	if err := s.Unpin(old); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(old); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unpin: %v", err)
	}
	if err := s.Pin(old); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Forget("install", old, false); err != nil || n != 0 {
		t.Fatalf("forget in a repository without it: %d %v", n, err)
	}
	if n, err := s.Forget("", old, true); err != nil || n != 1 {
		t.Fatalf("forget: %d %v", n, err)
	}
	// Forgotten, it is no GC root any more: the manifest and its own layer go.
	r := gc()
	if len(r.Deleted) != 2 || !contains(r.Deleted, old) {
		t.Fatalf("GC after forget deleted %v, want %s and its layer", r.Deleted, old)
	}
	if has, _ := s.Has(old); has {
		t.Fatal("the forgotten manifest is still stored")
	}
	if _, err := s.Forget("Bad Repo!", old, false); !errors.Is(err, ErrInvalidRepository) {
		t.Fatalf("bad repository: %v", err)
	}
	if err := s.Pin("nope"); !errors.Is(err, ErrInvalidDigest) {
		t.Fatalf("bad digest: %v", err)
	}
	if err := s.Pin(helloDigest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pin of a blob that is not stored: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
