//! The blob store: `dr_store` (thread-safe, may be shared by threads), `dr_writer` (streaming
//! put) and `dr_reader` (streaming and ranged reads); the last two are used by one thread at a time.

use std::ffi::{CString, c_char, c_int, c_void};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use registry_core::store::{
    Algorithm, BlobReader, BlobWriter, Digest, Durability, ExportOptions, GcOptions, ImportOptions,
    Progress, ScrubOptions, Store, StoreError, StoreOptions, UploadId, WithProgress,
};
use serde::{Deserialize, Serialize};

use crate::{
    Fail, Handle, arg_bytes, arg_str, boundary, dr_error, dr_status, free_handle, guard,
    handle_mut, handle_ref, into_handle, opt_str, options, out_ptr, put, put_bytes, put_string,
    to_json,
};

/// A blob store opened on a folder. Thread-safe: one handle may be used by several threads.
pub struct dr_store {
    _private: [u8; 0],
}

/// A streaming blob writer. Used by one thread at a time.
pub struct dr_writer {
    _private: [u8; 0],
}

/// A reader over one stored blob. Used by one thread at a time.
pub struct dr_reader {
    _private: [u8; 0],
}

impl Handle for dr_store {
    type Inner = Store;
}

impl Handle for dr_writer {
    type Inner = Option<BlobWriter>;
}

impl Handle for dr_reader {
    type Inner = BlobReader;
}

/// A progress callback: receives a JSON event `{"operation": "import", "bytesDone",
/// "bytesTotal", "itemsDone", "itemsTotal", "current"}` (borrowed for the call) and the
/// `user_data` given with it; returning nonzero cancels the operation (`DR_STATUS_CANCELLED`,
/// the store is left without the operation's partial effects).
pub type dr_progress_fn =
    Option<unsafe extern "C" fn(progress_json: *const c_char, user_data: *mut c_void) -> c_int>;

/// Store options as JSON: every field optional.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenOptions {
    /// `"durable"` (default) or `"relaxed"`.
    durability: String,
    quota: Option<u64>,
    gc_grace_seconds: u64,
    upload_ttl_seconds: u64,
    track_use: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        let d = StoreOptions::default();
        OpenOptions {
            durability: "durable".into(),
            quota: d.quota,
            gc_grace_seconds: d.gc_grace.as_secs(),
            upload_ttl_seconds: d.upload_ttl.as_secs(),
            track_use: d.track_use,
        }
    }
}

impl OpenOptions {
    fn to_core(&self) -> Result<StoreOptions, Fail> {
        let durability = match self.durability.as_str() {
            "durable" => Durability::Durable,
            "relaxed" => Durability::Relaxed,
            _ => {
                return Err(Fail::arg(
                    "store options: durability must be \"durable\" or \"relaxed\"",
                ));
            }
        };
        Ok(StoreOptions {
            durability,
            quota: self.quota,
            gc_grace: Duration::from_secs(self.gc_grace_seconds),
            upload_ttl: Duration::from_secs(self.upload_ttl_seconds),
            track_use: self.track_use,
            ..StoreOptions::default()
        })
    }
}

fn digest(p: *const c_char, name: &str) -> Result<Digest, Fail> {
    // SAFETY: NUL-terminated string per the API contract.
    let s = unsafe { arg_str(p, name) }?;
    Ok(Digest::parse(s).map_err(StoreError::from)?)
}

fn opt_digest(p: *const c_char, name: &str) -> Result<Option<Digest>, Fail> {
    // SAFETY: NUL-terminated string or NULL per the API contract.
    let s = unsafe { opt_str(p, name) }?;
    Ok(s.map(Digest::parse).transpose().map_err(StoreError::from)?)
}

/// # Safety
/// `store` is NULL or a live `dr_store`.
unsafe fn store_ref<'a>(store: *const dr_store) -> Result<&'a Store, Fail> {
    // SAFETY: forwarded from the caller.
    unsafe { handle_ref(store, "store") }
}

