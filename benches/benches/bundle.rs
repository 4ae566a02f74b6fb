//! Bundle benchmark. Prints, in one run on one machine, side by side:
//!
//! * import of a `d8 mirror` tar holding one image of 5 layers (`BUNDLE_BENCH_MIB`, default
//!   1024, in all) against sha256 of the same bytes on one core (the floor; the issue's target
//!   is import >= 1.0x the floor) with relaxed durability, and durable against writing and
//!   fsyncing the same bytes through the page cache (a plain copy; the import writes around the
//!   cache) and against the device alone: the same bytes written with direct I/O by four threads
//!   at once (what the import's workers do), then fsynced. Where the device is slower than the
//!   hash, the import cannot beat the hash floor, only the device;
//! * export of that image as an unpacked bundle (hard links) against export as tars (copies);
//! * import and re-import of a layout with `BUNDLE_BENCH_UNTAGGED` (default 10000) untagged
//!   entries, through `import_bundle` and `import_path` (both should be linear).
//!
//! `BUNDLE_BENCH_DIR` sets the folder (default: a temp folder under `target/`). Each timing is
//! the median of three runs.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use registry_core::store::{
    Algorithm, BundleExportOptions, BundleOptions, Durability, Hasher, ImportOptions, Store,
    StoreOptions,
};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pseudo(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha(b: &[u8]) -> String {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(b);
    h.finish().to_string()
}

fn desc(mt: &str, b: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": mt, "digest": sha(b), "size": b.len()})
}

/// Files of a root layout (path → bytes) holding one manifest per `(layers, tagged)` image.
fn layout_files(images: &[(Vec<&[u8]>, bool)]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        "oci-layout".to_owned(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    let mut index = Vec::new();
    for (i, (layers, tagged)) in images.iter().enumerate() {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","n":{i}}}"#).into_bytes();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar+gzip", l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        for b in layers.iter().copied().chain([&config[..], &manifest[..]]) {
            let d = sha(b);
            files.insert(
                format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
                b.to_vec(),
            );
        }
        let mut e = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
        if *tagged {
            e["annotations"] = serde_json::json!({"io.deckhouse.image.short_tag": format!("v{i}")});
        }
        index.push(e);
    }
    files.insert(
        "index.json".to_owned(),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": index})).unwrap(),
    );
    files
}

fn write_tar(path: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut b = tar::Builder::new(f);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o777);
        h.set_mtime(0);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap();
}

fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, data) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// Writes `layers` into files under `dir` with direct I/O, one thread per file at most four at
/// once (as many as the import keeps in flight on a small machine), 1 MiB per write, then
/// fsyncs them: the device's own time for these bytes. `flag` is `O_DIRECT`.
fn device_write(dir: &Path, layers: &[Vec<u8>], flag: i32) {
    use registry_core::fsutil::DIRECT_ALIGN as ALIGN;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    const STEP: usize = 1 << 20;
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut raw = vec![0u8; STEP + ALIGN];
                let at = raw.as_ptr().align_offset(ALIGN);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(layer) = layers.get(i) else { return };
                    let path = dir.join(format!("direct-{i}"));
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .custom_flags(flag)
                        .open(&path)
                        .unwrap();
                    // Whole aligned steps only, as the store's writer sends to the device.
                    let whole = layer.len() / STEP * STEP;
                    for (n, c) in layer[..whole].chunks(STEP).enumerate() {
                        let buf = &mut raw[at..at + STEP];
                        buf.copy_from_slice(c);
                        f.write_all_at(buf, (n * STEP) as u64).unwrap();
                    }
                    f.sync_all().unwrap();
                    std::fs::remove_file(&path).unwrap();
                }
            });
        }
    });
}

