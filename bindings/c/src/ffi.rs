//! The C boundary itself: every `unsafe` of the crate lives here, each with a `// SAFETY:`
//! comment. It owns the [`entry!`] macro every exported function is written with, the [`Arg`]
//! conversions from C arguments to Rust values, out-parameters ([`Out`], written only on
//! success), handles ([`Handle`]), the panic boundary, and the progress and read callbacks.
//!
//! The soundness of every conversion rests on the API contract the header states for each
//! argument: a pointer is NULL or valid for the call (strings NUL-terminated, buffers `len`
//! bytes long), and a handle is NULL or a live one of its type, used as its documentation says.
//! Under that contract no input reaches undefined behaviour: NULL, invalid UTF-8 and bad JSON
//! become `DR_STATUS_INVALID_ARGUMENT` naming the argument.

use std::any::Any;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::{ControlFlow, Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use registry_core::facts::ClusterFacts;
use registry_core::settings::RegistrySettings;
use registry_core::store::{
    Algorithm, Digest, Progress, ProgressFn, Repository, StoreError, UploadId,
};
use registry_core::wire::Failure;
use serde::de::DeserializeOwned;

use crate::{Fail, dr_error, dr_status};

/// The body of every exported function that returns a [`dr_status`]: the function keeps its
/// C signature (which cbindgen reads) and passes its arguments here, each C argument (or group,
/// joined with `+`) with the Rust value it becomes, then its out-parameters, then a body that
/// returns their values.
///
/// ```text
/// pub extern "C" fn dr_x(a: *const c_char, data: *const u8, len: usize,
///                        out: *mut *mut c_char, err: *mut *mut dr_error) -> dr_status {
///     entry!(err; a => a: &str; data + len => data: &[u8]; -> out; { json(&f(a, data)) })
/// }
/// ```
///
/// It converts every argument with [`Arg`] (messages name the first C argument of the group),
/// checks that no out-parameter is NULL, runs the body inside the panic boundary, and writes
/// the out-parameters only when the body succeeds.
macro_rules! entry {
    (
        $err:ident;
        $($raw0:ident $(+ $raw:ident)* => $arg:ident : $arg_ty:ty;)*
        $(-> $($out:ident),+;)?
        $body:block
    ) => {
        $crate::ffi::boundary($err, move || {
            $(
                // Bound `mut` for the handles a body changes (`Mut`).
                #[allow(unused_mut)]
                let mut $arg: $arg_ty =
                    // SAFETY: the caller keeps the API contract for this argument, which
                    // `Arg::from_raw` of its type states (ffi.rs).
                    unsafe { $crate::ffi::Arg::from_raw(($raw0 $(, $raw)*), stringify!($raw0)) }?;
            )*
            let outs = ($($($out,)+)?);
            $crate::ffi::Outs::check(outs, &[$($(stringify!($out)),+)?])?;
            let values = $crate::ffi::run(move || $body)?;
            // SAFETY: every out-parameter was checked non-NULL above, and the caller passes
            // writable locations per the API contract.
            unsafe { $crate::ffi::Outs::write(outs, values) };
            Ok(())
        })
    };
}
pub(crate) use entry;

/// Runs an entry's body as a closure, so `?` inside it ends the body, not the boundary.
pub(crate) fn run<T>(body: impl FnOnce() -> Result<T, Fail>) -> Result<T, Fail> {
    body()
}

/// A C argument (or a group of them, such as pointer and length) as a Rust value.
pub(crate) trait Arg<'a>: Sized {
    /// The C argument(s).
    type Raw;
    /// Converts, naming the argument `name` in any error.
    ///
    /// # Safety
    /// `raw` keeps the contract of the implementation (stated on each).
    unsafe fn from_raw(raw: Self::Raw, name: &'static str) -> Result<Self, Fail>;
}

fn null(name: &str) -> Fail {
    Fail::arg(format!("{name} is NULL"))
}

/// A NUL-terminated UTF-8 string, borrowed for the call; NULL is refused.
impl<'a> Arg<'a> for &'a str {
    type Raw = *const c_char;
    /// # Safety
    /// `raw` is NULL or points to a NUL-terminated string valid for the call.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        if raw.is_null() {
            return Err(null(name));
        }
        // SAFETY: not NULL, and NUL-terminated and live for the call per the contract.
        let s = unsafe { CStr::from_ptr(raw) };
        s.to_str().map_err(|e| {
            Fail::arg(format!(
                "{name} is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })
    }
}

/// As `&str`, with NULL meaning "not given".
impl<'a, T: Arg<'a, Raw = *const c_char>> Arg<'a> for Option<T> {
    type Raw = *const c_char;
    /// # Safety
    /// As for `T`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        if raw.is_null() {
            Ok(None)
        } else {
            // SAFETY: forwarded from the caller.
            unsafe { T::from_raw(raw, name) }.map(Some)
        }
    }
}