/// Runs `f` with a core progress callback that forwards to the C one (if any).
fn with_progress<T>(
    cb: dr_progress_fn,
    user_data: *mut c_void,
    f: impl FnOnce(Option<&mut dyn FnMut(&Progress) -> ControlFlow<()>>) -> Result<T, StoreError>,
) -> Result<T, Fail> {
    let Some(cb) = cb else {
        return Ok(f(None)?);
    };
    let mut forward = |p: &Progress| {
        let json = serde_json::to_string(p).unwrap_or_default();
        let json = CString::new(json).unwrap_or_default();
        // SAFETY: the caller gave a valid function pointer and the user_data it expects; the
        // event string lives until the callback returns.
        let stop = unsafe { cb(json.as_ptr(), user_data) };
        if stop != 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    Ok(f(Some(&mut forward))?)
}

/// Opens (creating if missing or empty) the store rooted at `root`. `options_json` may be NULL:
/// `{"durability": "durable"|"relaxed", "quota": bytes|null, "gcGraceSeconds": 3600,
/// "uploadTtlSeconds": 604800, "trackUse": true}`, any subset. Free with `dr_store_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_open(
    root: *const c_char,
    options_json: *const c_char,
    out: *mut *mut dr_store,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated strings (or NULL) per the API contract.
        let root = unsafe { arg_str(root, "root") }?;
        // SAFETY: as above.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(out, "out")?;
        let opts = options(opts, OpenOptions::default(), "store options")?.to_core()?;
        let store = Store::open_with(root, opts)?;
        put(out, into_handle::<dr_store>(store));
        Ok(())
    })
}

/// Closes a store handle. NULL is a no-op; call it at most once. Writers and readers opened from
/// it stay usable.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_free(store: *mut dr_store) {
    // SAFETY: NULL or a live handle, freed once, per the API contract.
    guard((), || unsafe { free_handle(store) })
}

/// Stores `len` bytes at `data`. With `expected_digest` (may be NULL) the content must hash to
/// it (`DR_STATUS_DIGEST_MISMATCH` otherwise, nothing stored). `*outcome_json` receives
/// `{"digest": "sha256:…", "size": n, "created": bool}` (`created` false: already stored).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_put(
    store: *const dr_store,
    data: *const u8,
    len: usize,
    expected_digest: *const c_char,
    outcome_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: `len` readable bytes at `data` (or NULL with 0) per the API contract.
        let data = unsafe { arg_bytes(data, len, "data") }?;
        let expected = opt_digest(expected_digest, "expected_digest")?;
        out_ptr(outcome_json, "outcome_json")?;
        let outcome = store.put_bytes(data, expected.as_ref())?;
        put_string(outcome_json, to_json(&outcome)?);
        Ok(())
    })
}

/// Starts a streaming put hashed with `algorithm` (`"sha256"` or `"sha512"`; NULL: sha256).
/// Write with `dr_writer_write`, finish with `dr_writer_commit`, and always `dr_writer_free`
/// (which discards an uncommitted blob of this kind of writer).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_writer(
    store: *const dr_store,
    algorithm: *const c_char,
    out: *mut *mut dr_writer,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: NUL-terminated string or NULL per the API contract.
        let alg = unsafe { opt_str(algorithm, "algorithm") }?;
        out_ptr(out, "out")?;
        let w = store.writer(algorithm_named(alg)?)?;
        put(out, into_handle::<dr_writer>(Some(w)));
        Ok(())
    })
}

fn algorithm_named(name: Option<&str>) -> Result<Algorithm, Fail> {
    match name {
        None => Ok(Algorithm::Sha256),
        Some(name) => Algorithm::from_name(name)
            .ok_or_else(|| Fail::arg("algorithm must be \"sha256\" or \"sha512\"")),
    }
}

fn live_writer<'a>(w: *mut dr_writer) -> Result<&'a mut Option<BlobWriter>, Fail> {
    // SAFETY: a live writer handle used by one thread at a time, per the API contract.
    unsafe { handle_mut(w, "writer") }
}

