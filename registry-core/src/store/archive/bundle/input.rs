//! What a bundle path names: a folder of tars (`platform.tar`, `module-<name>.tar`, …), one tar,
//! a set of chunks `<name>.tar.NNNN.chunk` (joined in order; a gap refuses the import), or an
//! unpacked tree of layouts. Chunks are read as one stream, seekable, without copying them.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::SkippedEntry;
use super::refuse;
use crate::store::error::{IoContext, Result};

/// One tar of a bundle, possibly split into chunks.
#[derive(Debug, Clone)]
pub(crate) struct TarSource {
    /// How reports name it: the tar's file name (`module-console.tar`).
    pub(crate) name: String,
    /// Its files, in order (one for a whole tar).
    pub(crate) parts: Vec<PathBuf>,
}

impl TarSource {
    /// For a legacy module tar `module-<name>.tar` (layouts without the `modules/<name>/`
    /// prefix): the module name.
    pub(crate) fn legacy_module(&self) -> Option<&str> {
        let stem = tar_stem(&self.name)?;
        stem.strip_prefix("module-").filter(|m| !m.is_empty())
    }

    /// Opens the parts as one seekable stream.
    pub(crate) fn open(&self) -> Result<MultiFile> {
        MultiFile::open(&self.parts)
    }

    /// Total size of the parts.
    pub(crate) fn size(&self) -> Result<u64> {
        let mut n = 0;
        for p in &self.parts {
            n += fs::metadata(p).at(p)?.len();
        }
        Ok(n)
    }
}

/// What a bundle path resolved to.
#[derive(Debug)]
pub(crate) enum Input {
    /// Tars (from a bundle folder, one tar, or a chunk set), with what was skipped beside them.
    Tars(Vec<TarSource>, Vec<SkippedEntry>),
    /// A folder holding OCI layouts itself (an unpacked bundle or a plain layout folder).
    Tree(PathBuf),
}

/// `platform.tar` → `platform`; `x.tar.gz`, `x.tgz` too; `None` for other names.
fn tar_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".tar")
        .or_else(|| name.strip_suffix(".tar.gz"))
        .or_else(|| name.strip_suffix(".tgz"))
}

/// `platform.tar.0003.chunk` → (`platform.tar`, 3).
fn chunk_of(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_suffix(".chunk")?;
    let (base, num) = rest.rsplit_once('.')?;
    if num.len() < 4 || !num.bytes().all(|b| b.is_ascii_digit()) || base.is_empty() {
        return None;
    }
    Some((base, num.parse().ok()?))
}

/// Resolves `path` (see the module documentation).
pub(crate) fn resolve(path: &Path) -> Result<Input> {
    let meta = fs::metadata(path).at(path)?;
    if meta.is_dir() {
        return resolve_dir(path);
    }
    let name = file_name(path);
    if let Some((base, _)) = chunk_of(&name) {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut groups = chunk_groups(dir)?;
        let parts = groups.remove(base).unwrap_or_default();
        return Ok(Input::Tars(vec![chunk_source(base, parts)?], Vec::new()));
    }
    Ok(Input::Tars(
        vec![TarSource {
            name,
            parts: vec![path.to_path_buf()],
        }],
        Vec::new(),
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Every chunk set in `dir`: base name → (number, path), sorted by number.
fn chunk_groups(dir: &Path) -> Result<BTreeMap<String, Vec<(u32, PathBuf)>>> {
    let mut groups: BTreeMap<String, Vec<(u32, PathBuf)>> = BTreeMap::new();
    for e in fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((base, n)) = chunk_of(&name) {
            groups
                .entry(base.to_owned())
                .or_default()
                .push((n, e.path()));
        }
    }
    for v in groups.values_mut() {
        v.sort();
    }
    Ok(groups)
}

/// Checks a chunk set runs 0000, 0001, … without a gap.
fn chunk_source(base: &str, parts: Vec<(u32, PathBuf)>) -> Result<TarSource> {
    for (want, (have, _)) in parts.iter().enumerate() {
        if *have as usize != want {
            return Err(refuse(
                format!("{base}.{want:04}.chunk"),
                format!(
                    "chunk missing: the set {base}.NNNN.chunk has {} parts but no part {want:04}",
                    parts.len()
                ),
            ));
        }
    }
    for (_, p) in &parts {
        if !fs::symlink_metadata(p).at(p)?.is_file() {
            return Err(refuse(file_name(p), "not a regular file"));
        }
    }
    Ok(TarSource {
        name: base.to_owned(),
        parts: parts.into_iter().map(|(_, p)| p).collect(),
    })
}

fn resolve_dir(dir: &Path) -> Result<Input> {
    let mut tars = Vec::new();
    let mut other = Vec::new();
    for e in fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().at(&e.path())?;
        if ft.is_file() && tar_stem(&name).is_some() {
            tars.push(TarSource {
                name,
                parts: vec![e.path()],
            });
        } else if !(ft.is_file() && chunk_of(&name).is_some()) {
            other.push((name, ft));
        }
    }
    let groups = chunk_groups(dir)?;
    if tars.is_empty() && groups.is_empty() {
        return Ok(Input::Tree(dir.to_path_buf()));
    }
    for (base, parts) in groups {
        if tars.iter().any(|t| t.name == base) {
            return Err(refuse(
                base.clone(),
                "both the tar and its chunks are present; keep one",
            ));
        }
        tars.push(chunk_source(&base, parts)?);
    }
    tars.sort_by(|a, b| a.name.cmp(&b.name));
    let mut skipped: Vec<SkippedEntry> = other
        .into_iter()
        .map(|(name, ft)| {
            let reason = if name.ends_with(".gostsum") {
                "a GOST checksum file; not verified by this import"
            } else if ft.is_dir() {
                "a folder beside the bundle's tars; not read"
            } else {
                "not a tar or a tar chunk"
            };
            SkippedEntry::new(name, reason)
        })
        .collect();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Input::Tars(tars, skipped))
}

