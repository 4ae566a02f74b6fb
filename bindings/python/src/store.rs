//! The blob store: a frozen pyclass around `registry_core::store::Store` (which is
//! `Send + Sync` and cheap to clone), so one object is shared between Python threads without
//! "already borrowed" errors. Every call that touches the disk releases the GIL.

use std::fs::File;
use std::io::BufWriter;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes};
use registry_core::store::{
    self as core, Algorithm, Digest, Durability, ExportOptions, GcOptions, ImportOptions, Progress,
    ProgressFn, ScrubOptions, StoreError, StoreOptions, WithProgress,
};

use crate::convert::ser;
use crate::errors;

fn parse_digest(py: Python<'_>, s: &str) -> PyResult<Digest> {
    Digest::parse(s).map_err(|e| errors::store(py, &StoreError::from(e)))
}

fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

/// Runs a long store operation without the GIL, forwarding progress events to a Python
/// callable. The callable gets a dict; returning `False` cancels (the core then reports
/// `Cancelled`); an exception it raises cancels too and is re-raised instead.
fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    f: impl for<'a> FnOnce(Option<ProgressFn<'a>>) -> core::Result<T> + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| match &progress {
        None => f(None),
        Some(cb) => {
            let mut call = |p: &Progress| -> ControlFlow<()> {
                Python::attach(|py| {
                    let outcome = ser(py, p).and_then(|arg| cb.call1(py, (arg,)));
                    match outcome {
                        Ok(r) if r.bind(py).is(PyBool::new(py, false)) => ControlFlow::Break(()),
                        Ok(_) => ControlFlow::Continue(()),
                        Err(e) => {
                            raised = Some(e);
                            ControlFlow::Break(())
                        }
                    }
                })
            };
            f(Some(&mut call))
        }
    });
    if let Some(e) = raised {
        return Err(e);
    }
    result.map_err(|e| errors::store(py, &e))
}

