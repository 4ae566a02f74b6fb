//! `registryctl store …`: the blob store from the command line (put, get, stat, rm, ls, tag,
//! verify, gc, import, export, completeness). Exit codes: 0 success, 1 the operation found a
//! problem (digest mismatch, corruption, missing blob or tag, I/O failure), 2 unusable input
//! (bad digest, tag or arguments, a refused bundle), each with a one-line reason on stderr.
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use registry_core::store::{
    BundleExportOptions, BundleOptions, BundleReport, Digest, ExportOptions, GcOptions, Progress,
    Repository, ScrubOptions, Store, StoreError, StoreOptions, WithProgress,
};

/// Arguments of `registryctl store`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// The store root (an OCI image layout folder; created if missing). Defaults to
    /// $REGISTRY_STORE_ROOT.
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Print reports as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Refuse writes that would bring the store's blobs above this many bytes.
    #[arg(long, global = true)]
    quota: Option<u64>,
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Store a file (or stdin with `-`); prints its digest.
    Put {
        /// The file, or `-` for stdin.
        file: String,
        /// The digest the content must have (exit 1 and nothing stored on a mismatch).
        #[arg(long)]
        digest: Option<String>,
    },
    /// Write a blob to a file or stdout, verifying it.
    Get {
        /// The blob's digest.
        digest: String,
        /// Output file (default stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Show a blob's size and times.
    Stat {
        /// A digest or a tag.
        reference: String,
    },
    /// Delete a blob regardless of references.
    Rm {
        /// The blob's digest.
        digest: String,
    },
    /// List blobs (or tags with --tags).
    Ls {
        /// List tags instead of blobs.
        #[arg(long)]
        tags: bool,
    },
    /// Point a tag at a manifest or index, or delete a tag.
    Tag {
        /// The tag.
        name: String,
        /// The manifest or index digest (omit with --delete).
        digest: Option<String>,
        /// Remove the tag.
        #[arg(long)]
        delete: bool,
    },
    /// Re-hash every blob (scrub); exit 1 and list what is corrupt or foreign.
    #[command(alias = "verify")]
    Scrub {
        /// Report only; do not move bad files to quarantine.
        #[arg(long)]
        no_quarantine: bool,
    },
    /// Collect garbage.
    Gc {
        /// Report what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Keep blobs used within this many seconds (default: 3600).
        #[arg(long)]
        grace: Option<u64>,
    },
    /// Import an image bundle: a `d8 mirror pull` folder of tars, one tar / tar.gz, one chunk
    /// of a `<name>.tar.NNNN.chunk` set, a layout folder, or `-` for a tar on stdin.
    Import {
        /// Folder, tar, chunk, or `-`.
        path: PathBuf,
        /// Accept layouts that reference blobs neither they nor the store have.
        #[arg(long)]
        allow_incomplete: bool,
        /// Move tags that already point at another digest (otherwise the import is refused).
        #[arg(long)]
        overwrite_tags: bool,
        /// Refuse a gzip stream expanding more than this many times (default 100).
        #[arg(long)]
        max_expansion_ratio: Option<u64>,
        /// Refuse a gzip stream expanding to more than this many bytes (default 1 TiB).
        #[arg(long)]
        max_expanded_bytes: Option<u64>,
    },
    /// Export tags as an OCI image layout folder or tar.
    Export {
        /// Tags to export (default: all).
        tags: Vec<String>,
        /// Target: a new folder, a `.tar` / `.tar.gz` file, or `-` for a tar on stdout.
        #[arg(short, long)]
        output: PathBuf,
        /// Gzip the tar (implied by a `.tar.gz`/`.tgz` name).
        #[arg(long)]
        gzip: bool,
        /// Write a `d8 mirror` bundle (a folder of platform/module/security tars) instead.
        #[arg(long)]
        bundle: bool,
        /// With --bundle: only these repositories (repeatable; default all).
        #[arg(long)]
        repository: Vec<String>,
        /// With --bundle: also export the referrers of what is exported.
        #[arg(long)]
        referrers: bool,
        /// With --bundle: write the layout folders (blobs hard-linked) instead of tars.
        #[arg(long)]
        unpacked: bool,
    },
    /// List the untagged index.json entries (repository, digest, whether GC keeps them).
    Untagged,
    /// Pin an untagged manifest in the root repository so GC keeps it (or --unpin).
    Pin {
        /// The manifest or index digest.
        digest: String,
        /// Remove the pin instead.
        #[arg(long)]
        unpin: bool,
    },
    /// Remove every index.json entry of a manifest in a repository (tags too).
    Forget {
        /// The manifest or index digest.
        digest: String,
        /// The repository (default: the root repository).
        #[arg(long, default_value = "")]
        repository: String,
        /// Also remove the entries of its OCI 1.1 referrers (signatures, SBOMs).
        #[arg(long)]
        referrers: bool,
    },
    /// Report whether images (tags or digests) are complete; exit 1 if not.
    Completeness {
        /// Tags or manifest digests.
        references: Vec<String>,
    },
}

