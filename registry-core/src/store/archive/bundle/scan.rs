//! Walking a bundle's entries: every regular file of a tar (or of an unpacked tree) with its
//! normalised path, the layout folder it belongs to and what it is there. Paths that could
//! escape, links and device files refuse the import; a tar that ends early is "unexpected end of
//! archive"; anything else outside a layout is handed on as [`Kind::Other`] to be reported.

use std::cell::Cell;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::decode::{self, Compression};
use super::input::{MultiFile, TarSource};
use super::{BundleOptions, refuse};
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::message::printable;

/// What an entry is inside its layout folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `<layout>/oci-layout`.
    OciLayout,
    /// `<layout>/index.json`.
    Index,
    /// `<layout>/blobs/<alg>/<hex>`.
    Blob(Digest),
    /// Anything else.
    Other,
}

/// One regular file of the bundle.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Its path, normalised (`install/blobs/sha256/…`).
    pub(crate) path: String,
    /// The layout folder it would belong to (`install`; `""` for the root).
    pub(crate) layout: String,
    /// What it is there.
    pub(crate) kind: Kind,
    /// Its size per the tar header (or the file system).
    pub(crate) size: u64,
    /// Where its data can be read again by position (plain tars and unpacked trees; not a
    /// decompressed stream), so a large blob can be hashed on a worker that reads it itself.
    pub(crate) at: Option<Span>,
}

/// The files an entry's data lives in (a tar's parts, or the file itself) and the offset of its
/// first byte in them.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    parts: Arc<[PathBuf]>,
    offset: u64,
}

impl Span {
    /// Opens the data, positioned at its first byte (for another thread).
    pub(crate) fn open(&self) -> Result<MultiFile> {
        let mut f = MultiFile::open(&self.parts)?;
        let first = self
            .parts
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""));
        f.seek(SeekFrom::Start(self.offset)).at(first)?;
        Ok(f)
    }
}

/// Called for every regular file; may read the data (at most `size` bytes arrive) or not.
pub(crate) type Visit<'v> = &'v mut dyn FnMut(&Item, &mut dyn Read) -> Result<()>;

/// Normalises a relative entry path and says what it is, refusing anything that could leave the
/// bundle (absolute paths, `..`, NUL, non-UTF-8).
pub(crate) fn classify(raw: &Path) -> Result<(String, String, Kind)> {
    let shown = || printable(&raw.to_string_lossy());
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(s) => parts.push(
                s.to_str()
                    .ok_or_else(|| refuse(shown(), "path is not UTF-8"))?,
            ),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse(shown(), "path contains '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(shown(), "absolute path"));
            }
        }
    }
    let path = parts.join("/");
    if path.contains('\0') {
        return Err(refuse(printable(&path), "path contains NUL"));
    }
    let n = parts.len();
    let (layout_len, kind) = match parts.as_slice() {
        [.., "oci-layout"] => (n - 1, Kind::OciLayout),
        [.., "index.json"] => (n - 1, Kind::Index),
        [.., "blobs", alg, hex] if Algorithm::from_name(alg).is_some() => (
            n - 3,
            Kind::Blob(
                Digest::parse(&format!("{alg}:{hex}")).map_err(|e| refuse(&path, e.to_string()))?,
            ),
        ),
        _ => (n, Kind::Other),
    };
    let layout = if kind == Kind::Other {
        String::new()
    } else {
        parts[..layout_len].join("/")
    };
    Ok((path, layout, kind))
}

/// Counts bytes read, so the end of a stream can be compared with the end of its last entry.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

const TRUNCATED: &str = "unexpected end of archive (the tar is truncated)";

/// Walks one tar of a bundle (seeking over data nobody reads when it is a plain tar).
pub(crate) fn scan_tar(src: &TarSource, opts: &BundleOptions, visit: Visit<'_>) -> Result<()> {
    let mut file = src.open()?;
    let mut head = [0u8; 8];
    let got = read_up_to(&mut file, &mut head).map_err(|e| read_failed(&src.name, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| read_failed(&src.name, e))?;
    if Compression::sniff(&head[..got]) == Compression::Plain {
        let mut archive = tar::Archive::new(file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| refuse(&src.name, format!("not a tar archive: {e}")))?;
        let parts: Arc<[PathBuf]> = src.parts.clone().into();
        let last_end = walk(&src.name, entries, None, Some(&parts), visit)?;
        let mut file = archive.into_inner();
        let end = file
            .seek(SeekFrom::End(0))
            .map_err(|e| read_failed(&src.name, e))?;
        check_end(&src.name, last_end, end)
    } else {
        scan_stream(Box::new(BufReader::new(file)), &src.name, opts, visit)
    }
}

/// Walks a tar stream (plain or gzip, detected by its first bytes).
pub(crate) fn scan_stream<'r>(
    reader: Box<dyn BufRead + 'r>,
    name: &str,
    opts: &BundleOptions,
    visit: Visit<'_>,
) -> Result<()> {
    let decoded = match decode::decode(reader, opts).map_err(|e| read_failed(name, e))? {
        Ok(d) => d,
        Err(reason) => return Err(refuse(name, reason)),
    };
    let meter = decoded.meter.clone();
    let count = Rc::new(Cell::new(0));
    let counted = Counted {
        inner: decoded.reader,
        count: count.clone(),
    };
    let mut archive = tar::Archive::new(counted);
    let limit_or = |e: StoreError| match meter.tripped() {
        Some(reason) => refuse(name, reason),
        None => e,
    };
    let entries = archive
        .entries()
        .map_err(|e| refuse(name, format!("not a tar archive: {e}")))?;
    let last_end = walk(name, entries, Some(&meter), None, visit).map_err(limit_or)?;
    drop(archive);
    check_end(name, last_end, count.get()).map_err(limit_or)
}

