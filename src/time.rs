//! Capture timestamps.
//!
//! Every layer carries time as [`Timestamp`], nanoseconds since the Unix
//! epoch, because pcap files may be written with nanosecond resolution and
//! rounding early would make two packets of a fast loopback exchange
//! indistinguishable. Output rounds to microseconds, as the JSON contract asks.

use std::fmt;

/// A capture timestamp: nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The timestamp `secs` seconds and `nanos` nanoseconds after the epoch.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Whole seconds since the epoch (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub fn subsec_nanos(self) -> i64 {
        self.0.rem_euclid(1_000_000_000)
    }

    /// Microseconds since the epoch, rounded to the nearest microsecond.
    pub fn micros(self) -> i64 {
        self.0.saturating_add(500).div_euclid(1_000)
    }

    /// Seconds since the epoch as a float, rounded to the microsecond.
    ///
    /// Computed as `micros / 1e6` so that the float is the nearest one to the
    /// decimal `secs.micros`, which JSON writers then print without noise
    /// digits.
    pub fn as_f64_micros(self) -> f64 {
        self.micros() as f64 / 1e6
    }

    /// `self - earlier` as a duration in nanoseconds (may be negative when a
    /// capture's timestamps go backwards).
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self - earlier` in milliseconds, at microsecond precision.
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        (self.micros().saturating_sub(earlier.micros())) as f64 / 1e3
    }

    /// This timestamp moved by `nanos` nanoseconds.
    pub fn add_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// Wall-clock time of day in UTC, `HH:MM:SS.ffffff`, the way tcpdump prints it.
    pub fn clock(self) -> String {
        let day_secs = self.secs().rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            day_secs / 3600,
            (day_secs / 60) % 60,
            day_secs % 60,
            self.subsec_nanos() / 1_000
        )
    }
}

impl Timestamp {
    /// The UTC calendar date, `YYYY-MM-DD` (proleptic Gregorian, the
    /// days-from-civil inverse of Howard Hinnant's algorithm).
    pub fn date(self) -> String {
        date_of_secs(self.secs())
    }
}

/// The UTC calendar date of `secs` seconds since the epoch, `YYYY-MM-DD`:
/// for dates a [`Timestamp`] cannot hold (a certificate valid until 4096).
pub fn date_of_secs(secs: i64) -> String {
    let z = secs.div_euclid(86_400).saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

impl fmt::Display for Timestamp {
    /// `seconds.microseconds`, like the JSON output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros();
        write!(f, "{}.{:06}", us.div_euclid(1_000_000), us.rem_euclid(1_000_000))
    }
}

impl serde::Serialize for Timestamp {
    /// JSON carries capture timestamps as Unix seconds with microsecond precision.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64_micros())
    }
}

/// Formats a duration in nanoseconds the way people read them: `850us`,
/// `12.4ms`, `3.20s`.
pub fn human_duration(nanos: i64) -> String {
    let abs = nanos.unsigned_abs();
    let sign = if nanos < 0 { "-" } else { "" };
    if abs < 1_000 {
        format!("{sign}{abs}ns")
    } else if abs < 1_000_000 {
        format!("{sign}{}us", abs / 1_000)
    } else if abs < 1_000_000_000 {
        format!("{sign}{:.1}ms", abs as f64 / 1e6)
    } else {
        format!("{sign}{:.2}s", abs as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_across_leap_years_and_the_epoch() {
        assert_eq!(Timestamp::from_parts(0, 0).date(), "1970-01-01");
        assert_eq!(Timestamp::from_parts(951_782_400, 0).date(), "2000-02-29");
        assert_eq!(Timestamp::from_parts(1_796_223_564, 0).date(), "2026-12-02");
        assert_eq!(Timestamp::from_parts(-1, 0).date(), "1969-12-31");
        assert_eq!(date_of_secs(67_767_976_233_532_799), "2147483647-12-31", "far past a Timestamp");
        assert_eq!(date_of_secs(64_092_211_200), "4001-01-01");
        let _ = (date_of_secs(i64::MAX), date_of_secs(i64::MIN));
    }

    #[test]
    fn micros_round_half_up_and_display() {
        let t = Timestamp::from_parts(1_700_000_000, 123_456_789);
        assert_eq!(t.micros(), 1_700_000_000_123_457);
        assert_eq!(t.to_string(), "1700000000.123457");
        assert_eq!(t.as_f64_micros().to_string(), "1700000000.123457");
    }

    #[test]
    fn negative_durations_and_clock() {
        let a = Timestamp::from_parts(10, 0);
        let b = Timestamp::from_parts(9, 500_000_000);
        assert_eq!(b.nanos_since(a), -500_000_000);
        assert_eq!(human_duration(-500_000_000), "-500.0ms");
        assert_eq!(Timestamp::from_parts(3661, 5_000).clock(), "01:01:01.000005");
    }
}