/// A path, as a NUL-terminated UTF-8 string.
impl<'a> Arg<'a> for &'a Path {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        unsafe { <&str>::from_raw(raw, name) }.map(Path::new)
    }
}

/// `len` bytes at a pointer, borrowed for the call; NULL only with length 0.
impl<'a> Arg<'a> for &'a [u8] {
    type Raw = (*const u8, usize);
    /// # Safety
    /// `raw.0` is NULL or points to `raw.1` readable bytes valid for the call.
    unsafe fn from_raw((p, len): Self::Raw, name: &'static str) -> Result<Self, Fail> {
        if p.is_null() {
            return if len == 0 {
                Ok(&[])
            } else {
                Err(Fail::arg(format!("{name} is NULL with length {len}")))
            };
        }
        // SAFETY: not NULL, `len` readable bytes for the call per the contract.
        Ok(unsafe { std::slice::from_raw_parts(p, len) })
    }
}

/// A buffer the library writes into: `len` bytes at a pointer; NULL only with length 0.
impl<'a> Arg<'a> for &'a mut [u8] {
    type Raw = (*mut u8, usize);
    /// # Safety
    /// `raw.0` is NULL or points to `raw.1` writable bytes valid for the call, not aliased.
    unsafe fn from_raw((p, len): Self::Raw, name: &'static str) -> Result<Self, Fail> {
        if p.is_null() {
            return if len == 0 {
                Ok(&mut [])
            } else {
                Err(Fail::arg(format!("{name} is NULL with length {len}")))
            };
        }
        // SAFETY: not NULL, `len` writable unaliased bytes for the call per the contract.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
    }
}

/// A plain number passes as it is.
impl Arg<'_> for u64 {
    type Raw = u64;
    /// # Safety
    /// Always safe.
    unsafe fn from_raw(raw: u64, _: &'static str) -> Result<Self, Fail> {
        Ok(raw)
    }
}

/// A C `bool` passes as it is.
impl Arg<'_> for bool {
    type Raw = bool;
    /// # Safety
    /// Always safe.
    unsafe fn from_raw(raw: bool, _: &'static str) -> Result<Self, Fail> {
        Ok(raw)
    }
}

/// A size the caller may leave unchecked: negative means "not given".
pub(crate) struct MaybeSize(pub(crate) Option<u64>);

impl Arg<'_> for MaybeSize {
    type Raw = i64;
    /// # Safety
    /// Always safe.
    unsafe fn from_raw(raw: i64, _: &'static str) -> Result<Self, Fail> {
        Ok(MaybeSize(u64::try_from(raw).ok()))
    }
}

/// A JSON document parsed into a core type. Documents can hold secrets, so the message masks
/// every quoted value serde would show.
pub(crate) struct Json<T>(pub(crate) T);

impl<'a, T: DeserializeOwned> Arg<'a> for Json<T> {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        let text = unsafe { <&str>::from_raw(raw, name) }?;
        serde_json::from_str(text)
            .map(Json)
            .map_err(|e| Fail::arg(format!("{name}: {}", mask_quoted(&e.to_string()))))
    }
}

/// Settings JSON: what `dr_load_settings` returns (its `settings` member is taken) or the
/// settings alone.
pub(crate) struct Settings(pub(crate) RegistrySettings);

impl<'a> Arg<'a> for Settings {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        let Json(mut value) = unsafe { Json::<serde_json::Value>::from_raw(raw, name) }?;
        if let Some(inner) = value.get_mut("settings") {
            value = inner.take();
        }
        serde_json::from_value(value)
            .map(Settings)
            .map_err(|e| Fail::arg(format!("{name}: {}", mask_quoted(&e.to_string()))))
    }
}

/// Options JSON parsed straight into a core type whose every key is optional; NULL is the
/// defaults. Options hold no secrets, so messages quote values as given.
pub(crate) struct Opts<T>(pub(crate) T);