/// Appends `len` bytes at `data` to the blob.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_write(
    writer: *mut dr_writer,
    data: *const u8,
    len: usize,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        let w = live_writer(writer)?;
        // SAFETY: `len` readable bytes at `data` (or NULL with 0) per the API contract.
        let data = unsafe { arg_bytes(data, len, "data") }?;
        let w = w.as_mut().ok_or_else(|| {
            Fail::new(
                dr_status::InvalidState,
                "the writer was already committed or aborted",
            )
        })?;
        w.write_bytes(data)?;
        Ok(())
    })
}

/// The number of bytes written so far (0 for NULL or a finished writer).
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_written(writer: *const dr_writer) -> u64 {
    guard(0, || {
        // SAFETY: NULL or a live writer handle per the API contract.
        match unsafe { handle_ref(writer, "writer") } {
            Ok(Some(w)) => w.written(),
            _ => 0,
        }
    })
}

/// Verifies and publishes the blob. `expected_digest` may be NULL; `expected_size` < 0 means
/// "not checked". `*outcome_json` receives `{"digest", "size", "created"}` (`created` false:
/// another writer stored it first). After this call (success or not) the writer only accepts
/// `dr_writer_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_commit(
    writer: *mut dr_writer,
    expected_digest: *const c_char,
    expected_size: i64,
    outcome_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        let slot = live_writer(writer)?;
        let expected = opt_digest(expected_digest, "expected_digest")?;
        out_ptr(outcome_json, "outcome_json")?;
        let w = slot.take().ok_or_else(|| {
            Fail::new(
                dr_status::InvalidState,
                "the writer was already committed or aborted",
            )
        })?;
        let outcome = w.commit(expected.as_ref(), u64::try_from(expected_size).ok())?;
        put_string(outcome_json, to_json(&outcome)?);
        Ok(())
    })
}

/// Frees a writer. An uncommitted plain writer's data is discarded; an upload from
/// `dr_store_begin_upload` stays resumable (its state is saved). NULL is a no-op; call it at most
/// once.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_free(writer: *mut dr_writer) {
    // SAFETY: NULL or a live writer handle, freed once, per the API contract.
    guard((), || unsafe { free_handle(writer) })
}

/// Discards the writer's data (an upload too); afterwards the writer only accepts
/// `dr_writer_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_abort(writer: *mut dr_writer, err: *mut *mut dr_error) -> dr_status {
    boundary(err, || {
        let slot = live_writer(writer)?;
        let w = slot.take().ok_or_else(finished)?;
        w.abort();
        Ok(())
    })
}

/// Saves an upload's data and hash state so it can be resumed (also by another process).
/// `DR_STATUS_INVALID_UPLOAD` for a plain writer.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_save(writer: *mut dr_writer, err: *mut *mut dr_error) -> dr_status {
    boundary(err, || {
        let w = live_writer(writer)?.as_mut().ok_or_else(finished)?;
        w.save()?;
        Ok(())
    })
}

/// `*upload_id` receives the upload's id (for `dr_store_resume_upload`);
/// `DR_STATUS_INVALID_UPLOAD` for a plain writer.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_upload_id(
    writer: *const dr_writer,
    upload_id: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live writer handle per the API contract.
        let w = unsafe { handle_ref(writer, "writer") }?
            .as_ref()
            .ok_or_else(finished)?;
        out_ptr(upload_id, "upload_id")?;
        let id = w.upload_id().ok_or_else(|| {
            Fail::new(
                dr_status::InvalidUpload,
                "not a resumable upload (use dr_store_begin_upload)",
            )
        })?;
        put_string(upload_id, id.as_str().to_owned());
        Ok(())
    })
}

fn finished() -> Fail {
    Fail::new(
        dr_status::InvalidState,
        "the writer was already committed or aborted",
    )
}