enum Failure {
    /// Exit 1.
    Problem(String),
    /// Exit 2.
    Usage(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let line = e.to_string().replace('\n', " ");
        match e {
            StoreError::InvalidDigest { .. }
            | StoreError::InvalidTag { .. }
            | StoreError::InvalidRepository { .. }
            | StoreError::Import { .. }
            | StoreError::InvalidLayout { .. }
            | StoreError::InvalidManifest { .. } => Failure::Usage(line),
            _ => Failure::Problem(line),
        }
    }
}

/// Runs `registryctl store`.
pub(crate) fn run(args: StoreArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Problem(m)) => {
            eprintln!("registryctl store: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("registryctl store: {m}");
            ExitCode::from(2)
        }
    }
}

fn digest(s: &str) -> Result<Digest, Failure> {
    Digest::parse(s).map_err(|e| Failure::from(StoreError::from(e)))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::Problem(e.to_string()))?;
    out(&s)
}

/// Prints a line on stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
fn out(line: &str) -> Result<(), Failure> {
    let mut o = io::stdout().lock();
    match writeln!(o, "{line}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Problem(format!("stdout: {e}"))),
    }
}

/// Puts at least this large get a progress bar.
const LARGE_PUT: u64 = 64 << 20;

/// A progress bar on stderr when it is a terminal; otherwise nothing.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new(label: &str) -> Bar {
        if !io::stderr().is_terminal() {
            return Bar(None);
        }
        let pb = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        pb.set_style(style);
        pb.set_prefix(label.to_string());
        Bar(Some(pb))
    }

    fn update(&self, p: &Progress) -> ControlFlow<()> {
        if let Some(pb) = &self.0 {
            if let Some(t) = p.bytes_total {
                pb.set_length(t);
            }
            pb.set_position(p.bytes_done);
            if let Some(c) = &p.current {
                pb.set_message(format!("{} {}", p.items_done, short(c)));
            }
        }
        ControlFlow::Continue(())
    }

    fn inc(&self, n: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

fn short(s: &str) -> &str {
    s.get(..s.len().min(40)).unwrap_or(s)
}

/// Counts bytes through a reader for the progress bar.
struct Counting<'a, R> {
    inner: R,
    bar: &'a Bar,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn run_inner(args: StoreArgs) -> Result<(), Failure> {
    let root = args
        .root
        .or_else(|| std::env::var_os("REGISTRY_STORE_ROOT").map(PathBuf::from))
        .ok_or_else(|| Failure::Usage("--root DIR (or REGISTRY_STORE_ROOT) is required".into()))?;
    let store = Store::open_with(
        &root,
        StoreOptions {
            quota: args.quota,
            ..StoreOptions::default()
        },
    )?;
    let json = args.json;
    match args.command {
        StoreCommand::Put { file, digest: d } => {
            let expected = d.as_deref().map(digest).transpose()?;
            let put = if file == "-" {
                // Size unknown: a bar (bytes and rate) is worth showing.
                let bar = Bar::new("put");
                let stdin = io::stdin();
                let mut r = Counting {
                    inner: stdin.lock(),
                    bar: &bar,
                };
                let put = store.put(&mut r, expected.as_ref());
                bar.finish();
                put
            } else {
                let f = File::open(&file)
                    .map_err(|e| Failure::Usage(format!("cannot open {file}: {e}")))?;
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                // Small files finish before a bar could say anything.
                let bar = if size >= LARGE_PUT {
                    Bar::new("put")
                } else {
                    Bar(None)
                };
                if let Some(pb) = &bar.0 {
                    pb.set_length(size);
                }
                let mut r = Counting {
                    inner: f,
                    bar: &bar,
                };
                let put = store.put(&mut r, expected.as_ref());
                bar.finish();
                put
            };
            let put = put.map_err(|e| match e {
                StoreError::DigestMismatch { .. } => Failure::Problem(e.to_string()),
                other => Failure::from(other),
            })?;
            if json {
                print_json(&put)?;
            } else {
                out(&put.digest.to_string())?;
            }
        }
        StoreCommand::Get { digest: d, output } => {
            let d = digest(&d)?;
            match output {
                Some(p) => {
                    // Written beside the target and renamed, so a corrupt blob leaves no file.
                    let tmp = p.with_extension("partial");
                    let mut f = File::create(&tmp).map_err(|e| {
                        Failure::Usage(format!("cannot create {}: {e}", tmp.display()))
                    })?;
                    let r = store.get(&d, &mut f);
                    if let Err(e) = r {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e.into());
                    }
                    std::fs::rename(&tmp, &p).map_err(|e| {
                        Failure::Problem(format!("cannot write {}: {e}", p.display()))
                    })?;
                }
                None => {
                    let stdout = io::stdout();
                    let mut lock = stdout.lock();
                    store.get(&d, &mut lock)?;
                    lock.flush()
                        .map_err(|e| Failure::Problem(format!("stdout: {e}")))?;
                }
            }
        }
        StoreCommand::Stat { reference } => {
            let d = store.resolve_ref(&reference)?;
            let st = store.stat(&d)?;
            if json {
                print_json(&st)?;
            } else {
                out(&format!(
                    "{}\t{} bytes\tcreated {}\tlast used {}",
                    st.digest,
                    st.size,
                    rfc3339_utc(st.created_ms),
                    rfc3339_utc(st.last_used_ms)
                ))?;
            }
        }
        StoreCommand::Rm { digest: d } => store.delete(&digest(&d)?)?,
        StoreCommand::Ls { tags } => {
            if tags {
                let t = store.tags()?;
                if json {
                    print_json(&t)?;
                } else {
                    for t in t {
                        out(&format!("{}\t{}\t{}", t.reference(), t.digest, t.size))?;
                    }
                }
            } else {
                let l = store.list()?;
                if json {
                    print_json(&l)?;
                } else {
                    for d in l {
                        out(&d.to_string())?;
                    }
                }
            }
        }
        StoreCommand::Tag {
            name,
            digest: d,
            delete,
        } => match (delete, d) {
            (true, None) => store.untag(&name)?,
            (false, Some(d)) => store.tag(&name, &digest(&d)?)?,
            (true, Some(_)) => return Err(Failure::Usage("--delete takes no digest".into())),
            (false, None) => {
                return Err(Failure::Usage("tag NAME DIGEST (or --delete NAME)".into()));
            }
        },
        StoreCommand::Scrub { no_quarantine } => {
            let bar = Bar::new("scrub");
            let mut cb = |p: &Progress| bar.update(p);
            let opts = ScrubOptions {
                quarantine: !no_quarantine,
                threads: None,
            };
            let r = store.scrub(WithProgress::new(opts.clone(), Some(&mut cb)));
            bar.finish();
            let r = r?;
            if json {
                print_json(&r)?;
            } else {
                for c in &r.corrupt {
                    out(&format!("corrupt\t{}\t{}", c.digest, c.reason))?;
                }
                for f in &r.foreign {
                    out(&format!("foreign\t{}\t{}", f.path, f.reason))?;
                }
                for p in &r.layout_problems {
                    out(&format!("layout\t{p}"))?;
                }
                eprintln!(
                    "verified {}, {}",
                    count(r.checked, "blob"),
                    count(r.bytes, "byte")
                );
            }
            if !r.is_clean() {
                return Err(Failure::Problem(format!(
                    "{} corrupt blob(s), {} foreign file(s), {} layout problem(s)",
                    r.corrupt.len(),
                    r.foreign.len(),
                    r.layout_problems.len()
                )));
            }
        }
        StoreCommand::Gc { dry_run, grace } => {
            let opts = GcOptions {
                grace: grace.map(Duration::from_secs),
                dry_run,
            };
            let r = store.gc(&opts)?;
            if json {
                print_json(&r)?;
            } else {
                for d in &r.deleted {
                    out(&format!(
                        "{}{d}",
                        if dry_run { "would delete " } else { "deleted " }
                    ))?;
                }
                eprintln!(
                    "{} examined, {} reachable, {} young, {} {} ({})",
                    count(r.examined, "blob"),
                    r.reachable,
                    r.young,
                    r.deleted.len(),
                    if dry_run {
                        "would be deleted"
                    } else {
                        "deleted"
                    },
                    count(r.deleted_bytes, "byte")
                );
            }
        }
        StoreCommand::Import {
            path,
            allow_incomplete,
            overwrite_tags,
            max_expansion_ratio,
            max_expanded_bytes,
        } => {
            let defaults = BundleOptions::default();
            let opts = BundleOptions {
                require_complete: !allow_incomplete,
                overwrite_tags,
                max_expansion_ratio: max_expansion_ratio.unwrap_or(defaults.max_expansion_ratio),
                max_expanded_bytes: max_expanded_bytes.unwrap_or(defaults.max_expanded_bytes),
                ..defaults
            };
            let stdin = path.as_os_str() == "-";
            if !stdin && !path.exists() {
                return Err(Failure::Usage(format!("{} does not exist", path.display())));
            }
            let bar = Bar::new("import");
            let mut cb = |p: &Progress| bar.update(p);
            let r = if stdin {
                store.import_bundle_stream(
                    &mut io::stdin().lock(),
                    "",
                    WithProgress::new(opts.clone(), Some(&mut cb)),
                )
            } else {
                store.import_bundle(&path, WithProgress::new(opts.clone(), Some(&mut cb)))
            };
            bar.finish();
            let r = r?;
            if json {
                print_json(&r)?;
            } else {
                print_bundle_report(&r)?;
            }
        }
        StoreCommand::Export {
            tags,
            output,
            bundle: true,
            repository,
            referrers,
            unpacked,
            ..
        } => {
            let repositories = repository
                .iter()
                .map(|r| Repository::parse(r))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = BundleExportOptions {
                repositories,
                tags,
                referrers,
                unpacked,
            };
            let r = store.export_bundle(&output, &opts)?;
            if json {
                print_json(&r)?;
            } else {
                for f in &r.files {
                    out(f)?;
                }
                eprintln!(
                    "exported {}, {}, {}, {} ({} hard-linked)",
                    count(r.layouts.len() as u64, "layout"),
                    count(r.images, "image"),
                    count(r.blobs, "blob file"),
                    count(r.bytes, "byte"),
                    r.linked
                );
            }
        }
        StoreCommand::Untagged => {
            let list = store.untagged()?;
            if json {
                print_json(&list)?;
            } else {
                for u in &list {
                    let repo = if u.repository.is_root() {
                        "(root)"
                    } else {
                        u.repository.as_str()
                    };
                    let keep = if u.gc_root { "kept" } else { "not a GC root" };
                    out(&format!("{repo} {} {keep}", u.digest))?;
                }
            }
        }
        StoreCommand::Pin { digest: d, unpin } => {
            let d = digest(&d)?;
            if unpin {
                store.unpin(&d)?;
            } else {
                store.pin(&d)?;
            }
        }
        StoreCommand::Forget {
            digest: d,
            repository,
            referrers,
        } => {
            let d = digest(&d)?;
            let repo = Repository::parse(&repository)?;
            let n = store.forget(&repo, &d, referrers)?;
            if n == 0 {
                return Err(Failure::Problem(format!("{d} has no entry in {repo}")));
            }
            eprintln!(
                "removed {n} index.json entr{}",
                if n == 1 { "y" } else { "ies" }
            );
        }
        StoreCommand::Export {
            tags, output, gzip, ..
        } => {
            let bar = Bar::new("export");
            let mut cb = |p: &Progress| bar.update(p);
            let name = output.to_string_lossy();
            let gzip = gzip || name.ends_with(".tar.gz") || name.ends_with(".tgz");
            let opts = ExportOptions { tags, gzip };
            let r = if name == "-" {
                let stdout = io::stdout();
                let mut lock = stdout.lock();
                store.export_tar(&mut lock, WithProgress::new(opts.clone(), Some(&mut cb)))
            } else if gzip || name.ends_with(".tar") {
                export_file(&store, &output, &opts, &mut cb)
            } else {
                store.export_dir(&output, WithProgress::new(opts.clone(), Some(&mut cb)))
            };
            bar.finish();
            let r = r?;
            if json {
                print_json(&r)?;
            } else {
                eprintln!(
                    "exported {}, {}, {}",
                    count(r.tags.len() as u64, "tag"),
                    count(r.blobs, "blob"),
                    count(r.bytes, "byte")
                );
            }
        }
        StoreCommand::Completeness { references } => {
            let r = store.completeness(&references)?;
            if json {
                print_json(&r)?;
            } else {
                for i in &r.images {
                    out(&format!(
                        "{}\t{}\t{} missing",
                        i.reference,
                        if i.complete { "complete" } else { "incomplete" },
                        i.missing.len()
                    ))?;
                    for p in &i.problems {
                        out(&format!("\t{p}"))?;
                    }
                }
            }
            if !r.complete {
                return Err(Failure::Problem(format!(
                    "{} blob(s) missing",
                    r.missing.len()
                )));
            }
        }
    }
    Ok(())
}

