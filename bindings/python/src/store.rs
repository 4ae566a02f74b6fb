//! The blob store: a frozen pyclass around `registry_core::store::Store` (which is
//! `Send + Sync` and cheap to clone), so one object is shared between Python threads without
//! "already borrowed" errors. Every call that touches the disk releases the GIL.

use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes};
use registry_core::store::{
    self as core, Algorithm, BundleExportOptions, BundleOptions, Digest, GcOptions, ImportOptions,
    Progress, ProgressFn, Repository, ScrubOptions, StoreError, StoreOptions, WithProgress,
};
use registry_core::wire::{self, ExportRequest, Failure, ScrubView};

use crate::convert::{de, ser};
use crate::errors::{self, Family};

fn parse_digest(py: Python<'_>, s: &str) -> PyResult<Digest> {
    Digest::parse(s).map_err(|e| errors::store(py, &StoreError::from(e)))
}

/// Runs a long store operation without the GIL, forwarding progress events to a Python
/// callable. The callable gets a dict; returning `False` cancels (the core then reports
/// `Cancelled`); an exception it raises cancels too and is re-raised instead.
fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    f: impl for<'a> FnOnce(Option<ProgressFn<'a>>) -> Result<T, Failure> + Send,
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
    result.map_err(|f| errors::failure(py, f, Family::Store))
}

/// An optional options dict as the core's options type (`None`: the core's defaults).
fn options<T: serde::de::DeserializeOwned + Default>(
    options: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<T> {
    match options {
        Some(o) if !o.is_none() => de(o, what),
        _ => Ok(T::default()),
    }
}

/// A binary Python stream as a `Read` for the core, which runs without the GIL: every read takes
/// the GIL again and calls the object's `readinto` (into a reused `bytearray`) or, without one,
/// its `read(n)`. The first exception it raises (or a wrong result, raised here as `TypeError` /
/// `ValueError`) is kept and every later read fails, so the import stops and the caller
/// re-raises that exception.
struct PyStream {
    obj: Py<PyAny>,
    /// The `bytearray` lent to `readinto`; `None` when the object is read with `read`.
    scratch: Option<Py<PyByteArray>>,
    raised: Option<PyErr>,
}

impl PyStream {
    fn new(stream: &Bound<'_, PyAny>) -> PyResult<PyStream> {
        let py = stream.py();
        let scratch = if stream.hasattr("readinto")? {
            Some(PyByteArray::new(py, &[]).unbind())
        } else if stream.hasattr("read")? {
            None
        } else {
            return Err(PyTypeError::new_err(format!(
                "the stream must be a binary file-like object with read(n) or readinto(b), not {}",
                stream.get_type().name()?
            )));
        };
        Ok(PyStream {
            obj: stream.clone().unbind(),
            scratch,
            raised: None,
        })
    }

    fn read_py(&self, py: Python<'_>, buf: &mut [u8]) -> PyResult<usize> {
        py.check_signals()?;
        let obj = self.obj.bind(py);
        let Some(scratch) = &self.scratch else {
            let got = obj.call_method1("read", (buf.len(),))?;
            let bytes = got.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "stream.read() returned {}, expected bytes (open the file in binary mode)",
                    type_name(&got)
                ))
            })?;
            let data = bytes.as_bytes();
            let n = data.len();
            if n > buf.len() {
                return Err(PyValueError::new_err(format!(
                    "stream.read({}) returned {n} bytes",
                    buf.len()
                )));
            }
            buf[..n].copy_from_slice(data);
            return Ok(n);
        };
        let scratch = scratch.bind(py);
        if scratch.len() != buf.len() {
            scratch.resize(buf.len())?;
        }
        let got = obj.call_method1("readinto", (scratch,))?;
        let n: usize = match got.extract::<Option<i64>>() {
            Ok(Some(n)) => usize::try_from(n)
                .ok()
                .filter(|&n| n <= buf.len())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "stream.readinto() of a {}-byte buffer returned {n}",
                        buf.len()
                    ))
                })?,
            Ok(None) => {
                return Err(PyValueError::new_err(
                    "stream.readinto() returned None: a non-blocking stream with no data ready",
                ));
            }
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "stream.readinto() returned {}, expected an int",
                    type_name(&got)
                )));
            }
        };
        // The stream may have resized the buffer it was lent; copy only what is still there.
        let data = scratch.to_vec();
        let n = n.min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

impl Read for PyStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `Other`, never `Interrupted`: readers retry an interrupted read forever.
        let stopped = || io::Error::other("the Python stream raised an exception");
        if self.raised.is_some() {
            return Err(stopped());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        Python::attach(|py| self.read_py(py, buf)).map_err(|e| {
            self.raised = Some(e);
            stopped()
        })
    }
}