/// Starts a resumable upload hashed with `algorithm` (NULL: sha256): a writer whose data survives
/// `dr_writer_free` and process restarts; get its id with `dr_writer_upload_id`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_begin_upload(
    store: *const dr_store,
    algorithm: *const c_char,
    out: *mut *mut dr_writer,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: NUL-terminated string or NULL per the API contract.
        let alg = unsafe { opt_str(algorithm, "algorithm") }?;
        out_ptr(out, "out")?;
        let w = store.begin_upload(algorithm_named(alg)?)?;
        put(out, into_handle::<dr_writer>(Some(w)));
        Ok(())
    })
}

/// Reopens an upload by id to write more and commit (`DR_STATUS_NOT_FOUND` if unknown,
/// `DR_STATUS_LOCKED` while another writer holds it).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_resume_upload(
    store: *const dr_store,
    upload_id: *const c_char,
    out: *mut *mut dr_writer,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let id = unsafe { arg_str(upload_id, "upload_id") }?;
        out_ptr(out, "out")?;
        let w = store.resume_upload(&UploadId::parse(id)?)?;
        put(out, into_handle::<dr_writer>(Some(w)));
        Ok(())
    })
}

/// Removes an upload and its data.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_abort_upload(
    store: *const dr_store,
    upload_id: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let id = unsafe { arg_str(upload_id, "upload_id") }?;
        store.abort_upload(&UploadId::parse(id)?)?;
        Ok(())
    })
}

/// `*uploads_json` receives the uploads in progress: `[{"id", "size", "startedMs",
/// "updatedMs", "active"}]`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_uploads(
    store: *const dr_store,
    uploads_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        out_ptr(uploads_json, "uploads_json")?;
        let uploads = store.uploads()?;
        put_string(uploads_json, to_json(&uploads)?);
        Ok(())
    })
}

/// Whether every manifest and blob that `references_json` (a JSON array of tags or
/// manifest/index digests) needs is stored. `*report_json` receives `{"complete", "images":
/// [{"reference", "digest", "complete", "missing", "problems", "blobs", "bytes"}], "missing"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_completeness(
    store: *const dr_store,
    references_json: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let refs = unsafe { arg_str(references_json, "references_json") }?;
        out_ptr(report_json, "report_json")?;
        let refs: Vec<String> = crate::from_json(refs, "references")?;
        let report = store.completeness(&refs)?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Reads a whole blob: `*data`/`*len` receive a library buffer, freed with `dr_bytes_free(data,
/// len)`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_get(
    store: *const dr_store,
    digest_str: *const c_char,
    data: *mut *mut u8,
    len: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        let d = digest(digest_str, "digest")?;
        out_ptr(data, "data")?;
        out_ptr(len, "len")?;
        let bytes = store.read(&d)?;
        put_bytes(data, len, bytes);
        Ok(())
    })
}

/// Opens a blob for reading. Free the reader with `dr_reader_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_open_blob(
    store: *const dr_store,
    digest_str: *const c_char,
    out: *mut *mut dr_reader,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        let d = digest(digest_str, "digest")?;
        out_ptr(out, "out")?;
        let r = store.open_blob(&d)?;
        put(out, into_handle::<dr_reader>(r));
        Ok(())
    })
}

/// The blob's size (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_size(reader: *const dr_reader) -> u64 {
    guard(0, || {
        // SAFETY: NULL or a live reader handle per the API contract.
        unsafe { handle_ref(reader, "reader") }.map_or(0, |r| r.size())
    })
}

/// Reads up to `len` bytes at the reader's position into `buf`; `*n` receives the count (0 at
/// the end of the blob).
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_read(
    reader: *mut dr_reader,
    buf: *mut u8,
    len: usize,
    n: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live reader handle used by one thread at a time, per the API contract.
        let r = unsafe { handle_mut(reader, "reader") }?;
        let buf = out_buf(buf, len)?;
        out_ptr(n, "n")?;
        let got = r
            .read(buf)
            .map_err(|e| Fail::new(dr_status::Io, format!("reading blob {}: {e}", r.digest())))?;
        put(n, got);
        Ok(())
    })
}

