package registry

/*
#include <stdlib.h>
#include <stdint.h>
#include "deckhouse_registry.h"

extern int drGoProgress(char *event, uintptr_t handle);

static int dr_go_progress(const char *event, void *user_data) {
	return drGoProgress((char *)event, (uintptr_t)user_data);
}

static dr_progress_fn dr_go_cb(uintptr_t handle) {
	return handle ? dr_go_progress : NULL;
}

// The cgo.Handle travels as user_data; it is an integer, never a Go pointer.
static void *dr_go_ud(uintptr_t handle) {
	return (void *)handle;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// cleanupsRun counts handles freed by a cleanup because they were never closed (for tests).
var cleanupsRun atomic.Int64

// StoreOptions say how a store behaves (the core's StoreOptions); zero values take the
// library's defaults.
type StoreOptions struct {
	// Durability is "durable" (default: every commit is fsynced) or "relaxed" (caches).
	Durability string
	// Quota is the maximum bytes stored (0: none).
	Quota uint64
	// GCGrace keeps blobs younger than this from GC (0: the default, 1 hour). Whole seconds.
	GCGrace time.Duration
	// UploadTTL removes idle uploads after this long (0: the default, 7 days). Whole seconds.
	UploadTTL time.Duration
	// NoTrackUse stops recording a blob's last use when it is checked or opened (recorded by
	// default: cache expiry and the GC grace period count from it).
	NoTrackUse bool
}

// storeOptionsWire is StoreOptions as the library reads them.
type storeOptionsWire struct {
	Durability       string  `json:"durability,omitempty"`
	Quota            *uint64 `json:"quota,omitempty"`
	GCGraceSeconds   uint64  `json:"gcGraceSeconds,omitempty"`
	UploadTTLSeconds uint64  `json:"uploadTtlSeconds,omitempty"`
	TrackUse         bool    `json:"trackUse"`
}

func (o StoreOptions) wire() (storeOptionsWire, error) {
	w := storeOptionsWire{Durability: o.Durability, TrackUse: !o.NoTrackUse}
	if o.Quota != 0 {
		q := o.Quota
		w.Quota = &q
	}
	var err error
	if w.GCGraceSeconds, err = wholeSeconds("GCGrace", o.GCGrace); err != nil {
		return w, err
	}
	w.UploadTTLSeconds, err = wholeSeconds("UploadTTL", o.UploadTTL)
	return w, err
}

// wholeSeconds converts a duration option to the whole seconds the wire carries.
func wholeSeconds(name string, d time.Duration) (uint64, error) {
	if d < 0 || d%time.Second != 0 {
		return 0, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("store options: %s is %s, not a whole number of seconds >= 0", name, d)}
	}
	return uint64(d / time.Second), nil
}

// Store is a content-addressed blob store laid out as an OCI image layout. Its methods may be
// called from several goroutines at once. Close it when done; a Store that is garbage
// collected without Close is closed by a cleanup.
type Store struct {
	mu      sync.RWMutex
	ptr     *C.dr_store
	cleanup runtime.Cleanup
}

// OpenStore opens (creating it if missing or empty) the store rooted at root.
func OpenStore(root string, opts StoreOptions) (*Store, error) {
	w, err := opts.wire()
	if err != nil {
		return nil, err
	}
	o, _ := json.Marshal(w)
	args, free, err := cstrs(root, string(o))
	if err != nil {
		return nil, err
	}
	defer free()
	var p *C.dr_store
	var cerr *C.dr_error
	if err := takeError(C.dr_store_open(args[0], args[1], &p, &cerr), cerr); err != nil {
		return nil, err
	}
	s := &Store{ptr: p}
	s.cleanup = runtime.AddCleanup(s, func(p *C.dr_store) {
		C.dr_store_free(p)
		cleanupsRun.Add(1)
	}, p)
	return s, nil
}

// Close releases the store. It is idempotent; later calls of other methods return ErrClosed.
// Writers and readers opened from the store stay usable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return nil
	}
	s.cleanup.Stop()
	C.dr_store_free(s.ptr)
	s.ptr = nil
	return nil
}

// use runs f with the live handle under the read lock.
func (s *Store) use(f func(p *C.dr_store) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return ErrClosed
	}
	err := f(s.ptr)
	runtime.KeepAlive(s)
	return err
}

// PutOutcome is the result of storing a blob.
type PutOutcome struct {
	Digest string `json:"digest"`
	Size   uint64 `json:"size"`
	// Created is false when the blob was already stored.
	Created bool `json:"created"`
}

// Put stores data. With expected (a digest, may be "") the content must hash to it
// (ErrDigestMismatch otherwise; nothing is stored).
func (s *Store) Put(data []byte, expected string) (PutOutcome, error) {
	var out PutOutcome
	err := s.use(func(p *C.dr_store) error {
		e, err := optCstr(expected)
		if err != nil {
			return err
		}
		defer freeC(e)
		var res *C.char
		var cerr *C.dr_error
		st := C.dr_store_put(p, bytesPtr(data), C.size_t(len(data)), e, &res, &cerr)
		runtime.KeepAlive(data)
		if err := takeError(st, cerr); err != nil {
			return err
		}
		return json.Unmarshal([]byte(takeString(res)), &out)
	})
	return out, err
}

// PutReader streams r into the store (see Put for expected).
func (s *Store) PutReader(r io.Reader, expected string) (PutOutcome, error) {
	w, err := s.NewWriter("")
	if err != nil {
		return PutOutcome{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return PutOutcome{}, err
	}
	return w.Commit(expected, -1)
}

// Writer streams a blob into the store: write, then Commit. Close discards an uncommitted blob
// of a plain writer; an upload (BeginUpload) stays resumable. A Writer is used by one goroutine
// at a time.
type Writer struct {
	mu      sync.Mutex
	ptr     *C.dr_writer
	cleanup runtime.Cleanup
}

var _ io.WriteCloser = (*Writer)(nil)

// NewWriter starts a streaming put hashed with algorithm ("sha256" or "sha512"; "" is sha256).
func (s *Store) NewWriter(algorithm string) (*Writer, error) {
	return s.newWriter(func(p *C.dr_store, out **C.dr_writer, cerr **C.dr_error) error {
		a, err := optCstr(algorithm)
		if err != nil {
			return err
		}
		defer freeC(a)
		return takeError(C.dr_store_writer(p, a, out, cerr), *cerr)
	})
}

// BeginUpload starts a resumable upload: its data survives Close and process restarts, and
// ResumeUpload(w.UploadID()) continues it.
func (s *Store) BeginUpload(algorithm string) (*Writer, error) {
	return s.newWriter(func(p *C.dr_store, out **C.dr_writer, cerr **C.dr_error) error {
		a, err := optCstr(algorithm)
		if err != nil {
			return err
		}
		defer freeC(a)
		return takeError(C.dr_store_begin_upload(p, a, out, cerr), *cerr)
	})
}

// ResumeUpload reopens an upload by id (ErrNotFound if unknown, ErrLocked while in use).
func (s *Store) ResumeUpload(id string) (*Writer, error) {
	return s.newWriter(func(p *C.dr_store, out **C.dr_writer, cerr **C.dr_error) error {
		i, err := cstr(id)
		if err != nil {
			return err
		}
		defer freeC(i)
		return takeError(C.dr_store_resume_upload(p, i, out, cerr), *cerr)
	})
}

// AbortUpload removes an upload and its data.
func (s *Store) AbortUpload(id string) error {
	return s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_abort_upload(p, a[0], e)
	}, id)
}

// UploadInfo describes an upload in progress.
type UploadInfo struct {
	ID        string `json:"id"`
	Size      uint64 `json:"size"`
	StartedMs uint64 `json:"startedMs"`
	UpdatedMs uint64 `json:"updatedMs"`
	// Active is true while a writer holds the upload.
	Active bool `json:"active"`
}

// Uploads lists the uploads in progress.
func (s *Store) Uploads() ([]UploadInfo, error) {
	var out []UploadInfo
	err := s.jsonCall(&out, func(p *C.dr_store, o **C.char, e **C.dr_error, _ []*C.char) C.dr_status {
		return C.dr_store_uploads(p, o, e)
	})
	return out, err
}

// ImageCompleteness says whether one reference has everything it needs.
type ImageCompleteness struct {
	Reference string   `json:"reference"`
	Digest    *string  `json:"digest"`
	Complete  bool     `json:"complete"`
	Missing   []string `json:"missing"`
	Problems  []string `json:"problems"`
	Blobs     uint64   `json:"blobs"`
	Bytes     uint64   `json:"bytes"`
}

// CompletenessReport is the result of Completeness.
type CompletenessReport struct {
	Complete bool                `json:"complete"`
	Images   []ImageCompleteness `json:"images"`
	Missing  []string            `json:"missing"`
}

// Completeness reports whether every manifest and blob the references (tags or manifest/index
// digests) need is stored.
func (s *Store) Completeness(references []string) (*CompletenessReport, error) {
	refs, _ := json.Marshal(nonNil(references))
	var rep CompletenessReport
	err := s.jsonCall(&rep, func(p *C.dr_store, o **C.char, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_completeness(p, a[0], o, e)
	}, string(refs))
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

func (s *Store) newWriter(open func(p *C.dr_store, out **C.dr_writer, cerr **C.dr_error) error) (*Writer, error) {
	var w *C.dr_writer
	err := s.use(func(p *C.dr_store) error {
		var cerr *C.dr_error
		return open(p, &w, &cerr)
	})
	if err != nil {
		return nil, err
	}
	wr := &Writer{ptr: w}
	wr.cleanup = runtime.AddCleanup(wr, func(p *C.dr_writer) {
		C.dr_writer_free(p)
		cleanupsRun.Add(1)
	}, w)
	return wr, nil
}

// Write appends b to the blob.
func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return 0, ErrClosed
	}
	var cerr *C.dr_error
	st := C.dr_writer_write(w.ptr, bytesPtr(b), C.size_t(len(b)), &cerr)
	runtime.KeepAlive(b)
	if err := takeError(st, cerr); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Written is the number of bytes written so far.
func (w *Writer) Written() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return 0
	}
	return uint64(C.dr_writer_written(w.ptr))
}

// Commit verifies and publishes the blob. expected may be "", expectedSize < 0 is unchecked.
// Created is false when another writer stored the blob first. After Commit only Close is useful.
func (w *Writer) Commit(expected string, expectedSize int64) (PutOutcome, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out PutOutcome
	if w.ptr == nil {
		return out, ErrClosed
	}
	e, err := optCstr(expected)
	if err != nil {
		return out, err
	}
	defer freeC(e)
	var res *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_writer_commit(w.ptr, e, C.int64_t(expectedSize), &res, &cerr), cerr); err != nil {
		return out, err
	}
	return out, json.Unmarshal([]byte(takeString(res)), &out)
}

// UploadID is the id of an upload (ErrInvalidUpload for a plain writer).
func (w *Writer) UploadID() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return "", ErrClosed
	}
	var out *C.char
	var cerr *C.dr_error
	if err := takeError(C.dr_writer_upload_id(w.ptr, &out, &cerr), cerr); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// Save persists an upload's data and hash state (ErrInvalidUpload for a plain writer).
func (w *Writer) Save() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return ErrClosed
	}
	var cerr *C.dr_error
	return takeError(C.dr_writer_save(w.ptr, &cerr), cerr)
}

// Abort discards the writer's data, an upload's too.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr == nil {
		return ErrClosed
	}
	var cerr *C.dr_error
	return takeError(C.dr_writer_abort(w.ptr, &cerr), cerr)
}

// Close frees the writer: an uncommitted plain writer's data is discarded, an upload stays
// resumable. It is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr != nil {
		w.cleanup.Stop()
		C.dr_writer_free(w.ptr)
		w.ptr = nil
	}
	return nil
}

// Get reads a whole blob, of any size, in one library call (the core's ranged read fills the
// buffer; no library buffer is involved).
func (s *Store) Get(digest string) ([]byte, error) {
	r, err := s.OpenBlob(digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	size := r.Size()
	if size < 0 || uint64(size) > uint64(math.MaxInt) {
		return nil, &Error{Status: StatusIO, Message: fmt.Sprintf("blob of %d bytes does not fit in memory; use OpenBlob", size)}
	}
	out := make([]byte, size)
	n, err := r.ReadAt(out, 0)
	if err == io.EOF && int64(n) < size {
		return nil, &Error{Status: StatusIO, Message: fmt.Sprintf("blob ended after %d of %d bytes", n, size)}
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	return out, nil
}

// ReadRange reads up to length bytes of a blob from offset: fewer at the blob's end, none past
// it (ErrNotFound if the blob is not stored).
func (s *Store) ReadRange(digest string, offset, length uint64) ([]byte, error) {
	var data *C.uint8_t
	var n C.size_t
	err := s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_read_range(p, a[0], C.uint64_t(offset), C.uint64_t(length), &data, &n, e)
	}, digest)
	if err != nil {
		return nil, err
	}
	return takeBytes(data, n), nil
}

// BlobReader reads one stored blob: io.Reader, io.ReaderAt and io.Closer. Used by one goroutine
// at a time (ReadAt may be called concurrently with itself).
type BlobReader struct {
	mu      sync.Mutex
	ptr     *C.dr_reader
	size    int64
	cleanup runtime.Cleanup
}

var (
	_ io.ReadCloser = (*BlobReader)(nil)
	_ io.ReaderAt   = (*BlobReader)(nil)
)

// OpenBlob opens a blob for reading.
func (s *Store) OpenBlob(digest string) (*BlobReader, error) {
	var r *C.dr_reader
	err := s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_open_blob(p, a[0], &r, e)
	}, digest)
	if err != nil {
		return nil, err
	}
	br := &BlobReader{ptr: r, size: int64(C.dr_reader_size(r))}
	br.cleanup = runtime.AddCleanup(br, func(p *C.dr_reader) {
		C.dr_reader_free(p)
		cleanupsRun.Add(1)
	}, r)
	return br, nil
}

// Size is the blob's size.
func (r *BlobReader) Size() int64 { return r.size }

// Read reads the next bytes; io.EOF at the end.
func (r *BlobReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == nil {
		return 0, ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	var n C.size_t
	var cerr *C.dr_error
	st := C.dr_reader_read(r.ptr, bytesPtr(b), C.size_t(len(b)), &n, &cerr)
	runtime.KeepAlive(b)
	if err := takeError(st, cerr); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

// ReadAt reads len(b) bytes at off; fewer only at the end, with io.EOF.
func (r *BlobReader) ReadAt(b []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == nil {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, &Error{Status: StatusInvalidArgument, Message: "negative offset"}
	}
	var n C.size_t
	var cerr *C.dr_error
	st := C.dr_reader_read_at(r.ptr, C.uint64_t(off), bytesPtr(b), C.size_t(len(b)), &n, &cerr)
	runtime.KeepAlive(b)
	if err := takeError(st, cerr); err != nil {
		return 0, err
	}
	if int(n) < len(b) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Close frees the reader. It is idempotent.
func (r *BlobReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		r.cleanup.Stop()
		C.dr_reader_free(r.ptr)
		r.ptr = nil
	}
	return nil
}

// BlobStat describes a stored blob.
type BlobStat struct {
	Digest     string `json:"digest"`
	Size       uint64 `json:"size"`
	LastUsedMs uint64 `json:"lastUsedMs"`
	CreatedMs  uint64 `json:"createdMs"`
}

// Stat describes a stored blob (ErrNotFound if it is not stored).
func (s *Store) Stat(digest string) (*BlobStat, error) {
	var st BlobStat
	if err := s.jsonCall(&st, func(p *C.dr_store, out **C.char, cerr **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_stat(p, a[0], out, cerr)
	}, digest); err != nil {
		return nil, err
	}
	return &st, nil
}

// call runs a library call that returns only a status, with its string arguments converted
// (and freed after the call).
func (s *Store) call(call func(p *C.dr_store, cerr **C.dr_error, args []*C.char) C.dr_status, args ...string) error {
	return s.use(func(p *C.dr_store) error {
		cargs, free, err := cstrs(args...)
		if err != nil {
			return err
		}
		defer free()
		var cerr *C.dr_error
		return takeError(call(p, &cerr, cargs), cerr)
	})
}

// jsonCall runs a call taking string arguments and returning a JSON document into v.
func (s *Store) jsonCall(v any, call func(p *C.dr_store, out **C.char, cerr **C.dr_error, args []*C.char) C.dr_status, args ...string) error {
	return s.use(func(p *C.dr_store) error {
		cargs, free, err := cstrs(args...)
		if err != nil {
			return err
		}
		defer free()
		var out *C.char
		var cerr *C.dr_error
		if err := takeError(call(p, &out, &cerr, cargs), cerr); err != nil {
			return err
		}
		if v == nil {
			takeString(out)
			return nil
		}
		return json.Unmarshal([]byte(takeString(out)), v)
	})
}

// Has reports whether a blob is stored.
func (s *Store) Has(digest string) (bool, error) {
	var present C.bool
	err := s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_has(p, a[0], &present, e)
	}, digest)
	return bool(present), err
}

// Delete removes a blob (ErrNotFound if it is not stored).
func (s *Store) Delete(digest string) error {
	return s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_delete(p, a[0], e)
	}, digest)
}

// List returns every stored blob's digest, sorted.
func (s *Store) List() ([]string, error) {
	var out []string
	err := s.jsonCall(&out, func(p *C.dr_store, o **C.char, e **C.dr_error, _ []*C.char) C.dr_status {
		return C.dr_store_list(p, o, e)
	})
	return out, err
}

// Tag points tag at a stored manifest or index.
func (s *Store) Tag(tag, digest string) error {
	return s.use(func(p *C.dr_store) error {
		args, free, err := cstrs(tag, digest)
		if err != nil {
			return err
		}
		defer free()
		var cerr *C.dr_error
		return takeError(C.dr_store_tag(p, args[0], args[1], &cerr), cerr)
	})
}

// Untag removes a tag (ErrNotFound if it does not exist).
func (s *Store) Untag(tag string) error {
	return s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_untag(p, a[0], e)
	}, tag)
}

// TagEntry is a tag in index.json.
type TagEntry struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	Size      uint64 `json:"size"`
	MediaType string `json:"mediaType"`
	// Repository is the repository the tag is in ("" for the root repository).
	Repository string `json:"repository,omitempty"`
}

// Tags lists the tags.
func (s *Store) Tags() ([]TagEntry, error) {
	var out []TagEntry
	err := s.jsonCall(&out, func(p *C.dr_store, o **C.char, e **C.dr_error, _ []*C.char) C.dr_status {
		return C.dr_store_tags(p, o, e)
	})
	return out, err
}

// Resolve returns the digest a tag points at.
func (s *Store) Resolve(tag string) (string, error) {
	var res *C.char
	err := s.call(func(p *C.dr_store, e **C.dr_error, a []*C.char) C.dr_status {
		return C.dr_store_resolve(p, a[0], &res, e)
	}, tag)
	if err != nil {
		return "", err
	}
	return takeString(res), nil
}

// longCall runs a long operation with options JSON, a progress handle and a JSON report.
func (s *Store) longCall(ctx context.Context, progress ProgressFunc, opts any, report any,
	call func(p *C.dr_store, args []*C.char, cb C.dr_progress_fn, ud unsafe.Pointer, out **C.char, cerr **C.dr_error) C.dr_status,
	args ...string) error {
	if ctx != nil && ctx.Err() != nil {
		return &Error{Status: StatusCancelled, Message: "context ended before the operation started", cause: ctx.Err()}
	}
	o, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	handle, st, release := newProgress(ctx, progress)
	defer release()
	err = s.use(func(p *C.dr_store) error {
		cargs, free, err := cstrs(append(args, string(o))...)
		if err != nil {
			return err
		}
		defer free()
		var out *C.char
		var cerr *C.dr_error
		status := call(p, cargs, C.dr_go_cb(handle), C.dr_go_ud(handle), &out, &cerr)
		if err := takeError(status, cerr); err != nil {
			return err
		}
		return json.Unmarshal([]byte(takeString(out)), report)
	})
	return st.finish(err)
}

// ScrubOptions say how to scrub.
type ScrubOptions struct {
	// NoQuarantine leaves corrupt and foreign files in place instead of moving them aside.
	NoQuarantine bool
	// Threads hashing (0: every core).
	Threads int
}

// scrubOptionsWire is ScrubOptions as the library reads them.
type scrubOptionsWire struct {
	Quarantine bool `json:"quarantine"`
	Threads    *int `json:"threads,omitempty"`
}

// CorruptBlob is a stored blob whose content does not match its digest.
type CorruptBlob struct {
	Digest        string  `json:"digest"`
	Actual        *string `json:"actual"`
	Reason        string  `json:"reason"`
	QuarantinedTo *string `json:"quarantinedTo"`
}

// ForeignFile is a file under blobs/ that is not a blob.
type ForeignFile struct {
	Path          string  `json:"path"`
	Reason        string  `json:"reason"`
	QuarantinedTo *string `json:"quarantinedTo"`
}

// ScrubReport is the result of Scrub (the core's ScrubView).
type ScrubReport struct {
	Checked        uint64        `json:"checked"`
	Bytes          uint64        `json:"bytes"`
	Corrupt        []CorruptBlob `json:"corrupt"`
	Foreign        []ForeignFile `json:"foreign"`
	LayoutProblems []string      `json:"layoutProblems"`
	// Clean is the core's verdict: nothing is wrong.
	Clean bool `json:"clean"`
}

// Scrub re-hashes every blob. ctx and progress (may be nil) can cancel it.
func (s *Store) Scrub(ctx context.Context, opts ScrubOptions, progress ProgressFunc) (*ScrubReport, error) {
	o := scrubOptionsWire{Quarantine: !opts.NoQuarantine}
	if opts.Threads > 0 {
		o.Threads = &opts.Threads
	}
	var rep ScrubReport
	err := s.longCall(ctx, progress, o, &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_scrub(p, a[0], cb, u, out, e)
	})
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// GCOptions say how to collect.
type GCOptions struct {
	// GraceSeconds keeps blobs used more recently; nil uses the store's grace period.
	GraceSeconds *uint64 `json:"graceSeconds,omitempty"`
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool `json:"dryRun"`
}

// GCReport is the result of GC.
type GCReport struct {
	DryRun       bool     `json:"dryRun"`
	Examined     uint64   `json:"examined"`
	Reachable    uint64   `json:"reachable"`
	Young        uint64   `json:"young"`
	Deleted      []string `json:"deleted"`
	DeletedBytes uint64   `json:"deletedBytes"`
	Missing      []string `json:"missing"`
	// Forgotten are untagged index.json entries removed because their manifest was collected.
	Forgotten []string `json:"forgotten"`
}

// GC deletes blobs unreachable from index.json and leases and older than the grace period.
func (s *Store) GC(ctx context.Context, opts GCOptions, progress ProgressFunc) (*GCReport, error) {
	var rep GCReport
	err := s.longCall(ctx, progress, opts, &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_gc(p, a[0], cb, u, out, e)
	})
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// ImportOptions say how to import.
type ImportOptions struct {
	// AllowIncomplete accepts a bundle whose images lack blobs the store does not have either.
	AllowIncomplete bool
}

// importOptionsWire is ImportOptions as the library reads them.
type importOptionsWire struct {
	RequireComplete bool `json:"requireComplete"`
}

// ImportReport is the result of Import.
type ImportReport struct {
	BlobsAdded   uint64   `json:"blobsAdded"`
	BlobsPresent uint64   `json:"blobsPresent"`
	BytesAdded   uint64   `json:"bytesAdded"`
	Tags         []string `json:"tags"`
	Untagged     uint64   `json:"untagged"`
	Ignored      []string `json:"ignored"`
}

// Import imports an OCI image layout bundle from path: a folder, a tar or a tar.gz. A refused
// or cancelled import leaves the store unchanged.
func (s *Store) Import(ctx context.Context, path string, opts ImportOptions, progress ProgressFunc) (*ImportReport, error) {
	var rep ImportReport
	o := importOptionsWire{RequireComplete: !opts.AllowIncomplete}
	err := s.longCall(ctx, progress, o, &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_import(p, a[0], a[1], cb, u, out, e)
	}, path)
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// ExportOptions say what to export and how.
type ExportOptions struct {
	// Tags to export; empty means every tag.
	Tags []string `json:"tags"`
	// Tar writes a tar file instead of a folder; Gzip compresses it.
	Tar  bool `json:"tar"`
	Gzip bool `json:"gzip"`
	// Overwrite replaces an existing tar file; without it an existing file is refused
	// (ErrAlreadyExists) before anything is written. A folder target must be new or empty.
	Overwrite bool `json:"overwrite"`
}

// ExportReport is the result of Export.
type ExportReport struct {
	Tags  []string `json:"tags"`
	Blobs uint64   `json:"blobs"`
	Bytes uint64   `json:"bytes"`
}

// Export writes tags and their content to dest as an OCI image layout (a folder, or a tar file
// written atomically: dest is never left half-written).
func (s *Store) Export(ctx context.Context, dest string, opts ExportOptions, progress ProgressFunc) (*ExportReport, error) {
	if opts.Tags == nil {
		opts.Tags = []string{}
	}
	var rep ExportReport
	err := s.longCall(ctx, progress, opts, &rep, func(p *C.dr_store, a []*C.char, cb C.dr_progress_fn, u unsafe.Pointer, out **C.char, e **C.dr_error) C.dr_status {
		return C.dr_store_export(p, a[0], a[1], cb, u, out, e)
	}, dest)
	if err != nil {
		return nil, err
	}
	return &rep, nil
}
