//! The blob store: `dr_store` (thread-safe, may be shared by threads), `dr_writer` (streaming
//! put) and `dr_reader` (streaming and ranged reads); the last two are used by one thread at a time.

use std::ffi::{c_char, c_void};
use std::path::Path;

use registry_core::store::{
    Algorithm, BlobReader, BlobWriter, Digest, GcOptions, ImportOptions, ScrubOptions, Store,
    StoreOptions, UploadId, WithProgress,
};
use registry_core::wire::{self, ExportRequest, ScrubView};

use crate::ffi::{
    Callback, Handle, Json, MaybeSize, Mut, Opts, Ref, bytes, entry, free, handle, json, peek, text,
};
use crate::{Fail, dr_error, dr_progress_fn, dr_status};

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

/// Opens (creating if missing or empty) the store rooted at `root`. `options_json` may be
/// NULL: the core's StoreOptions, `{"durability": "durable"|"relaxed", "quota": bytes|null,
/// "gcGraceSeconds": 3600, "uploadTtlSeconds": 604800, "trackUse": true}`, any subset. Free
/// with `dr_store_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_open(
    root: *const c_char,
    options_json: *const c_char,
    out: *mut *mut dr_store,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; root => root: &str; options_json => options: Opts<StoreOptions>; -> out; {
        Ok(handle::<dr_store>(Store::open_with(root, options.0)?))
    })
}

/// Closes a store handle. NULL is a no-op; call it at most once. Writers and readers opened from
/// it stay usable.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_free(store: *mut dr_store) {
    free(store);
}

/// Stores `len` bytes at `data`. With `expected_digest` (may be NULL) the content must hash
/// to it (`DR_STATUS_DIGEST_MISMATCH` otherwise, nothing stored). `*outcome_json` receives
/// the PutOutcome `{"digest": "sha256:…", "size": n, "created": bool}` (`created` false:
/// already stored).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_put(
    store: *const dr_store,
    data: *const u8,
    len: usize,
    expected_digest: *const c_char,
    outcome_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        data + len => data: &[u8];
        expected_digest => expected: Option<Digest>;
        -> outcome_json;
        {
            json(&store.put_bytes(data, expected.as_ref())?)
        }
    )
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
    entry!(err; store => store: Ref<dr_store>; algorithm => algorithm: Algorithm; -> out; {
        Ok(handle::<dr_writer>(Some(store.writer(algorithm)?)))
    })
}

/// The writer of a handle that is neither committed nor aborted.
fn live(slot: &mut Option<BlobWriter>) -> Result<&mut BlobWriter, Fail> {
    slot.as_mut().ok_or_else(finished)
}

fn finished() -> Fail {
    Fail::new(
        dr_status::InvalidState,
        "the writer was already committed or aborted",
    )
}

/// Appends `len` bytes at `data` to the blob.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_write(
    writer: *mut dr_writer,
    data: *const u8,
    len: usize,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; writer => writer: Mut<dr_writer>; data + len => data: &[u8]; {
        Ok(live(&mut writer)?.write_bytes(data)?)
    })
}

/// The number of bytes written so far (0 for NULL or a finished writer).
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_written(writer: *const dr_writer) -> u64 {
    peek(writer, 0, |w| w.as_ref().map_or(0, BlobWriter::written))
}

/// Verifies and publishes the blob. `expected_digest` may be NULL; `expected_size` < 0
/// means "not checked". `*outcome_json` receives `{"digest", "size", "created"}` (`created`
/// false: another writer stored it first). After this call (success or not) the writer only
/// accepts `dr_writer_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_commit(
    writer: *mut dr_writer,
    expected_digest: *const c_char,
    expected_size: i64,
    outcome_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        writer => writer: Mut<dr_writer>;
        expected_digest => expected: Option<Digest>;
        expected_size => size: MaybeSize;
        -> outcome_json;
        {
            let w = writer.take().ok_or_else(finished)?;
            json(&w.commit(expected.as_ref(), size.0)?)
        }
    )
}

/// Frees a writer. An uncommitted plain writer's data is discarded; an upload from
/// `dr_store_begin_upload` stays resumable (its state is saved). NULL is a no-op; call it at most
/// once.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_free(writer: *mut dr_writer) {
    free(writer);
}

/// Discards the writer's data (an upload too); afterwards the writer only accepts
/// `dr_writer_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_abort(writer: *mut dr_writer, err: *mut *mut dr_error) -> dr_status {
    entry!(err; writer => writer: Mut<dr_writer>; {
        writer.take().ok_or_else(finished)?.abort();
        Ok(())
    })
}

