//! Store ingest benchmark. Prints, in one run on one machine, the store's figures next to their
//! physical limits and the ratios the store issue sets as targets:
//!
//! * one 1 GiB blob, durable commit: store vs sha256 alone (target >= 0.8) and vs the simplest
//!   hash + write + fsync + rename + dir-fsync loop (target >= 1.0);
//! * 10,000 blobs of 4 KiB, durable: per-blob fsync vs group commit (`Store::batch`);
//! * two concurrent streams vs one (aggregate throughput, target >= 1.7x).
//!
//! `STORE_BENCH_MIB` (default 1024) sets the big blob's size, `STORE_BENCH_SMALL` (default
//! 10000) the small-blob count, `STORE_BENCH_DIR` the folder (default: a temp folder under
//! `target/`, i.e. on the project's disk). Each figure is the median of three runs.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use registry_core::store::{Algorithm, Durability, Hasher, Store, StoreOptions};

const CHUNK: usize = 1 << 20;

/// A reader yielding `total` bytes cycled from `pattern`, with `salt` in the first 8 bytes so
/// every run is a new blob.
struct Source<'a> {
    pattern: &'a [u8],
    total: u64,
    pos: u64,
    salt: u64,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.total {
            return Ok(0);
        }
        let off = (self.pos % self.pattern.len() as u64) as usize;
        let n = buf
            .len()
            .min(self.pattern.len() - off)
            .min((self.total - self.pos) as usize);
        buf[..n].copy_from_slice(&self.pattern[off..off + n]);
        if self.pos == 0 && n >= 8 {
            buf[..8].copy_from_slice(&self.salt.to_le_bytes());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn simple_loop(dir: &Path, src: &mut dyn Read) -> Duration {
    let t = Instant::now();
    let tmp = dir.join("loop.tmp");
    let mut f = File::create(&tmp).unwrap();
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).unwrap();
    }
    f.sync_all().unwrap();
    let d = h.finish();
    let dest = dir.join(d.hex());
    fs::rename(&tmp, &dest).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
    let el = t.elapsed();
    fs::remove_file(&dest).unwrap();
    el
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let mib = env_u64("STORE_BENCH_MIB", 1024);
    let small = env_u64("STORE_BENCH_SMALL", 10_000) as usize;
    let total = mib << 20;
    let base = match std::env::var_os("STORE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => {
            let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
            fs::create_dir_all(&t).unwrap();
            tempfile::tempdir_in(t).unwrap()
        }
    };
    let pat = pattern(64 << 20);
    let src = |salt: u64| Source {
        pattern: &pat,
        total,
        pos: 0,
        salt,
    };
    println!(
        "store ingest benchmark: {mib} MiB blob, {small} x 4 KiB blobs, in {}",
        base.path().display()
    );

    // 1. The limit: hashing alone (the store's hasher and the sha2 0.10 crate, same bytes).
    let mut hash_only = Vec::new();
    let mut sha2_010 = Vec::new();
    for r in 0..3 {
        let mut s = src(r);
        let mut buf = vec![0u8; CHUNK];
        let t = Instant::now();
        let mut h = Hasher::new(Algorithm::Sha256);
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        std::hint::black_box(h.finish());
        hash_only.push(gbps(total, t.elapsed()));
        let mut s = src(r);
        let t = Instant::now();
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            sha2::Digest::update(&mut h, &buf[..n]);
        }
        std::hint::black_box(sha2::Digest::finalize(h));
        sha2_010.push(gbps(total, t.elapsed()));
    }
    let hash_only = median(hash_only);
    let sha2_010 = median(sha2_010);

    // 2. The simplest durable loop.
    let loop_dir = base.path().join("loop");
    fs::create_dir_all(&loop_dir).unwrap();
    let simple = median(
        (0..3)
            .map(|r| gbps(total, simple_loop(&loop_dir, &mut src(100 + r))))
            .collect(),
    );

    // 2b. The disk alone: write + fsync with no hashing (what durable ingest cannot beat).
    let disk_only = median(
        (0..3)
            .map(|r| {
                let mut s = src(150 + r);
                let t = Instant::now();
                let p = loop_dir.join("disk.tmp");
                let mut f = File::create(&p).unwrap();
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    f.write_all(&buf[..n]).unwrap();
                }
                f.sync_all().unwrap();
                let el = t.elapsed();
                fs::remove_file(&p).unwrap();
                gbps(total, el)
            })
            .collect(),
    );

    // 3. The store, durable.
    let store = Store::open(base.path().join("store")).unwrap();
    let mut store_runs = Vec::new();
    for r in 0..3 {
        let t = Instant::now();
        let out = store.put(&mut src(200 + r), None).unwrap();
        store_runs.push(gbps(total, t.elapsed()));
        store.delete(&out.digest).unwrap();
    }
    let store_gbps = median(store_runs);
    let relaxed_store = Store::open_with(
        base.path().join("store-relaxed"),
        StoreOptions {
            durability: Durability::Relaxed,
            ..Default::default()
        },
    )
    .unwrap();
    let mut relaxed_runs = Vec::new();
    for r in 0..3 {
        let t = Instant::now();
        let out = relaxed_store.put(&mut src(250 + r), None).unwrap();
        relaxed_runs.push(gbps(total, t.elapsed()));
        relaxed_store.delete(&out.digest).unwrap();
    }
    let relaxed_gbps = median(relaxed_runs);

    println!();
    println!("single stream, {mib} MiB, durable commit            GB/s");
    println!("  sha256 alone (store hasher, sha2 0.11 core)   {hash_only:8.3}");
    println!("  sha256 alone (sha2 0.10 Sha256)               {sha2_010:8.3}");
    println!("  simple loop: hash+write+fsync+rename+dirsync  {simple:8.3}");
    println!("  write + fsync alone, no hashing (disk limit)   {disk_only:8.3}");
    println!("  Store::put                                    {store_gbps:8.3}");
    println!("  Store::put, relaxed durability (no fsync)     {relaxed_gbps:8.3}");
    println!(
        "  ratio store / sha256 alone                    {:8.3}   (target >= 0.80)",
        store_gbps / hash_only
    );
    println!(
        "  ratio store / simple loop                     {:8.3}   (target >= 1.00)",
        store_gbps / simple
    );

    // 4. Many small blobs.
    let small_blob = |i: usize| {
        let mut b = pat[(i * 4096) % (60 << 20)..][..4096].to_vec();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        b
    };
    let blobs: Vec<Vec<u8>> = (0..small).map(small_blob).collect();
    let s1 = Store::open(base.path().join("small-each")).unwrap();
    let t = Instant::now();
    for b in &blobs {
        s1.put_bytes(b, None).unwrap();
    }
    let each = small as f64 / t.elapsed().as_secs_f64();
    let s2 = Store::open(base.path().join("small-batch")).unwrap();
    let t = Instant::now();
    for chunk in blobs.chunks(1000) {
        let mut batch = s2.batch();
        for b in chunk {
            batch.put_bytes(b, None).unwrap();
        }
        batch.commit().unwrap();
    }
    let grouped = small as f64 / t.elapsed().as_secs_f64();
    let relaxed_opts = StoreOptions {
        durability: Durability::Relaxed,
        ..Default::default()
    };
    let s3 = Store::open_with(base.path().join("small-relaxed"), relaxed_opts).unwrap();
    let t = Instant::now();
    for b in &blobs {
        s3.put_bytes(b, None).unwrap();
    }
    let relaxed = small as f64 / t.elapsed().as_secs_f64();
    println!();
    println!("{small} blobs of 4 KiB                                 blobs/s");
    println!("  durable, fsync per blob                       {each:8.0}");
    println!(
        "  durable, group commit (batches of 1000)       {grouped:8.0}   ({:.1}x)",
        grouped / each
    );
    println!("  relaxed (no fsync), for reference             {relaxed:8.0}");

    // 5. Two concurrent streams against one (half the size each, so the work per run is equal
    //    to one stream of the same total).
    let half = total / 2;
    let s4 = Store::open(base.path().join("streams")).unwrap();
    let mut one = Vec::new();
    let mut two = Vec::new();
    for r in 0..3 {
        let t = Instant::now();
        let a = s4
            .put(
                &mut Source {
                    pattern: &pat,
                    total: half,
                    pos: 0,
                    salt: 300 + r,
                },
                None,
            )
            .unwrap();
        let b = s4
            .put(
                &mut Source {
                    pattern: &pat,
                    total: half,
                    pos: 0,
                    salt: 400 + r,
                },
                None,
            )
            .unwrap();
        one.push(gbps(total, t.elapsed()));
        s4.delete(&a.digest).unwrap();
        s4.delete(&b.digest).unwrap();
        let t = Instant::now();
        let (a, b) = std::thread::scope(|sc| {
            let h1 = sc.spawn(|| {
                s4.put(
                    &mut Source {
                        pattern: &pat,
                        total: half,
                        pos: 0,
                        salt: 500 + r,
                    },
                    None,
                )
                .unwrap()
            });
            let h2 = sc.spawn(|| {
                s4.put(
                    &mut Source {
                        pattern: &pat,
                        total: half,
                        pos: 0,
                        salt: 600 + r,
                    },
                    None,
                )
                .unwrap()
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        two.push(gbps(total, t.elapsed()));
        s4.delete(&a.digest).unwrap();
        s4.delete(&b.digest).unwrap();
    }
    let (one, two) = (median(one), median(two));
    println!();
    println!("concurrent streams, {mib} MiB in total, durable      GB/s");
    println!("  one stream (two blobs one after the other)    {one:8.3}");
    println!("  two streams at once                           {two:8.3}");
    println!(
        "  ratio two / one                               {:8.3}   (target >= 1.70)",
        two / one
    );
    println!(
        "  cores: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}
