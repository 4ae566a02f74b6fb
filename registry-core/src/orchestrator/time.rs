//! Timestamps: whole seconds since the Unix epoch, written as RFC 3339 UTC
//! (`2026-12-01T10:00:00Z`, the form Kubernetes uses for `lastTransitionTime`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::utc::{civil_from_days, days_from_civil};

/// A point in time, to the second.
///
/// ```
/// use registry_core::orchestrator::Timestamp;
/// let t = Timestamp::from_unix(1_764_583_200);
/// assert_eq!(t.to_string(), "2025-12-01T10:00:00Z");
/// assert_eq!("2025-12-01T10:00:00Z".parse::<Timestamp>().unwrap(), t);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// This time plus `secs` seconds (saturating).
    pub fn plus(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Why a string is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an RFC 3339 UTC time like 2026-12-01T10:00:00Z")]
pub struct TimestampError {
    /// The string given.
    pub input: String,
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, TimestampError> {
        let bad = || TimestampError {
            input: s.to_owned(),
        };
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            s.get(r)
                .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        if h > 23 || mi > 59 || se > 60 {
            return Err(bad());
        }
        let days = days_from_civil(y, mo as u32, d as u32);
        Ok(Timestamp(days * 86_400 + h * 3600 + mi * 60 + se))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_leap_years_and_the_epoch() {
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400] {
            let ts = Timestamp(t);
            assert_eq!(ts.to_string().parse::<Timestamp>(), Ok(ts), "{ts}");
        }
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
    }
}
