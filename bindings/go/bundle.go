package registry

// Image bundles as `d8 mirror pull` writes them, and untagged manifests: ImportBundle,
// ImportBundleStream, ExportBundle, Pin, Unpin and Forget over the C calls of
// bindings/c/src/bundle.rs (the stream's read callback is in stream.go). Every rule
// (what is refused, where a layout goes, which entries GC keeps) is the core's.

/*
#include <stdlib.h>
#include <stdint.h>
#include "deckhouse_registry.h"

extern int drGoRead(uint8_t *buf, size_t len, size_t *out_n, uintptr_t handle);

static int dr_go_read(uint8_t *buf, size_t len, size_t *out_n, void *user_data) {
	return drGoRead(buf, len, out_n, (uintptr_t)user_data);
}

static dr_read_fn dr_go_reader(void) {
	return dr_go_read;
}

// The stream's cgo.Handle travels as user_data; it is an integer, never a Go pointer.
static void *dr_go_stream_ud(uintptr_t handle) {
	return (void *)handle;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"io"
	"unsafe"
)

// BundleOptions say how to import a bundle (the core's BundleOptions); zero values take the
// library's defaults.
type BundleOptions struct {
	// AllowIncomplete accepts layouts whose images lack blobs neither the bundle nor the store
	// has (they are listed in LayoutReport.Missing).
	AllowIncomplete bool
	// OverwriteTags moves tags that already point at another digest; without it such an import
	// is refused (ErrImportRefused, naming the tag and both digests) and the store is unchanged.
	OverwriteTags bool
	// MaxExpansionRatio refuses a gzip stream expanding more than this many times (0: 100).
	MaxExpansionRatio uint64
	// MaxExpandedBytes refuses a gzip stream expanding to more bytes (0: 1 TiB).
	MaxExpandedBytes uint64
	// MaxManifestBytes bounds the manifests held in memory while planning (0: 256 MiB).
	MaxManifestBytes uint64
}

// bundleOptionsWire is BundleOptions as the library reads them (absent keys: the defaults).
type bundleOptionsWire struct {
	RequireComplete   bool   `json:"requireComplete"`
	OverwriteTags     bool   `json:"overwriteTags"`
	MaxExpansionRatio uint64 `json:"maxExpansionRatio,omitempty"`
	MaxExpandedBytes  uint64 `json:"maxExpandedBytes,omitempty"`
	MaxManifestBytes  uint64 `json:"maxManifestBytes,omitempty"`
}

// LayoutReport is what one layout of a bundle held.
type LayoutReport struct {
	// Source is the tar it was in ("" for an unpacked tree).
	Source string `json:"source"`
	// Path is its folder inside the tar ("" for the root layout).
	Path string `json:"path"`
	// Repository is the repository it went to ("" for the root repository).
	Repository string `json:"repository"`
	// Images is the number of descriptors in its index.json.
	Images uint64 `json:"images"`
	// Tags set, as references (install:v1.69.0; just the tag in the root), sorted.
	Tags []string `json:"tags"`
	// Untagged are the manifests kept untagged in the repository, sorted.
	Untagged []string `json:"untagged"`
	// Blobs and Bytes its images need (manifests included).
	Blobs uint64 `json:"blobs"`
	Bytes uint64 `json:"bytes"`
	// Missing are blobs needed that neither the bundle nor the store holds (AllowIncomplete only).
	Missing []string `json:"missing"`
}

// SkippedEntry is a bundle entry that was not imported, and why.
type SkippedEntry struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// TagMove is a tag an import moved (OverwriteTags only).
type TagMove struct {
	Reference string `json:"reference"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// wire is the options as the library reads them.
func (o BundleOptions) wire() bundleOptionsWire {
	return bundleOptionsWire{
		RequireComplete:   !o.AllowIncomplete,
		OverwriteTags:     o.OverwriteTags,
		MaxExpansionRatio: o.MaxExpansionRatio,
		MaxExpandedBytes:  o.MaxExpandedBytes,
		MaxManifestBytes:  o.MaxManifestBytes,
	}
}

// BundleReport is the result of ImportBundle and ImportBundleStream.
type BundleReport struct {
	Layouts      []LayoutReport `json:"layouts"`
	BlobsAdded   uint64         `json:"blobsAdded"`
	BlobsPresent uint64         `json:"blobsPresent"`
	BytesAdded   uint64         `json:"bytesAdded"`
	Skipped      []SkippedEntry `json:"skipped"`
	Moved        []TagMove      `json:"moved"`
}

// ImportBundle imports a `d8 mirror pull` bundle from path: a folder of tars, one tar or
// tar.gz, one chunk of a <name>.tar.NNNN.chunk set, or a folder holding layouts. Every layout
// at any depth goes to its repository. All layouts or none: a refused (ErrImportRefused) or
// cancelled import leaves the store unchanged. ctx and progress (may be nil) can cancel it.
func (s *Store) ImportBundle(ctx context.Context, path string, opts BundleOptions, progress ProgressFunc) (*BundleReport, error) {
	var rep BundleReport
	err := s.longCall(ctx, progress, opts.wire(), &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_import_bundle(p, a[0], a[1], cb, u, out, e)
	}, path)
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// ImportBundleStream imports one bundle tar (plain or gzip, such as platform.tar or
// module-<name>.tar) read once, front to back, from r; name is the tar's file name
// (module-<name>.tar marks a legacy module tar; it names the stream in reports and errors) or
// "". Options, report and atomicity are those of ImportBundle: nothing is published before the
// whole stream checked out, so a refused, cancelled or failed import leaves the store
// unchanged. r is read from the calling goroutine only, up to the end of the tar archive (not
// necessarily to EOF). An error r returns stops the import and comes back as an *Error with
// StatusIO that wraps it (errors.Is and errors.As reach it); a panic in r stops the import and
// is re-raised in the caller, as a panicking progress callback is. ctx is checked before each
// read and progress (may be nil) can cancel it (ErrCancelled, wrapping ctx.Err()).
func (s *Store) ImportBundleStream(ctx context.Context, r io.Reader, name string, opts BundleOptions, progress ProgressFunc) (*BundleReport, error) {
	if r == nil {
		return nil, &Error{Status: StatusInvalidArgument, Message: "ImportBundleStream: the reader is nil"}
	}
	handle, st, release := newStream(ctx, r)
	defer release()
	var rep BundleReport
	err := s.longCall(ctx, progress, opts.wire(), &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_import_bundle_stream(p, C.dr_go_reader(), C.dr_go_stream_ud(handle), a[0], a[1], cb, u, out, e)
	}, name)
	if err = st.finish(name, err); err != nil {
		return nil, err
	}
	return &rep, nil
}

// BundleExportOptions say what to export as a bundle (the core's BundleExportOptions).
type BundleExportOptions struct {
	// Repositories to export, with every tagged and untagged entry; empty means all.
	Repositories []string `json:"repositories,omitempty"`
	// Tags limits the export to these references (repository:tag, or tag in the root).
	Tags []string `json:"tags,omitempty"`
	// Referrers also exports the OCI 1.1 referrers (signatures, SBOMs) of what is exported.
	Referrers bool `json:"referrers"`
	// Unpacked writes the layout folders (blobs hard-linked where possible) instead of tars.
	Unpacked bool `json:"unpacked"`
}

// BundleExportReport is the result of ExportBundle.
type BundleExportReport struct {
	// Files are the tars written (layout folders with Unpacked), sorted.
	Files []string `json:"files"`
	// Layouts are the layout folders written ("" for the root layout), sorted.
	Layouts []string `json:"layouts"`
	Images  uint64   `json:"images"`
	// Blobs and Bytes written (a blob in two layouts counts twice).
	Blobs uint64 `json:"blobs"`
	Bytes uint64 `json:"bytes"`
	// Linked are the blob files hard-linked instead of copied (Unpacked only).
	Linked uint64 `json:"linked"`
}

// ExportBundle writes repositories and tags as a bundle `d8 mirror push` accepts into the
// folder dest (created; an existing one must be empty, ErrInvalidLayout otherwise). On failure
// what was written is removed again.
func (s *Store) ExportBundle(dest string, opts BundleExportOptions) (*BundleExportReport, error) {
	o, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	var rep BundleExportReport
	err = s.jsonCall(&rep, func(p *C.dr_store, out **C.char, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_export_bundle(p, a[0], a[1], out, e)
	}, dest, string(o))
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// Pin keeps the stored manifest or index digest in the root repository, so GC keeps it
// untagged.
func (s *Store) Pin(digest string) error {
	return s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_pin(p, a[0], e)
	}, digest)
}

// Unpin removes the pin of digest's untagged root entries (ErrNotFound if none was pinned).
func (s *Store) Unpin(digest string) error {
	return s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_unpin(p, a[0], e)
	}, digest)
}

// Forget removes every index.json entry (tags too) of digest in repository ("" for the root
// repository) and, with referrers, every entry whose manifest names digest as its OCI 1.1
// subject. It returns how many entries went; blobs stay until GC.
func (s *Store) Forget(repository, digest string, referrers bool) (uint64, error) {
	var n C.uint64_t
	err := s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_forget(p, a[0], a[1], C.bool(referrers), &n, e)
	}, repository, digest)
	return uint64(n), err
}