impl<'a, T: DeserializeOwned + Default> Arg<'a> for Opts<T> {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        let Some(given) = (unsafe { option_object::<T>(raw, name) })? else {
            return Ok(Opts(T::default()));
        };
        serde_json::from_value(serde_json::Value::Object(given))
            .map(Opts)
            .map_err(|e| Fail::arg(format!("{name}: {e}")))
    }
}

/// An options object (None for NULL) whose keys are all keys of `T` in the core's wire schema.
///
/// # Safety
/// As for `&str`.
unsafe fn option_object<T>(
    raw: *const c_char,
    name: &'static str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Fail> {
    // SAFETY: forwarded from the caller.
    let Some(text) = (unsafe { Option::<&str>::from_raw(raw, name) })? else {
        return Ok(None);
    };
    let given: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Fail::arg(format!("{name}: {e}")))?;
    let serde_json::Value::Object(given) = given else {
        return Err(Fail::arg(format!("{name}: expected a JSON object")));
    };
    let known = wire_keys::<T>();
    if let Some(k) = given.keys().find(|k| !known.contains(k)) {
        return Err(Fail::arg(format!(
            "{name}: unknown field `{k}`, expected one of {}",
            known.join(", ")
        )));
    }
    Ok(Some(given))
}

/// The JSON keys of a core shape, from the core's wire schema (`$defs` keyed by type name).
/// Generated per call (only when options are given): a cached schema would stay allocated
/// behind interior pointers, which leak checkers report.
pub(crate) fn wire_keys<T>() -> Vec<String> {
    let schema = registry_core::wire::schema();
    let type_name = std::any::type_name::<T>().rsplit("::").next().unwrap_or("");
    schema["$defs"][type_name]["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Cluster facts as YAML or JSON text; NULL is a bootstrapped static cluster with one
/// containerd master.
impl<'a> Arg<'a> for ClusterFacts {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        match unsafe { Option::<&str>::from_raw(raw, name) }? {
            None => Ok(ClusterFacts::default()),
            Some(t) => ClusterFacts::load(t.as_bytes())
                .map_err(|e| Fail::from(Failure::from(e).context("cluster facts"))),
        }
    }
}

/// A digest string (`sha256:<hex>`).
impl<'a> Arg<'a> for Digest {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        let s = unsafe { <&str>::from_raw(raw, name) }?;
        Ok(Digest::parse(s).map_err(StoreError::from)?)
    }
}

/// A repository name (`install`, `modules/<name>/release`); NULL or `""` is the root repository.
impl<'a> Arg<'a> for Repository {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        match unsafe { Option::<&str>::from_raw(raw, name) }? {
            None => Ok(Repository::root()),
            Some(r) => Ok(Repository::parse(r)?),
        }
    }
}

/// An upload id.
impl<'a> Arg<'a> for UploadId {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        let s = unsafe { <&str>::from_raw(raw, name) }?;
        Ok(UploadId::parse(s)?)
    }
}

/// A hash algorithm by name; NULL is sha256.
impl<'a> Arg<'a> for Algorithm {
    type Raw = *const c_char;
    /// # Safety
    /// As for `&str`.
    unsafe fn from_raw(raw: *const c_char, name: &'static str) -> Result<Self, Fail> {
        // SAFETY: forwarded from the caller.
        match unsafe { Option::<&str>::from_raw(raw, name) }? {
            None => Ok(Algorithm::Sha256),
            Some(n) => Algorithm::from_name(n)
                .ok_or_else(|| Fail::arg(format!("{name} must be \"sha256\" or \"sha512\""))),
        }
    }
}

/// Ties an opaque C type to the Rust value a `Box` behind it holds.
pub(crate) trait Handle {
    /// The Rust value.
    type Inner;
}

/// A handle argument, borrowed for the call.
pub(crate) struct Ref<'a, H: Handle>(&'a H::Inner);

impl<'a, H: Handle> Arg<'a> for Ref<'a, H> {
    type Raw = *const H;
    /// # Safety
    /// `raw` is NULL or a live pointer from [`handle`] for `H`.
    unsafe fn from_raw(raw: *const H, name: &'static str) -> Result<Self, Fail> {
        if raw.is_null() {
            return Err(null(name));
        }
        // SAFETY: `raw` came from `handle::<H>` (a `Box<H::Inner>`) and is live per the contract.
        Ok(Ref(unsafe { &*raw.cast::<H::Inner>() }))
    }
}

