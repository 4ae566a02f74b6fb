//! What a tar stream is wrapped in: plain, gzip (decoded, under an expansion limit), or a format
//! the import names and refuses (zstd, xz, bzip2). Detection is by magic bytes, never by name.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use super::BundleOptions;

/// The compression of a tar stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// An uncompressed tar.
    Plain,
    /// gzip (also multi-member): supported.
    Gzip,
    /// Zstandard: refused with its name.
    Zstd,
    /// xz: refused with its name.
    Xz,
    /// bzip2: refused with its name.
    Bzip2,
}

impl Compression {
    /// Recognises the magic bytes at the start of a stream.
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::Plain
        }
    }

    /// Why a compression is refused, or `None` if it is supported.
    pub(crate) fn refusal(self) -> Option<&'static str> {
        let name = match self {
            Compression::Plain | Compression::Gzip => return None,
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        };
        Some(match name {
            "zstd" => {
                "a zstd-compressed tar, which is not supported: decompress it (zstd -d) or use a plain or gzip tar"
            }
            "xz" => {
                "an xz-compressed tar, which is not supported: decompress it (xz -d) or use a plain or gzip tar"
            }
            _ => {
                "a bzip2-compressed tar, which is not supported: decompress it (bunzip2) or use a plain or gzip tar"
            }
        })
    }
}

/// Shared between the two counting readers: bytes in (compressed) and out (decoded), and the
/// reason the limit tripped, if it did.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    compressed: Cell<u64>,
    decoded: Cell<u64>,
    tripped: std::cell::RefCell<Option<String>>,
}

impl Meter {
    /// Why the stream was cut, if the expansion limit cut it.
    pub(crate) fn tripped(&self) -> Option<String> {
        self.tripped.borrow().clone()
    }
}

/// Counts the compressed bytes the decoder consumes.
struct CountIn<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: BufRead> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter
            .compressed
            .set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountIn<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.meter
            .compressed
            .set(self.meter.compressed.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// Decoded bytes, cut off once they exceed the ratio or the absolute limit.
struct Limited<R> {
    inner: R,
    meter: Rc<Meter>,
    max_ratio: u64,
    max_total: u64,
}

/// Decoded bytes always allowed before the ratio applies (headers and small JSON compress far
/// better than image layers).
const RATIO_SLACK: u64 = 16 << 20;

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let out = self.meter.decoded.get() + n as u64;
        self.meter.decoded.set(out);
        let inp = self.meter.compressed.get();
        let reason = if out > self.max_total {
            Some(format!(
                "the gzip stream expands to more than {} bytes (the expansion limit)",
                self.max_total
            ))
        } else if out > RATIO_SLACK && out > inp.saturating_mul(self.max_ratio) {
            Some(format!(
                "the gzip stream expands more than {}x ({inp} compressed bytes gave {out}); a \
                 decompression bomb or a bundle needing a higher expansion limit",
                self.max_ratio
            ))
        } else {
            None
        };
        if let Some(r) = reason {
            *self.meter.tripped.borrow_mut() = Some(r.clone());
            return Err(io::Error::other(r));
        }
        Ok(n)
    }
}

/// A decoded tar stream and the meter watching it.
pub(crate) struct Decoded<'r> {
    /// The plain tar bytes.
    pub(crate) reader: Box<dyn Read + 'r>,
    /// Counters of the expansion limit (zero for a plain tar).
    pub(crate) meter: Rc<Meter>,
}

/// Wraps `reader` according to its magic bytes. `Err(reason)` for a refused compression.
pub(crate) fn decode<'r>(
    mut reader: Box<dyn BufRead + 'r>,
    opts: &BundleOptions,
) -> io::Result<std::result::Result<Decoded<'r>, &'static str>> {
    let head = reader.fill_buf()?;
    let kind = Compression::sniff(head);
    if let Some(reason) = kind.refusal() {
        return Ok(Err(reason));
    }
    let meter = Rc::new(Meter::default());
    let reader: Box<dyn Read + 'r> = if kind == Compression::Gzip {
        let counted = CountIn {
            inner: reader,
            meter: meter.clone(),
        };
        Box::new(Limited {
            inner: flate2::bufread::MultiGzDecoder::new(counted),
            meter: meter.clone(),
            max_ratio: opts.max_expansion_ratio.max(1),
            max_total: opts.max_expanded_bytes,
        })
    } else {
        reader
    };
    Ok(Ok(Decoded { reader, meter }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"\xfd7zXZ\x00\x00"), Compression::Xz);
        assert_eq!(Compression::sniff(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(Compression::sniff(b"oci-layout\0"), Compression::Plain);
        assert!(Compression::Zstd.refusal().unwrap().contains("zstd"));
        assert!(Compression::Gzip.refusal().is_none());
    }

    #[test]
    fn gzip_bomb_is_cut() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 64 << 20]).unwrap();
        let bytes = gz.finish().unwrap();
        let opts = BundleOptions::default();
        let d = decode(Box::new(io::Cursor::new(bytes)), &opts)
            .unwrap()
            .unwrap();
        let mut r = d.reader;
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("expands more than 100x"), "{err}");
        assert!(d.meter.tripped().is_some());
    }
}