/// Reads up to `len` bytes starting at `offset` into `buf` without moving the position; `*n`
/// receives the count (less than `len` only at the end of the blob).
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_read_at(
    reader: *const dr_reader,
    offset: u64,
    buf: *mut u8,
    len: usize,
    n: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live reader handle per the API contract.
        let r = unsafe { handle_ref(reader, "reader") }?;
        let buf = out_buf(buf, len)?;
        out_ptr(n, "n")?;
        let mut done = 0;
        while done < buf.len() {
            let got = r
                .read_at(&mut buf[done..], offset + done as u64)
                .map_err(|e| {
                    Fail::new(dr_status::Io, format!("reading blob {}: {e}", r.digest()))
                })?;
            if got == 0 {
                break;
            }
            done += got;
        }
        put(n, done);
        Ok(())
    })
}

fn out_buf<'a>(buf: *mut u8, len: usize) -> Result<&'a mut [u8], Fail> {
    if buf.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(Fail::arg(format!("buf is NULL with length {len}")))
        };
    }
    // SAFETY: the caller guarantees `len` writable bytes at `buf` for the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf, len) })
}

/// Frees a reader. NULL is a no-op; call it at most once.
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_free(reader: *mut dr_reader) {
    // SAFETY: NULL or a live handle, freed once, per the API contract.
    guard((), || unsafe { free_handle(reader) })
}

/// `*stat_json` receives `{"digest", "size", "lastUsedMs", "createdMs"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_stat(
    store: *const dr_store,
    digest_str: *const c_char,
    stat_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        let d = digest(digest_str, "digest")?;
        out_ptr(stat_json, "stat_json")?;
        let stat = store.stat(&d)?;
        put_string(stat_json, to_json(&stat)?);
        Ok(())
    })
}

/// `*present` receives whether the blob is stored.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_has(
    store: *const dr_store,
    digest_str: *const c_char,
    present: *mut bool,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        let d = digest(digest_str, "digest")?;
        out_ptr(present, "present")?;
        let has = store.has(&d)?;
        put(present, has);
        Ok(())
    })
}

/// Deletes a blob (`DR_STATUS_NOT_FOUND` if it is not stored).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_delete(
    store: *const dr_store,
    digest_str: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        let d = digest(digest_str, "digest")?;
        store.delete(&d)?;
        Ok(())
    })
}

/// `*digests_json` receives every stored blob as a sorted JSON array of digest strings.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_list(
    store: *const dr_store,
    digests_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        out_ptr(digests_json, "digests_json")?;
        let mut list = store.list()?;
        list.sort();
        put_string(digests_json, to_json(&list)?);
        Ok(())
    })
}

/// Points `tag` at the stored manifest or index `digest` in `index.json`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_tag(
    store: *const dr_store,
    tag: *const c_char,
    digest_str: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and NUL-terminated strings per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        let d = digest(digest_str, "digest")?;
        store.tag(tag, &d)?;
        Ok(())
    })
}

/// Removes a tag (`DR_STATUS_NOT_FOUND` if it does not exist).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_untag(
    store: *const dr_store,
    tag: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        store.untag(tag)?;
        Ok(())
    })
}

/// `*tags_json` receives the tags: `[{"name", "digest", "size", "mediaType"}]`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_tags(
    store: *const dr_store,
    tags_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle per the API contract.
        let store = unsafe { store_ref(store) }?;
        out_ptr(tags_json, "tags_json")?;
        let tags = store.tags()?;
        put_string(tags_json, to_json(&tags)?);
        Ok(())
    })
}

/// `*digest_out` receives the digest `tag` points at (`DR_STATUS_NOT_FOUND` if none).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_resolve(
    store: *const dr_store,
    tag: *const c_char,
    digest_out: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let tag = unsafe { arg_str(tag, "tag") }?;
        out_ptr(digest_out, "digest_out")?;
        let d = store.resolve(tag)?;
        put_string(digest_out, d.to_string());
        Ok(())
    })
}

