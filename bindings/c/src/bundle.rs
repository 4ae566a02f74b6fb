//! `d8 mirror` image bundles and untagged manifests on a `dr_store`: importing (from a path or
//! from a stream the caller's read callback delivers) and exporting bundles, pinning an untagged manifest so GC keeps it, and removing a manifest's entries
//! (with its referrers) from `index.json`. Every rule is the core's; this file only converts.

use std::ffi::{c_char, c_void};
use std::path::Path;

use registry_core::store::{BundleExportOptions, BundleOptions, Digest, Repository, WithProgress};

use crate::ffi::{Callback, CallbackReader, Opts, ReadCallback, Ref, entry, json};
use crate::{dr_error, dr_progress_fn, dr_read_fn, dr_status, dr_store};

/// Imports a `d8 mirror pull` bundle from `path`: a folder of tars (`platform.tar`,
/// `module-<name>.tar`, `security.tar`, ...), one tar or tar.gz, one chunk of a
/// `<name>.tar.NNNN.chunk` set (the whole set is read), or a folder holding layouts. Every
/// layout at any depth goes to its repository. All layouts or none: a refused import
/// (`DR_STATUS_IMPORT_REFUSED`, e.g. a blob whose content does not match its digest, or a tag
/// that would move without `"overwriteTags": true`) leaves the store unchanged. `options_json`
/// may be NULL: `{"requireComplete": true, "overwriteTags": false, "maxExpansionRatio": 100,
/// "maxExpandedBytes": 1 TiB, "maxManifestBytes": 256 MiB}`, any subset. `*report_json`
/// receives `{"layouts": [{"source", "path", "repository", "images", "tags", "untagged",
/// "blobs", "bytes", "missing"}], "blobsAdded", "blobsPresent", "bytesAdded", "skipped":
/// [{"path", "reason"}], "moved": [{"reference", "from", "to"}]}`. `progress` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_import_bundle(
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
        options_json => options: Opts<BundleOptions>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            json(&progress.run(|p| store.import_bundle(path, WithProgress::new(options.0, p)))?)
        }
    )
}

/// Imports one bundle tar (plain or gzip, such as `platform.tar` or `module-<name>.tar`) from a
/// stream, read once, front to back, through the callback `stream` (see `dr_read_fn`; NULL is
/// `DR_STATUS_INVALID_ARGUMENT`) called with `stream_user_data`. `name` is the tar's file name
/// (`module-<name>.tar` marks a legacy module tar; it names the stream in reports and errors)
/// or NULL / `""` (reports then name it `<stream>`). Options, report, `progress` and `user_data` are those
/// of `dr_store_import_bundle`, and so is atomicity: every blob is staged as it arrives and
/// nothing is published before the whole stream checked out, so a refused, cancelled or failed
/// import leaves the store unchanged. A nonzero return of `stream` stops the import with
/// `DR_STATUS_IO` and a message naming the stream, the callback's code and the bytes read
/// before it; a callback claiming more bytes than `len` is `DR_STATUS_INVALID_ARGUMENT`. The
/// stream is read up to the end of the tar archive, not necessarily to its end.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_import_bundle_stream(
    store: *const dr_store,
    stream: dr_read_fn,
    stream_user_data: *mut c_void,
    name: *const c_char,
    options_json: *const c_char,
    progress: dr_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        stream + stream_user_data => stream: ReadCallback;
        name => name: Option<&str>;
        options_json => options: Opts<BundleOptions>;
        progress + user_data => progress: Callback;
        -> report_json;
        {
            let name = name.unwrap_or_default();
            let mut reader = CallbackReader::new(stream);
            let imported = progress.run(|p| {
                store.import_bundle_stream(&mut reader, name, WithProgress::new(options.0, p))
            });
            match imported {
                Ok(report) => json(&report),
                // The core saw only "read failed"; the caller's own code says more.
                Err(e) => Err(reader.fail(name).unwrap_or_else(|| e.into())),
            }
        }
    )
}

/// Exports repositories and tags as a `d8 mirror` bundle into the folder `dest` (created; an
/// existing folder must be empty, `DR_STATUS_INVALID_LAYOUT` otherwise). On failure what was
/// written is removed again. `options_json` may be NULL: `{"repositories": [] (all), "tags": []
/// (all; references `repository:tag`, or `tag` in the root), "referrers": false, "unpacked":
/// false}`, any subset. `*report_json` receives `{"files", "layouts", "images", "blobs",
/// "bytes", "linked"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_export_bundle(
    store: *const dr_store,
    dest: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        dest => dest: &Path;
        options_json => options: Opts<BundleExportOptions>;
        -> report_json;
        {
            json(&store.export_bundle(dest, &options.0)?)
        }
    )
}

/// Pins the stored manifest or index `digest` in the root repository, so GC keeps it untagged.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_pin(
    store: *const dr_store,
    digest: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; {
        Ok(store.pin(&digest)?)
    })
}

/// Removes the pin of `digest`'s untagged root entries (`DR_STATUS_NOT_FOUND` if none was
/// pinned); GC may then collect it.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_unpin(
    store: *const dr_store,
    digest: *const c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; store => store: Ref<dr_store>; digest => digest: Digest; {
        Ok(store.unpin(&digest)?)
    })
}

/// Removes every `index.json` entry (tags too) of `digest` in `repository` (NULL or `""`: the
/// root repository; `DR_STATUS_INVALID_REPOSITORY` for a bad name) and, with `referrers`,
/// every entry in any repository whose manifest names `digest` as its OCI 1.1 `subject`.
/// `*count` receives how many entries went (0 is not an error). Blobs stay until GC.
#[unsafe(no_mangle)]
pub extern "C" fn dr_store_forget(
    store: *const dr_store,
    repository: *const c_char,
    digest: *const c_char,
    referrers: bool,
    count: *mut u64,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        store => store: Ref<dr_store>;
        repository => repository: Repository;
        digest => digest: Digest;
        referrers => referrers: bool;
        -> count;
        {
            let n = store.forget(&repository, &digest, referrers)?;
            Ok(n as u64)
        }
    )
}