impl<H: Handle> Deref for Ref<'_, H> {
    type Target = H::Inner;
    fn deref(&self) -> &H::Inner {
        self.0
    }
}

/// A handle argument the call may change, used by one thread at a time.
pub(crate) struct Mut<'a, H: Handle>(&'a mut H::Inner);

impl<'a, H: Handle> Arg<'a> for Mut<'a, H> {
    type Raw = *mut H;
    /// # Safety
    /// As for [`Ref`], and no other reference to the value is in use (one thread at a time).
    unsafe fn from_raw(raw: *mut H, name: &'static str) -> Result<Self, Fail> {
        if raw.is_null() {
            return Err(null(name));
        }
        // SAFETY: a live `Box<H::Inner>` from `handle::<H>`, not aliased, per the contract.
        Ok(Mut(unsafe { &mut *raw.cast::<H::Inner>() }))
    }
}

impl<H: Handle> Deref for Mut<'_, H> {
    type Target = H::Inner;
    fn deref(&self) -> &H::Inner {
        self.0
    }
}

impl<H: Handle> DerefMut for Mut<'_, H> {
    fn deref_mut(&mut self) -> &mut H::Inner {
        self.0
    }
}

/// Boxes `value` and returns it as the opaque C pointer, freed by [`free`].
pub(crate) fn handle<H: Handle>(value: H::Inner) -> *mut H {
    Box::into_raw(Box::new(value)).cast()
}

/// Runs `f` on the value behind a handle, or returns `default` for NULL or a panic (for the
/// infallible accessors such as `dr_reader_size`).
pub(crate) fn peek<H: Handle, T>(p: *const H, default: T, f: impl FnOnce(&H::Inner) -> T) -> T {
    if p.is_null() {
        return default;
    }
    // SAFETY: a live handle of type `H` per the contract (NULL handled above); the borrow ends
    // with the call.
    let inner = unsafe { &*p.cast::<H::Inner>() };
    catch_unwind(AssertUnwindSafe(|| f(inner))).unwrap_or(default)
}

/// Drops the value behind a handle; NULL is a no-op. The caller frees each handle at most once.
pub(crate) fn free<H: Handle>(p: *mut H) {
    if !p.is_null() {
        // SAFETY: a live `Box<H::Inner>` from `handle::<H>`, freed once, per the contract.
        let boxed = unsafe { Box::from_raw(p.cast::<H::Inner>()) };
        guard((), || drop(boxed));
    }
}

/// Frees a string from [`text`]; NULL is a no-op.
pub(crate) fn free_text(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in `text`, freed once, per the contract.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Frees a buffer from [`bytes`] with its length; NULL is a no-op.
pub(crate) fn free_bytes(data: *mut u8, len: usize) {
    if !data.is_null() {
        // SAFETY: `data`/`len` came from the `Box<[u8]>` leaked by `bytes`, freed once.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)) });
    }
}

/// One out-parameter: a pointer the library writes a `T` to.
pub(crate) trait Out: Copy {
    /// What is written.
    type Value;
    /// Refuses NULL.
    fn check(self, name: &str) -> Result<(), Fail>;
    /// Writes the value.
    ///
    /// # Safety
    /// `self` was checked and points to a writable `Value`.
    unsafe fn write(self, value: Self::Value);
}

impl<T> Out for *mut T {
    type Value = T;
    fn check(self, name: &str) -> Result<(), Fail> {
        if self.is_null() {
            Err(Fail::arg(format!("{name} (out-parameter) is NULL")))
        } else {
            Ok(())
        }
    }
    unsafe fn write(self, value: T) {
        // SAFETY: checked non-NULL and writable per the caller's guarantee.
        unsafe { self.write(value) }
    }
}

/// A function's out-parameters as a tuple; one value for one parameter, a tuple for several.
pub(crate) trait Outs: Copy {
    /// The body's result.
    type Values;
    /// Refuses any NULL out-parameter, naming it.
    fn check(self, names: &[&str]) -> Result<(), Fail>;
    /// Writes every value.
    ///
    /// # Safety
    /// Every out-parameter was checked and is writable.
    unsafe fn write(self, values: Self::Values);
}

impl Outs for () {
    type Values = ();
    fn check(self, _: &[&str]) -> Result<(), Fail> {
        Ok(())
    }
    unsafe fn write(self, (): ()) {}
}

impl<A: Out> Outs for (A,) {
    type Values = A::Value;
    fn check(self, names: &[&str]) -> Result<(), Fail> {
        self.0.check(names[0])
    }
    unsafe fn write(self, value: A::Value) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.write(value) }
    }
}