fn export_file(
    store: &Store,
    output: &Path,
    opts: &ExportOptions,
    cb: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<registry_core::store::ExportReport, StoreError> {
    let tmp = output.with_extension("partial");
    let io_err = |p: &Path, e: io::Error| StoreError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let mut f = io::BufWriter::new(File::create(&tmp).map_err(|e| io_err(&tmp, e))?);
    let r = store.export_tar(&mut f, WithProgress::new(opts.clone(), Some(cb)));
    let r = r.and_then(|r| {
        let f = f.into_inner().map_err(|e| io_err(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, output).map_err(|e| io_err(output, e))?;
        Ok(r)
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// The human form of a bundle import: the tags on stdout, one line per layout, every skipped
/// entry and every moved tag on stderr.
fn print_bundle_report(r: &BundleReport) -> Result<(), Failure> {
    for l in &r.layouts {
        for t in &l.tags {
            out(t)?;
        }
    }
    for l in &r.layouts {
        let repo = if l.repository.is_root() {
            "(root)"
        } else {
            l.repository.as_str()
        };
        let from = match (l.source.as_str(), l.path.as_str()) {
            ("", "") => String::new(),
            (s, "") => format!(" from {s}"),
            (s, p) => format!(" from {s}:{p}/"),
        };
        let missing = if l.missing.is_empty() {
            String::new()
        } else {
            format!(", {} missing", count(l.missing.len() as u64, "blob"))
        };
        eprintln!(
            "{repo}{from}: {}, {}, {} untagged, {}, {}{missing}",
            count(l.images, "image"),
            count(l.tags.len() as u64, "tag"),
            l.untagged.len(),
            count(l.blobs, "blob"),
            count(l.bytes, "byte"),
        );
    }
    for m in &r.moved {
        eprintln!("moved {} from {} to {}", m.reference, m.from, m.to);
    }
    for s in &r.skipped {
        eprintln!("skipped {}: {}", s.path, s.reason);
    }
    eprintln!(
        "imported {}: {} ({}), {} already present, {} skipped",
        count(r.layouts.len() as u64, "layout"),
        count(r.blobs_added, "new blob"),
        count(r.bytes_added, "byte"),
        r.blobs_present,
        if r.skipped.len() == 1 {
            "1 entry".to_owned()
        } else {
            format!("{} entries", r.skipped.len())
        },
    );
    Ok(())
}

/// `n` and the noun, plural unless `n` is 1: "1 blob", "2 blobs".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC (`2001-09-09T01:46:40.000Z`).
fn rfc3339_utc(ms: u64) -> String {
    registry_core::utc::rfc3339_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        // 10^12 ms, a well-known instant; a leap day; the last millisecond of a year.
        assert_eq!(rfc3339_utc(1_000_000_000_000), "2001-09-09T01:46:40.000Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn counts_are_plural_except_one() {
        assert_eq!(count(1, "blob"), "1 blob");
        assert_eq!(count(0, "blob"), "0 blobs");
        assert_eq!(count(2, "byte"), "2 bytes");
    }
}