/// Re-hashes every blob (scrub). `options_json` may be NULL: `{"quarantine": true, "threads":
/// null}`. `*report_json` receives `{"checked", "bytes", "corrupt": [...], "foreign": [...],
/// "layoutProblems": [...]}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_verify(
    store: *const dr_store,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string or NULL per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(report_json, "report_json")?;
        let opts: ScrubOptions = options(opts, ScrubOptions::default(), "verify options")?;
        let report = with_progress(progress, user_data, |p| {
            store.scrub(WithProgress::new(opts.clone(), p))
        })?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Collects blobs unreachable from `index.json` and leases. `options_json` may be NULL:
/// `{"graceSeconds": whole seconds (absent: the store's), "dryRun": false}`. `*report_json`
/// receives `{"dryRun", "examined",
/// "reachable", "young", "deleted", "deletedBytes", "missing"}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_gc(
    store: *const dr_store,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and a NUL-terminated string or NULL per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(report_json, "report_json")?;
        let opts: GcOptions = options(opts, GcOptions::default(), "gc options")?;
        let report = with_progress(progress, user_data, |p| {
            store.gc(WithProgress::new(opts.clone(), p))
        })?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Imports an OCI image layout from `path`: a folder, or a tar / tar.gz file. `options_json`
/// may be NULL: `{"requireComplete": true}`. `*report_json` receives `{"blobsAdded",
/// "blobsPresent", "bytesAdded", "tags", "untagged", "ignored"}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_import(
    store: *const dr_store,
    path: *const c_char,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: a live store handle and NUL-terminated strings per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let path = unsafe { arg_str(path, "path") }?;
        // SAFETY: as above.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(report_json, "report_json")?;
        let opts: ImportOptions = options(opts, ImportOptions::default(), "import options")?;
        let report = with_progress(progress, user_data, |p| {
            store.import_path(Path::new(path), WithProgress::new(opts.clone(), p))
        })?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Exports tags to `dest` as an OCI image layout: a folder, or (when `options_json` has
/// `"tar": true`) a tar file, gzip-compressed with `"gzip": true`. `options_json` may be NULL:
/// `{"tags": [] (every tag), "tar": false, "gzip": false}`. `*report_json` receives `{"tags",
/// "blobs", "bytes"}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_export(
    store: *const dr_store,
    dest: *const c_char,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    #[derive(Default, Serialize, Deserialize)]
    struct Opts {
        tags: Vec<String>,
        gzip: bool,
        tar: bool,
    }
    boundary(err, || {
        // SAFETY: a live store handle and NUL-terminated strings per the API contract.
        let store = unsafe { store_ref(store) }?;
        // SAFETY: as above.
        let dest = unsafe { arg_str(dest, "dest") }?;
        // SAFETY: as above.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(report_json, "report_json")?;
        let opts: Opts = options(opts, Opts::default(), "export options")?;
        let core = ExportOptions {
            tags: opts.tags,
            gzip: opts.gzip,
        };
        let dest = Path::new(dest);
        let report = if opts.tar {
            let file = File::create(dest).map_err(|e| {
                Fail::new(dr_status::Io, format!("creating {}: {e}", dest.display()))
            })?;
            let mut out = BufWriter::new(file);
            let report = with_progress(progress, user_data, |p| {
                store.export_tar(&mut out, WithProgress::new(core.clone(), p))
            });
            let report = report.and_then(|r| {
                out.flush()
                    .and_then(|()| out.get_ref().sync_all())
                    .map_err(|e| {
                        Fail::new(dr_status::Io, format!("writing {}: {e}", dest.display()))
                    })?;
                Ok(r)
            });
            if report.is_err() {
                let _ = std::fs::remove_file(dest);
            }
            report?
        } else {
            with_progress(progress, user_data, |p| {
                store.export_dir(dest, WithProgress::new(core.clone(), p))
            })?
        };
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}