/// Saves an upload's data and hash state so it can be resumed (also by another process).
/// `DR_STATUS_INVALID_UPLOAD` for a plain writer.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_save(writer: *mut dr_writer, err: *mut *mut dr_error) -> dr_status {
    entry!(err; writer => writer: Mut<dr_writer>; { Ok(live(&mut writer)?.save()?) })
}

/// `*upload_id` receives the upload's id (for `dr_store_resume_upload`);
/// `DR_STATUS_INVALID_UPLOAD` for a plain writer.
#[unsafe(no_mangle)]
pub extern "C" fn dr_writer_upload_id(
    writer: *const dr_writer,
    upload_id: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; writer => writer: Ref<dr_writer>; -> upload_id; {
        let w = writer.as_ref().ok_or_else(finished)?;
        let id = w.upload_id().ok_or_else(|| {
            Fail::new(
                dr_status::InvalidUpload,
                "not a resumable upload (use dr_store_begin_upload)",
            )
        })?;
        Ok(text(id.as_str().to_owned()))
    })
}

/// Starts a resumable upload hashed with `algorithm` (NULL: sha256): a writer whose data
/// survives `dr_writer_free` and process restarts; get its id with `dr_writer_upload_id`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_begin_upload(
    store: *const dr_store,
    algorithm: *const c_char,
    out: *mut *mut dr_writer,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; algorithm => algorithm: Algorithm; -> out; {
        Ok(handle::<dr_writer>(Some(store.begin_upload(algorithm)?)))
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
    entry!(err; store => store: Ref<dr_store>; upload_id => id: UploadId; -> out; {
        Ok(handle::<dr_writer>(Some(store.resume_upload(&id)?)))
    })
}

/// Removes an upload and its data.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_abort_upload(
    store: *const dr_store,
    upload_id: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; upload_id => id: UploadId; {
        Ok(store.abort_upload(&id)?)
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
    entry!(err; store => store: Ref<dr_store>; -> uploads_json; { json(&store.uploads()?) })
}

/// Whether every manifest and blob that `references_json` (a JSON array of tags or
/// manifest/index digests) needs is stored. `*report_json` receives `{"complete", "images":
/// [{"reference", "digest", "complete", "missing", "problems", "blobs", "bytes"}],
/// "missing"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_completeness(
    store: *const dr_store,
    references_json: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        references_json => references: Json<Vec<String>>;
        -> report_json;
        {
            json(&store.completeness(&references.0)?)
        }
    )
}

/// Reads a whole blob: `*data`/`*len` receive a library buffer, freed with
/// `dr_bytes_free(data, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_get(
    store: *const dr_store,
    digest: *const c_char,
    data: *mut *mut u8,
    len: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; -> data, len; {
        Ok(bytes(store.read(&digest)?))
    })
}

/// Reads up to `length` bytes of a blob from `offset` (fewer at the blob's end, none past
/// it): `*data`/`*len` receive a library buffer, freed with `dr_bytes_free(data, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_read_range(
    store: *const dr_store,
    digest: *const c_char,
    offset: u64,
    length: u64,
    data: *mut *mut u8,
    len: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        digest => digest: Digest;
        offset => offset: u64;
        length => length: u64;
        -> data, len;
        {
            Ok(bytes(wire::read_range(&store, &digest, offset, length)?))
        }
    )
}

/// Opens a blob for reading. Free the reader with `dr_reader_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_open_blob(
    store: *const dr_store,
    digest: *const c_char,
    out: *mut *mut dr_reader,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; -> out; {
        Ok(handle::<dr_reader>(store.open_blob(&digest)?))
    })
}

/// The blob's size (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_size(reader: *const dr_reader) -> u64 {
    peek(reader, 0, BlobReader::size)
}

fn read_failed(r: &BlobReader, e: &std::io::Error) -> Fail {
    Fail::new(dr_status::Io, format!("reading blob {}: {e}", r.digest()))
}

/// Reads up to `len` bytes at the reader's position into `buf`; `*n` receives the count (0
/// at the end of the blob).
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_read(
    reader: *mut dr_reader,
    buf: *mut u8,
    len: usize,
    n: *mut usize,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; reader => reader: Mut<dr_reader>; buf + len => buf: &mut [u8]; -> n; {
        std::io::Read::read(&mut *reader, buf).map_err(|e| read_failed(&reader, &e))
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
    entry!(err;
        reader => reader: Ref<dr_reader>;
        offset => offset: u64;
        buf + len => buf: &mut [u8];
        -> n;
        {
            reader
                .read_full_at(buf, offset)
                .map_err(|e| read_failed(&reader, &e))
        }
    )
}

/// Frees a reader. NULL is a no-op; call it at most once.
#[unsafe(no_mangle)]
pub extern "C" fn dr_reader_free(reader: *mut dr_reader) {
    free(reader);
}

/// `*stat_json` receives `{"digest", "size", "lastUsedMs", "createdMs"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_stat(
    store: *const dr_store,
    digest: *const c_char,
    stat_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; -> stat_json; {
        json(&store.stat(&digest)?)
    })
}