/// A content-addressed blob store rooted at a folder (an OCI image layout).
#[pyclass(frozen, module = "deckhouse_registry._native")]
pub(crate) struct Store {
    inner: core::Store,
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (root, *, durable = true, quota = None, gc_grace = None, track_use = true))]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        durable: bool,
        quota: Option<u64>,
        gc_grace: Option<f64>,
        track_use: bool,
    ) -> PyResult<Self> {
        let mut opts = StoreOptions {
            durability: if durable {
                Durability::Durable
            } else {
                Durability::Relaxed
            },
            quota,
            track_use,
            ..StoreOptions::default()
        };
        if let Some(g) = gc_grace {
            opts.gc_grace = seconds("gc_grace", g)?;
        }
        let opened = py.detach(|| core::Store::open_with(&root, opts));
        let inner = opened.map_err(|e| errors::store(py, &e))?;
        Ok(Store { inner })
    }

    #[getter]
    fn root(&self) -> PathBuf {
        self.inner.root().to_path_buf()
    }

    #[pyo3(signature = (data, expected = None))]
    fn put_bytes<'py>(
        &self,
        py: Python<'py>,
        data: Vec<u8>,
        expected: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let expected = expected.map(|d| parse_digest(py, d)).transpose()?;
        let out = py.detach(|| self.inner.put_bytes(&data, expected.as_ref()));
        ser(py, &out.map_err(|e| errors::store(py, &e))?)
    }

    #[pyo3(signature = (path, expected = None))]
    fn put_path<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        expected: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let expected = expected.map(|d| parse_digest(py, d)).transpose()?;
        let out = py.detach(|| -> Result<_, StoreError> {
            let mut file = File::open(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            self.inner.put(&mut file, expected.as_ref())
        });
        ser(py, &out.map_err(|e| errors::store(py, &e))?)
    }

    #[pyo3(signature = (algorithm = "sha256"))]
    fn writer(&self, py: Python<'_>, algorithm: &str) -> PyResult<BlobWriter> {
        let alg = Algorithm::from_name(algorithm).ok_or_else(|| {
            PyValueError::new_err(format!("{algorithm:?} is not sha256 or sha512"))
        })?;
        let w = py.detach(|| self.inner.writer(alg));
        Ok(BlobWriter {
            inner: Mutex::new(Some(w.map_err(|e| errors::store(py, &e))?)),
        })
    }

    fn get<'py>(&self, py: Python<'py>, digest: &str) -> PyResult<Bound<'py, PyBytes>> {
        let d = parse_digest(py, digest)?;
        let data = py.detach(|| self.inner.read(&d));
        Ok(PyBytes::new(py, &data.map_err(|e| errors::store(py, &e))?))
    }

    fn read_range<'py>(
        &self,
        py: Python<'py>,
        digest: &str,
        offset: u64,
        length: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let d = parse_digest(py, digest)?;
        let data = py.detach(|| -> Result<Vec<u8>, StoreError> {
            let reader = self.inner.open_blob(&d)?;
            let path = self.inner.blob_path(&d);
            let len = length.min(reader.size().saturating_sub(offset));
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            let mut done = 0usize;
            while done < buf.len() {
                let n = reader
                    .read_at(&mut buf[done..], offset + done as u64)
                    .map_err(|source| StoreError::Io {
                        path: path.clone(),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            buf.truncate(done);
            Ok(buf)
        });
        Ok(PyBytes::new(py, &data.map_err(|e| errors::store(py, &e))?))
    }

    fn stat<'py>(&self, py: Python<'py>, digest: &str) -> PyResult<Bound<'py, PyAny>> {
        let d = parse_digest(py, digest)?;
        let st = py.detach(|| self.inner.stat(&d));
        ser(py, &st.map_err(|e| errors::store(py, &e))?)
    }

    fn has(&self, py: Python<'_>, digest: &str) -> PyResult<bool> {
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.has(&d))
            .map_err(|e| errors::store(py, &e))
    }

    fn delete(&self, py: Python<'_>, digest: &str) -> PyResult<()> {
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.delete(&d))
            .map_err(|e| errors::store(py, &e))
    }

    fn list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let all = py.detach(|| self.inner.list());
        let all = all.map_err(|e| errors::store(py, &e))?;
        Ok(all.iter().map(ToString::to_string).collect())
    }

    fn tag(&self, py: Python<'_>, tag: &str, digest: &str) -> PyResult<()> {
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.tag(tag, &d))
            .map_err(|e| errors::store(py, &e))
    }

    fn untag(&self, py: Python<'_>, tag: &str) -> PyResult<()> {
        py.detach(|| self.inner.untag(tag))
            .map_err(|e| errors::store(py, &e))
    }

    fn resolve(&self, py: Python<'_>, tag: &str) -> PyResult<String> {
        let d = py.detach(|| self.inner.resolve(tag));
        Ok(d.map_err(|e| errors::store(py, &e))?.to_string())
    }

    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = py.detach(|| self.inner.tags());
        ser(py, &t.map_err(|e| errors::store(py, &e))?)
    }

    #[pyo3(signature = (*, quarantine = true, progress = None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        quarantine: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = ScrubOptions {
            quarantine,
            threads: None,
        };
        let report = with_progress(py, progress, |p| {
            self.inner.scrub(WithProgress::new(opts.clone(), p))
        })?;
        let clean = report.is_clean();
        let out = ser(py, &report)?;
        out.set_item("clean", clean)?;
        Ok(out)
    }

    #[pyo3(signature = (*, grace = None, dry_run = false, progress = None))]
    fn gc<'py>(
        &self,
        py: Python<'py>,
        grace: Option<f64>,
        dry_run: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = GcOptions {
            grace: grace.map(|g| seconds("grace", g)).transpose()?,
            dry_run,
        };
        let report = with_progress(py, progress, |p| {
            self.inner.gc(WithProgress::new(opts.clone(), p))
        })?;
        ser(py, &report)
    }

    #[pyo3(signature = (path, *, require_complete = true, progress = None))]
    fn import_path<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        require_complete: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = ImportOptions { require_complete };
        let report = with_progress(py, progress, |p| {
            self.inner
                .import_path(&path, WithProgress::new(opts.clone(), p))
        })?;
        ser(py, &report)
    }

    #[pyo3(signature = (dest, *, tags = None, tar = false, gzip = false, progress = None))]
    fn export<'py>(
        &self,
        py: Python<'py>,
        dest: PathBuf,
        tags: Option<Vec<String>>,
        tar: bool,
        gzip: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if gzip && !tar {
            return Err(PyTypeError::new_err("gzip=True needs tar=True"));
        }
        let opts = ExportOptions {
            tags: tags.unwrap_or_default(),
            gzip,
        };
        let report = with_progress(py, progress, |p| {
            if !tar {
                return self
                    .inner
                    .export_dir(&dest, WithProgress::new(opts.clone(), p));
            }
            let io = |source| StoreError::Io {
                path: dest.clone(),
                source,
            };
            let file = File::create_new(&dest).map_err(io)?;
            let mut out = BufWriter::new(file);
            let result = self
                .inner
                .export_tar(&mut out, WithProgress::new(opts.clone(), p))
                .and_then(|r| {
                    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
                    file.sync_all().map_err(io)?;
                    Ok(r)
                });
            if result.is_err() {
                let _ = std::fs::remove_file(&dest);
            }
            result
        })?;
        ser(py, &report)
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.inner.root().display().to_string())
    }
}

/// A streaming writer: bytes are hashed as they are written; `commit` publishes the blob.
#[pyclass(frozen, module = "deckhouse_registry._native")]
pub(crate) struct BlobWriter {
    inner: Mutex<Option<core::BlobWriter>>,
}

impl BlobWriter {
    fn lock(&self) -> MutexGuard<'_, Option<core::BlobWriter>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn closed() -> PyErr {
    PyValueError::new_err("the blob writer is already committed or aborted")
}

#[pymethods]
impl BlobWriter {
    fn write(&self, py: Python<'_>, data: Vec<u8>) -> PyResult<usize> {
        let result = py.detach(|| match self.lock().as_mut() {
            Some(w) => Ok(w.write_bytes(&data)),
            None => Err(()),
        });
        match result {
            Ok(r) => r.map(|()| data.len()).map_err(|e| errors::store(py, &e)),
            Err(()) => Err(closed()),
        }
    }

    #[getter]
    fn written(&self) -> PyResult<u64> {
        self.lock().as_ref().map(|w| w.written()).ok_or_else(closed)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    /// Publishes the blob. A blob that is already stored is not an error: `created` is False.
    #[pyo3(signature = (expected = None, expected_size = None))]
    fn commit<'py>(
        &self,
        py: Python<'py>,
        expected: Option<&str>,
        expected_size: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let expected = expected.map(|d| parse_digest(py, d)).transpose()?;
        let w = self.lock().take().ok_or_else(closed)?;
        let outcome = py
            .detach(|| w.commit(expected.as_ref(), expected_size))
            .map_err(|e| errors::store(py, &e))?;
        ser(py, &outcome)
    }

    /// Drops the data written so far; a no-op when already committed or aborted.
    fn abort(&self, py: Python<'_>) {
        let w = self.lock().take();
        if let Some(w) = w {
            py.detach(|| w.abort());
        }
    }
}