/// A content-addressed blob store rooted at a folder (an OCI image layout).
#[pyclass(frozen, module = "deckhouse_registry._native")]
pub(crate) struct Store {
    inner: core::Store,
}

#[pymethods]
impl Store {
    /// Opens the store with the core's `StoreOptions` in their wire shape.
    #[new]
    #[pyo3(signature = (root, options = None))]
    fn new(py: Python<'_>, root: PathBuf, options: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let opts: StoreOptions = self::options(options, "store options")?;
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
        let data = py.detach(|| wire::read_range(&self.inner, &d, offset, length));
        let data = data.map_err(|f| errors::failure(py, f, Family::Store))?;
        Ok(PyBytes::new(py, &data))
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

    #[pyo3(signature = (options = None, progress = None))]
    fn scrub<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: ScrubOptions = self::options(options, "scrub options")?;
        let report = with_progress(py, progress, |p| {
            Ok(self.inner.scrub(WithProgress::new(opts.clone(), p))?)
        })?;
        ser(py, &ScrubView::from(report))
    }

    #[pyo3(signature = (options = None, progress = None))]
    fn gc<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: GcOptions = self::options(options, "gc options")?;
        let report = with_progress(py, progress, |p| {
            Ok(self.inner.gc(WithProgress::new(opts.clone(), p))?)
        })?;
        ser(py, &report)
    }

    #[pyo3(signature = (path, options = None, progress = None))]
    fn import_path<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        options: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: ImportOptions = self::options(options, "import options")?;
        let report = with_progress(py, progress, |p| {
            Ok(self
                .inner
                .import_path(&path, WithProgress::new(opts.clone(), p))?)
        })?;
        ser(py, &report)
    }

    /// `wire::export`: atomic, refuses an existing tar target unless `overwrite`.
    #[pyo3(signature = (dest, request = None, progress = None))]
    fn export<'py>(
        &self,
        py: Python<'py>,
        dest: PathBuf,
        request: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request: ExportRequest = self::options(request, "export request")?;
        let report = with_progress(py, progress, |p| {
            wire::export(&self.inner, &dest, &request, p)
        })?;
        ser(py, &report)
    }

    // -- bundles and untagged manifests (Store::import_bundle, export_bundle, pin, unpin,
    // forget): the core's rules, converted.

    #[pyo3(signature = (path, options = None, progress = None))]
    fn import_bundle<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        options: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: BundleOptions = self::options(options, "bundle options")?;
        let report = with_progress(py, progress, |p| {
            Ok(self
                .inner
                .import_bundle(&path, WithProgress::new(opts.clone(), p))?)
        })?;
        ser(py, &report)
    }

    #[pyo3(signature = (stream, name = "", options = None, progress = None))]
    fn import_bundle_stream<'py>(
        &self,
        py: Python<'py>,
        stream: &Bound<'py, PyAny>,
        name: &str,
        options: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: BundleOptions = self::options(options, "bundle options")?;
        let mut reader = PyStream::new(stream)?;
        let report = with_progress(py, progress, |p| {
            Ok(self.inner.import_bundle_stream(
                &mut reader,
                name,
                WithProgress::new(opts.clone(), p),
            )?)
        });
        // The core saw only "read failed": the stream's own exception is what stopped it.
        let report = report.map_err(|e| reader.raised.take().unwrap_or(e))?;
        ser(py, &report)
    }

    #[pyo3(signature = (dest, options = None))]
    fn export_bundle<'py>(
        &self,
        py: Python<'py>,
        dest: PathBuf,
        options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts: BundleExportOptions = self::options(options, "bundle export options")?;
        let report = py.detach(|| self.inner.export_bundle(&dest, &opts));
        ser(py, &report.map_err(|e| errors::store(py, &e))?)
    }

    fn pin(&self, py: Python<'_>, digest: &str) -> PyResult<()> {
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.pin(&d))
            .map_err(|e| errors::store(py, &e))
    }

    fn unpin(&self, py: Python<'_>, digest: &str) -> PyResult<()> {
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.unpin(&d))
            .map_err(|e| errors::store(py, &e))
    }

    #[pyo3(signature = (repository, digest, referrers = false))]
    fn forget(
        &self,
        py: Python<'_>,
        repository: &str,
        digest: &str,
        referrers: bool,
    ) -> PyResult<usize> {
        let repo = Repository::parse(repository).map_err(|e| errors::store(py, &e))?;
        let d = parse_digest(py, digest)?;
        py.detach(|| self.inner.forget(&repo, &d, referrers))
            .map_err(|e| errors::store(py, &e))
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
