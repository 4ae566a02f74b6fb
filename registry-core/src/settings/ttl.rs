//! The cache time-to-live of Proxy mode: `XhYmZs` with a floor of five minutes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long Proxy mode keeps cached content after its last use.
///
/// Written as `[<n>h][<n>m][<n>s]` (at least one part); at least 5 minutes; 168 hours when
/// unset. Displayed the way Go prints a duration (`168h0m0s`, `5m0s`), which the Go side of
/// the platform reads back unchanged.
///
/// ```
/// use registry_core::settings::Ttl;
/// let ttl: Ttl = "1h30m".parse().unwrap();
/// assert_eq!(ttl.as_secs(), 5400);
/// assert_eq!(ttl.to_string(), "1h30m0s");
/// assert!("4m59s".parse::<Ttl>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ttl(u64);

/// Why a TTL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// Not of the form `[<n>h][<n>m][<n>s]`, or too large.
    #[error("{0:?} is not a duration of the form [<n>h][<n>m][<n>s], e.g. \"24h\" or \"1h30m\"")]
    Syntax(String),
    /// Shorter than [`Ttl::MIN`].
    #[error("{0:?} is shorter than the minimum of 5m")]
    TooShort(String),
}

impl Ttl {
    /// The shortest TTL accepted: five minutes.
    pub const MIN: Ttl = Ttl(5 * 60);
    /// The TTL used when none is set: seven days.
    pub const DEFAULT: Ttl = Ttl(168 * 3600);

    /// The TTL in seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// The TTL as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl Default for Ttl {
    fn default() -> Self {
        Ttl::DEFAULT
    }
}

impl std::str::FromStr for Ttl {
    type Err = TtlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || TtlError::Syntax(s.to_owned());
        let mut rest = s;
        let mut total: u64 = 0;
        let mut seen_any = false;
        // Units must appear in this order, each at most once.
        for (unit, seconds) in [('h', 3600u64), ('m', 60), ('s', 1)] {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || rest.as_bytes().get(digits) != Some(&(unit as u8)) {
                continue;
            }
            let n: u64 = rest[..digits].parse().map_err(|_| syntax())?;
            let part = n.checked_mul(seconds).ok_or_else(syntax)?;
            total = total.checked_add(part).ok_or_else(syntax)?;
            rest = &rest[digits + 1..];
            seen_any = true;
        }
        // Go's time.Duration is int64 nanoseconds; keep what the Go side can represent.
        if !seen_any || !rest.is_empty() || total > i64::MAX as u64 / 1_000_000_000 {
            return Err(syntax());
        }
        if total < Ttl::MIN.0 {
            return Err(TtlError::TooShort(s.to_owned()));
        }
        Ok(Ttl(total))
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if h > 0 {
            write!(f, "{h}h{m}m{s}s")
        } else {
            write!(f, "{m}m{s}s")
        }
    }
}

impl fmt::Debug for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ttl({self})")
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<u64, TtlError> {
        s.parse::<Ttl>().map(Ttl::as_secs)
    }

    #[test]
    fn grammar() {
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("300s"), Ok(300));
        assert_eq!(secs("1h"), Ok(3600));
        assert_eq!(secs("2h3m4s"), Ok(7384));
        assert_eq!(secs("0h5m"), Ok(300));
        assert_eq!(secs("168h"), Ok(Ttl::DEFAULT.as_secs()));
        for bad in [
            "",
            "5",
            "m",
            "1d",
            "5m1h",
            "1h1h",
            "1.5h",
            "-5m",
            " 5m",
            "5m ",
            "5M",
            "1h30",
            "9999999999999999999h",
        ] {
            assert!(
                matches!(bad.parse::<Ttl>(), Err(TtlError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn five_minute_floor() {
        assert_eq!(secs("4m59s"), Err(TtlError::TooShort("4m59s".into())));
        assert_eq!(secs("299s"), Err(TtlError::TooShort("299s".into())));
        assert_eq!(secs("0s"), Err(TtlError::TooShort("0s".into())));
    }

    #[test]
    fn displays_like_go() {
        for (input, shown) in [
            ("5m", "5m0s"),
            ("168h", "168h0m0s"),
            ("1h30m", "1h30m0s"),
            ("3601s", "1h0m1s"),
        ] {
            assert_eq!(
                input.parse::<Ttl>().map(|t| t.to_string()),
                Ok(shown.to_owned())
            );
            assert_eq!(shown.parse::<Ttl>(), input.parse::<Ttl>());
        }
    }
}