/// Several files read as one, seekable (a chunked tar).
pub(crate) struct MultiFile {
    files: Vec<(File, u64)>,
    /// Current part and the offset within it.
    part: usize,
    pos: u64,
}

impl MultiFile {
    pub(crate) fn open(paths: &[PathBuf]) -> Result<MultiFile> {
        let mut files = Vec::new();
        for p in paths {
            let f = File::open(p).at(p)?;
            let len = f.metadata().at(p)?.len();
            files.push((f, len));
        }
        Ok(MultiFile {
            files,
            part: 0,
            pos: 0,
        })
    }

    fn total(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

impl Read for MultiFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some((f, len)) = self.files.get_mut(self.part) {
            if self.pos >= *len {
                self.part += 1;
                self.pos = 0;
                if let Some((next, _)) = self.files.get_mut(self.part) {
                    next.seek(SeekFrom::Start(0))?;
                }
                continue;
            }
            let n = f.read(buf)?;
            if n == 0 {
                // The part shrank while being read: treat it as ended.
                self.pos = *len;
                continue;
            }
            self.pos += n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}

impl Seek for MultiFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let here: u64 = self.files[..self.part.min(self.files.len())]
            .iter()
            .map(|f| f.1)
            .sum::<u64>()
            + self.pos;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => here.checked_add_signed(d),
            SeekFrom::End(d) => self.total().checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        let mut rest = target;
        let count = self.files.len();
        self.part = count;
        self.pos = 0;
        for (i, (f, len)) in self.files.iter_mut().enumerate() {
            if rest < *len || i + 1 == count {
                f.seek(SeekFrom::Start(rest))?;
                self.part = i;
                self.pos = rest;
                break;
            }
            rest -= *len;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            chunk_of("platform.tar.0003.chunk"),
            Some(("platform.tar", 3))
        );
        assert_eq!(
            chunk_of("platform.tar.12345.chunk"),
            Some(("platform.tar", 12345))
        );
        assert_eq!(chunk_of("platform.tar.03.chunk"), None);
        assert_eq!(chunk_of("x.chunk"), None);
        let t = TarSource {
            name: "module-console.tar".into(),
            parts: vec![],
        };
        assert_eq!(t.legacy_module(), Some("console"));
        let t = TarSource {
            name: "platform.tar".into(),
            parts: vec![],
        };
        assert_eq!(t.legacy_module(), None);
    }

    #[test]
    fn multifile_reads_and_seeks_across_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, part) in [&b"abc"[..], b"", b"defg"].iter().enumerate() {
            let p = dir.path().join(format!("p{i}"));
            fs::write(&p, part).unwrap();
            paths.push(p);
        }
        let mut m = MultiFile::open(&paths).unwrap();
        let mut all = Vec::new();
        m.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcdefg");
        m.seek(SeekFrom::Start(2)).unwrap();
        let mut two = [0u8; 3];
        m.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"cde");
        assert_eq!(m.seek(SeekFrom::Current(1)).unwrap(), 6);
        let mut last = Vec::new();
        m.read_to_end(&mut last).unwrap();
        assert_eq!(last, b"g");
    }
}