impl<A: Out, B: Out> Outs for (A, B) {
    type Values = (A::Value, B::Value);
    fn check(self, names: &[&str]) -> Result<(), Fail> {
        self.0.check(names[0])?;
        self.1.check(names[1])
    }
    unsafe fn write(self, (a, b): Self::Values) {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.0.write(a);
            self.1.write(b);
        }
    }
}

/// A library-owned C string, freed by `dr_string_free`. A NUL inside becomes `\0`.
pub(crate) fn text(s: String) -> *mut c_char {
    c_string(s).into_raw()
}

/// A value as a library-owned JSON string.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<*mut c_char, Fail> {
    serde_json::to_string(value).map(text).map_err(|e| {
        Fail::new(
            dr_status::Panic,
            format!("cannot encode the result as JSON: {e}"),
        )
    })
}

/// A byte vector as a library-owned (pointer, length), freed by `dr_bytes_free`.
pub(crate) fn bytes(v: Vec<u8>) -> (*mut u8, usize) {
    let boxed = v.into_boxed_slice();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

pub(crate) fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let cleaned: String = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
        CString::new(cleaned).unwrap_or_default()
    })
}

/// Masks every double-quoted string in a (serde) error message: JSON documents can carry
/// passwords, and serde quotes offending values (`invalid type: string "…"`).
pub(crate) fn mask_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for ch in message.chars() {
        if ch == '"' {
            out.push_str(if inside { "…\"" } else { "\"" });
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
}

/// A progress callback: receives a JSON event `{"operation": "import", "bytesDone",
/// "bytesTotal", "itemsDone", "itemsTotal", "current"}` (borrowed for the call) and the
/// `user_data` given with it; returning nonzero cancels the operation (`DR_STATUS_CANCELLED`,
/// the store is left without the operation's partial effects).
pub type dr_progress_fn =
    Option<unsafe extern "C" fn(progress_json: *const c_char, user_data: *mut c_void) -> c_int>;

/// A C progress callback and its `user_data`, called from the thread of the call.
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    cb: dr_progress_fn,
    user_data: *mut c_void,
}

impl Arg<'_> for Callback {
    type Raw = (dr_progress_fn, *mut c_void);
    /// # Safety
    /// `raw.0` is NULL or a function that may be called with `raw.1` during the call.
    unsafe fn from_raw((cb, user_data): Self::Raw, _: &'static str) -> Result<Self, Fail> {
        Ok(Callback { cb, user_data })
    }
}

impl Callback {
    /// Runs `f` with a core progress function forwarding to the C one (if any).
    pub(crate) fn run<T>(self, f: impl FnOnce(Option<ProgressFn<'_>>) -> T) -> T {
        let Some(cb) = self.cb else { return f(None) };
        let mut forward = |p: &Progress| {
            let event = c_string(serde_json::to_string(p).unwrap_or_default());
            // SAFETY: the caller gave a callable function and the user_data it expects
            // (`Arg::from_raw` above); the event string lives until the callback returns.
            let stop = unsafe { cb(event.as_ptr(), self.user_data) };
            if stop != 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        f(Some(&mut forward))
    }
}

/// A read callback: fills at most `len` bytes at `buf` with the stream's next bytes, stores how
/// many in `*out_n` and returns 0; returning 0 with `*out_n == 0` is the end of the stream. Any
/// other return value is a failure (an errno-like code of the caller's choosing): the call it
/// serves stops and reports it. `user_data` is the pointer given with the callback. Called from the
/// thread of the call only, one call at a time, never after the call returned; `buf` is valid
/// for writing `len` (> 0) bytes during one invocation only.
pub type dr_read_fn = Option<
    unsafe extern "C" fn(
        buf: *mut u8,
        len: usize,
        out_n: *mut usize,
        user_data: *mut c_void,
    ) -> c_int,
>;

/// A C read callback and its `user_data`; NULL is refused.
#[derive(Clone, Copy)]
pub(crate) struct ReadCallback {
    cb: unsafe extern "C" fn(*mut u8, usize, *mut usize, *mut c_void) -> c_int,
    user_data: *mut c_void,
}

impl Arg<'_> for ReadCallback {
    type Raw = (dr_read_fn, *mut c_void);
    /// # Safety
    /// `raw.0` is NULL or a function that may be called with `raw.1` as its contract
    /// ([`dr_read_fn`]) says, during the call.
    unsafe fn from_raw((cb, user_data): Self::Raw, name: &'static str) -> Result<Self, Fail> {
        let cb = cb.ok_or_else(|| null(name))?;
        Ok(ReadCallback { cb, user_data })
    }
}

/// How a read callback let the stream down.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadFailure {
    /// It returned this nonzero code.
    Code(c_int),
    /// It claimed more bytes than the buffer holds.
    Overrun { claimed: usize, len: usize },
}