fn timed(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    let base = match std::env::var_os("BUNDLE_BENCH_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-tmp");
            std::fs::create_dir_all(&d).unwrap();
            d
        }
    };
    let work = tempfile::tempdir_in(&base).unwrap();
    let mib = env_u64("BUNDLE_BENCH_MIB", 1024) as usize;
    let layer_len = (mib << 20) / 5;
    let layers: Vec<Vec<u8>> = (0..5).map(|i| pseudo(i + 1, layer_len)).collect();
    let refs: Vec<&[u8]> = layers.iter().map(|l| &l[..]).collect();
    let files = layout_files(&[(refs, true)]);
    let tar = work.path().join("platform.tar");
    write_tar(&tar, &files);
    let total: u64 = layers.iter().map(|l| l.len() as u64).sum();

    let mut floor = Vec::new();
    let mut disk = Vec::new();
    let mut device = Vec::new();
    let mut relaxed = Vec::new();
    let mut import = Vec::new();
    let mut linked = Vec::new();
    let mut copied = Vec::new();
    for run in 0..3 {
        floor.push(timed(|| {
            for l in &layers {
                let mut h = Hasher::new(Algorithm::Sha256);
                for c in l.chunks(1 << 20) {
                    h.update(c);
                }
                std::hint::black_box(h.finish());
            }
        }));
        let p = work.path().join("disk.bin");
        disk.push(timed(|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&p).unwrap();
            for l in &layers {
                f.write_all(l).unwrap();
            }
            f.sync_all().unwrap();
        }));
        std::fs::remove_file(&p).unwrap();
        if let Some(flag) = registry_core::fsutil::O_DIRECT {
            device.push(timed(|| device_write(work.path(), &layers, flag)));
        }
        let quick = Store::open_with(
            work.path().join(format!("r{run}")),
            StoreOptions {
                durability: Durability::Relaxed,
                ..Default::default()
            },
        )
        .unwrap();
        relaxed.push(timed(|| {
            quick.import_bundle(&tar, BundleOptions::default()).unwrap();
        }));
        drop(quick);
        std::fs::remove_dir_all(work.path().join(format!("r{run}"))).unwrap();
        let store = Store::open(work.path().join(format!("s{run}"))).unwrap();
        import.push(timed(|| {
            store.import_bundle(&tar, BundleOptions::default()).unwrap();
        }));
        let opts = BundleExportOptions {
            unpacked: true,
            ..Default::default()
        };
        linked.push(timed(|| {
            store
                .export_bundle(&work.path().join(format!("tree{run}")), &opts)
                .unwrap();
        }));
        copied.push(timed(|| {
            store
                .export_bundle(
                    &work.path().join(format!("tars{run}")),
                    &BundleExportOptions::default(),
                )
                .unwrap();
        }));
        std::fs::remove_dir_all(work.path().join(format!("tars{run}"))).unwrap();
    }
    let (floor, import) = (median(floor), median(import));
    let (disk, relaxed) = (median(disk), median(relaxed));
    // No device row where the store cannot write around the page cache either.
    let device = (!device.is_empty()).then(|| median(device));
    let gb = |d: Duration| total as f64 / d.as_secs_f64() / 1e9;
    let row = |label: &str, d: Duration| {
        println!(
            "  {label:<28}{:>8.3} s  {:>6.2} GB/s",
            d.as_secs_f64(),
            gb(d)
        );
    };
    println!("bundle import, one image of 5 layers, {mib} MiB:");
    row("sha256 on one core (floor)", floor);
    row("import_bundle, relaxed", relaxed);
    println!(
        "  ratio floor/relaxed import  {:>8.2}   (target >= 1.0)",
        floor.as_secs_f64() / relaxed.as_secs_f64()
    );
    row("write + fsync, page cache", disk);
    if let Some(device) = device {
        row("direct write, 4 threads", device);
    }
    row("import_bundle, durable", import);
    println!(
        "  ratio copy/durable import   {:>8.2}",
        disk.as_secs_f64() / import.as_secs_f64()
    );
    if let Some(device) = device {
        println!(
            "  ratio device/durable import {:>8.2}   (the device alone, same bytes)",
            device.as_secs_f64() / import.as_secs_f64()
        );
    }
    let (linked, copied) = (median(linked), median(copied));
    println!("bundle export of the same image:");
    println!(
        "  unpacked, hard links        {:>8.3} s",
        linked.as_secs_f64()
    );
    println!(
        "  tars, copied                {:>8.3} s",
        copied.as_secs_f64()
    );
    drop(layers);

    let n = env_u64("BUNDLE_BENCH_UNTAGGED", 10_000) as usize;
    let layer = b"one shared layer".to_vec();
    let imgs: Vec<(Vec<&[u8]>, bool)> = (0..n).map(|_| (vec![&layer[..]], false)).collect();
    let files = layout_files(&imgs);
    let dir = work.path().join("untagged");
    write_dir(&dir, &files);
    let tar = work.path().join("untagged.tar");
    write_tar(&tar, &files);
    let store = Store::open(work.path().join("u1")).unwrap();
    let first = timed(|| {
        store.import_bundle(&tar, BundleOptions::default()).unwrap();
    });
    let again = timed(|| {
        store.import_bundle(&tar, BundleOptions::default()).unwrap();
    });
    let store = Store::open(work.path().join("u2")).unwrap();
    let first_p = timed(|| {
        store.import_path(&dir, ImportOptions::default()).unwrap();
    });
    let again_p = timed(|| {
        store.import_path(&dir, ImportOptions::default()).unwrap();
    });
    println!("{n} untagged entries (was 71 s / 102 s before the linear merge):");
    println!(
        "  import_bundle  first {:>7.2} s   again {:>7.2} s",
        first.as_secs_f64(),
        again.as_secs_f64()
    );
    println!(
        "  import_path    first {:>7.2} s   again {:>7.2} s",
        first_p.as_secs_f64(),
        again_p.as_secs_f64()
    );
}