/// An archive that stops before the block after its last entry's data ended early (a complete
/// tar ends with zero blocks after the last entry).
fn check_end(name: &str, last_end: Option<u64>, end: u64) -> Result<()> {
    match last_end {
        Some(e) if end < e + 512 => Err(refuse(name, TRUNCATED)),
        None if end == 0 => Err(refuse(name, "empty file: not a tar archive")),
        _ => Ok(()),
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_failed(name: &str, e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        refuse(name, TRUNCATED)
    } else {
        refuse(name, format!("read failed: {e}"))
    }
}

/// Maps a tar reader's error to a refusal; the ones that mean "the data stopped" say so.
fn tar_error(name: &str, e: io::Error) -> StoreError {
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof
        || msg.contains("entire block")
        || msg.contains("unexpected EOF")
    {
        refuse(name, TRUNCATED)
    } else {
        refuse(name, format!("corrupt tar: {msg}"))
    }
}

/// Visits every entry; returns where the last entry's data (padded) ends. `parts` are the files
/// of a plain tar, where entries can be read again by position.
fn walk<R: Read>(
    name: &str,
    entries: tar::Entries<'_, R>,
    meter: Option<&decode::Meter>,
    parts: Option<&Arc<[PathBuf]>>,
    visit: Visit<'_>,
) -> Result<Option<u64>> {
    let mut last_end = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_error(name, e))?;
        let raw = entry
            .path()
            .map_err(|e| refuse(name, format!("bad entry name: {e}")))?
            .into_owned();
        let shown = format!("{name}:{}", printable(&raw.to_string_lossy()));
        let size = entry
            .header()
            .size()
            .map_err(|e| refuse(&shown, format!("bad size in tar header: {e}")))?;
        last_end = Some(entry.raw_file_position() + size.div_ceil(512) * 512);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (path, layout, kind) = classify(&raw)?;
                let item = Item {
                    path,
                    layout,
                    kind,
                    size,
                    at: parts.map(|p| Span {
                        parts: p.clone(),
                        offset: entry.raw_file_position(),
                    }),
                };
                let mut short = ShortRead {
                    inner: &mut entry,
                    left: size,
                };
                visit(&item, &mut short)?;
            }
            tar::EntryType::Directory => {
                classify(&raw)?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(refuse(shown, "links are not allowed in an image bundle"));
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(refuse(
                    shown,
                    format!(
                        "unsupported tar entry type {other:?} (only regular files belong in a bundle)"
                    ),
                ));
            }
        }
        if let Some(m) = meter
            && let Some(reason) = m.tripped()
        {
            return Err(refuse(name, reason));
        }
    }
    Ok(last_end)
}

/// An entry's data that reports a truncated archive as an error instead of a short read.
struct ShortRead<'e, R> {
    inner: &'e mut R,
    left: u64,
}

impl<R: Read> Read for ShortRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, TRUNCATED));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Walks an unpacked tree of layouts (any depth). Links anywhere refuse the import.
pub(crate) fn scan_tree(root: &Path, visit: Visit<'_>) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
            let ft = e.file_type().at(&p)?;
            if ft.is_symlink() {
                return Err(refuse(rel.display().to_string(), "links are not allowed"));
            } else if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                files.push(rel);
            } else {
                return Err(refuse(rel.display().to_string(), "not a regular file"));
            }
        }
    }
    files.sort();
    for rel in files {
        let (path, layout, kind) = classify(&rel)?;
        let p = root.join(&rel);
        let mut f = fs::File::open(&p).at(&p)?;
        let size = f.metadata().at(&p)?.len();
        let item = Item {
            path,
            layout,
            kind,
            size,
            at: Some(Span {
                parts: vec![p.clone()].into(),
                offset: 0,
            }),
        };
        visit(&item, &mut f)?;
    }
    Ok(())
}

/// Turns a read error of an entry's data into a refusal naming it.
pub(crate) fn data_error(item: &Item, e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        refuse(&item.path, TRUNCATED)
    } else {
        refuse(&item.path, format!("read failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_at_any_depth() {
        let (p, l, k) = classify(Path::new("modules/console/release/blobs/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")).unwrap();
        assert_eq!(l, "modules/console/release");
        assert!(matches!(k, Kind::Blob(_)));
        assert!(p.starts_with("modules/console/release/blobs/"));
        assert_eq!(classify(Path::new("./oci-layout")).unwrap().1, "");
        assert_eq!(
            classify(Path::new("install/index.json")).unwrap().1,
            "install"
        );
        assert_eq!(classify(Path::new("x/readme")).unwrap().2, Kind::Other);
        assert!(classify(Path::new("a/../../etc/passwd")).is_err());
        assert!(classify(Path::new("/etc/passwd")).is_err());
    }
}