/// `*present` receives whether the blob is stored.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_has(
    store: *const dr_store,
    digest: *const c_char,
    present: *mut bool,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; -> present; {
        Ok(store.has(&digest)?)
    })
}

/// Deletes a blob (`DR_STATUS_NOT_FOUND` if it is not stored).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_delete(
    store: *const dr_store,
    digest: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; {
        Ok(store.delete(&digest)?)
    })
}

/// `*digests_json` receives every stored blob as a sorted JSON array of digest strings.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_list(
    store: *const dr_store,
    digests_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; -> digests_json; {
        let mut list = store.list()?;
        list.sort();
        json(&list)
    })
}

/// Points `tag` at the stored manifest or index `digest` in `index.json`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_tag(
    store: *const dr_store,
    tag: *const c_char,
    digest: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; tag => tag: &str; digest => digest: Digest; {
        Ok(store.tag(tag, &digest)?)
    })
}

/// Removes a tag (`DR_STATUS_NOT_FOUND` if it does not exist).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_untag(
    store: *const dr_store,
    tag: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; tag => tag: &str; { Ok(store.untag(tag)?) })
}

/// `*tags_json` receives the tags: `[{"name", "digest", "size", "mediaType"}]`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_tags(
    store: *const dr_store,
    tags_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; -> tags_json; { json(&store.tags()?) })
}

/// `*digest_out` receives the digest `tag` points at (`DR_STATUS_NOT_FOUND` if none).
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_resolve(
    store: *const dr_store,
    tag: *const c_char,
    digest_out: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; tag => tag: &str; -> digest_out; {
        Ok(text(store.resolve(tag)?.to_string()))
    })
}

/// Re-hashes every blob (scrub). `options_json` may be NULL: `{"quarantine": true,
/// "threads": null}`, any subset. `*report_json` receives the core's ScrubView:
/// `{"checked", "bytes", "corrupt": [...], "foreign": [...], "layoutProblems": [...],
/// "clean": bool}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_scrub(
    store: *const dr_store,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        options_json => options: Opts<ScrubOptions>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            let report = progress.run(|p| store.scrub(WithProgress::new(options.0, p)))?;
            json(&ScrubView::from(report))
        }
    )
}

/// Collects blobs unreachable from `index.json` and leases. `options_json` may be NULL:
/// `{"graceSeconds": whole seconds (absent: the store's), "dryRun": false}`, any subset.
/// `*report_json` receives `{"dryRun", "examined", "reachable", "young", "deleted",
/// "deletedBytes", "missing"}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_gc(
    store: *const dr_store,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        options_json => options: Opts<GcOptions>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            json(&progress.run(|p| store.gc(WithProgress::new(options.0, p)))?)
        }
    )
}

/// Imports an OCI image layout from `path`: a folder, or a tar / tar.gz file.
/// `options_json` may be NULL: `{"requireComplete": true}`. `*report_json` receives
/// `{"blobsAdded", "blobsPresent", "bytesAdded", "tags", "untagged", "ignored"}`. `progress`
/// may be NULL.
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
    entry!(err;
        store => store: Ref<dr_store>;
        path => path: &Path;
        options_json => options: Opts<ImportOptions>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            json(&progress.run(|p| store.import_path(path, WithProgress::new(options.0, p)))?)
        }
    )
}

/// Exports tags to `dest` as an OCI image layout (the core's `wire::export`): a new or empty
/// folder, or (when `options_json` has `"tar": true`) a tar file, gzip-compressed with
/// `"gzip": true`, written atomically. An existing tar file is refused
/// (`DR_STATUS_ALREADY_EXISTS`) unless `"overwrite": true`. `options_json` may be NULL:
/// `{"tags": [] (every tag), "tar": false, "gzip": false, "overwrite": false}`, any subset.
/// `*report_json` receives `{"tags", "blobs", "bytes"}`. `progress` may be NULL.
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
    entry!(err;
        store => store: Ref<dr_store>;
        dest => dest: &Path;
        options_json => options: Opts<ExportRequest>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            json(&progress.run(|p| wire::export(&store, dest, &options.0, p))?)
        }
    )
}