/// A [`ReadCallback`] as a [`std::io::Read`]. After a failure every later read fails the same
/// way, so a caller that retries cannot read past it; the failure is kept for the report.
pub(crate) struct CallbackReader {
    cb: ReadCallback,
    /// Bytes the callback delivered.
    delivered: u64,
    /// The first failure, if any.
    failure: Option<ReadFailure>,
}

impl CallbackReader {
    pub(crate) fn new(cb: ReadCallback) -> CallbackReader {
        CallbackReader {
            cb,
            delivered: 0,
            failure: None,
        }
    }

    /// The error for a failure of the callback, naming the stream (`name`, `""` if unnamed).
    pub(crate) fn fail(&self, name: &str) -> Option<Fail> {
        let stream = if name.is_empty() {
            "the stream".to_owned()
        } else {
            format!("stream `{name}`")
        };
        Some(match self.failure? {
            ReadFailure::Code(code) => Fail::new(
                dr_status::Io,
                format!(
                    "reading {stream}: the read callback returned {code} after {} bytes; nothing was imported",
                    self.delivered
                ),
            ),
            ReadFailure::Overrun { claimed, len } => Fail::arg(format!(
                "reading {stream}: the read callback reported {claimed} bytes read into a buffer of {len} (a bug in the callback); nothing was imported"
            )),
        })
    }
}

impl std::io::Read for CallbackReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // `Other`, never `Interrupted`: readers retry an interrupted read forever.
        let failed = |f: ReadFailure| std::io::Error::other(format!("read callback: {f:?}"));
        if let Some(f) = self.failure {
            return Err(failed(f));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n: usize = 0;
        // SAFETY: the callback and user_data are the caller's, callable per `dr_read_fn`'s
        // contract during the call (`ReadCallback::from_raw`); `buf` is `buf.len()` writable
        // bytes and `n` a writable `usize`, both live for the invocation.
        let code = unsafe { (self.cb.cb)(buf.as_mut_ptr(), buf.len(), &mut n, self.cb.user_data) };
        let failure = if code != 0 {
            ReadFailure::Code(code)
        } else if n > buf.len() {
            ReadFailure::Overrun {
                claimed: n,
                len: buf.len(),
            }
        } else {
            self.delivered += n as u64;
            return Ok(n);
        };
        self.failure = Some(failure);
        Err(failed(failure))
    }
}

/// Runs an exported body: catches panics, turns a failure into a status and, when `err` is not
/// NULL, an error object.
pub(crate) fn boundary(err: *mut *mut dr_error, f: impl FnOnce() -> Result<(), Fail>) -> dr_status {
    let fail = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return dr_status::Ok,
        Ok(Err(fail)) => fail,
        Err(payload) => panic_fail(payload.as_ref()),
    };
    let code = fail.code;
    if !err.is_null() {
        let inner = crate::ErrorInner {
            code,
            message: c_string(fail.message),
            problems: fail.problems.map(c_string),
        };
        // SAFETY: `err` is not NULL and the caller passes a writable `dr_error *` location.
        unsafe { *err = handle::<dr_error>(inner) };
    }
    code
}

/// Runs a body that cannot fail, returning `default` if it panics.
pub(crate) fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

fn panic_fail(payload: &(dyn Any + Send)) -> Fail {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into());
    Fail::new(
        dr_status::Panic,
        format!("internal error (panic caught at the C boundary): {what}"),
    )
}
