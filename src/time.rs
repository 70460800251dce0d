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

/// How text output shows capture times: tshark's `-t` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// `a`: local time of day.
    Local,
    /// `ad`: local date and time.
    LocalDate,
    /// `adoy`: local year/day-of-year and time.
    LocalDayOfYear,
    /// `r`: seconds since the capture's first packet.
    Relative,
    /// `d`: seconds since the previous record, shown or not.
    Delta,
    /// `dd`: seconds since the previous record shown.
    DeltaShown,
    /// `e`: seconds since the Unix epoch.
    Epoch,
    /// `u`: UTC time of day (the default, as tcpdump prints).
    #[default]
    Utc,
    /// `ud`: UTC date and time.
    UtcDate,
    /// `udoy`: UTC year/day-of-year and time.
    UtcDayOfYear,
}

impl TimeFormat {
    /// Every format with its `-t` name, in tshark's order.
    pub const ALL: [(TimeFormat, &'static str); 10] = [
        (TimeFormat::Local, "a"),
        (TimeFormat::LocalDate, "ad"),
        (TimeFormat::LocalDayOfYear, "adoy"),
        (TimeFormat::Delta, "d"),
        (TimeFormat::DeltaShown, "dd"),
        (TimeFormat::Epoch, "e"),
        (TimeFormat::Relative, "r"),
        (TimeFormat::Utc, "u"),
        (TimeFormat::UtcDate, "ud"),
        (TimeFormat::UtcDayOfYear, "udoy"),
    ];

    /// The format `-t NAME` names.
    pub fn parse(name: &str) -> Option<TimeFormat> {
        TimeFormat::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// Its `-t` name.
    pub fn name(self) -> &'static str {
        TimeFormat::ALL.iter().find(|(f, _)| *f == self).map_or("u", |(_, n)| n)
    }

    /// The next format (the UI's key cycles through them).
    pub fn next(self) -> TimeFormat {
        let i = TimeFormat::ALL.iter().position(|(f, _)| *f == self).unwrap_or(0);
        TimeFormat::ALL.get((i + 1) % TimeFormat::ALL.len()).map_or(TimeFormat::Utc, |(f, _)| *f)
    }

    /// Whether it shows a time of day in the local zone.
    pub fn is_local(self) -> bool {
        matches!(self, TimeFormat::Local | TimeFormat::LocalDate | TimeFormat::LocalDayOfYear)
    }

    /// Characters its longest value takes (columns are this wide).
    pub fn width(self) -> usize {
        match self {
            TimeFormat::Local | TimeFormat::Utc => 15,
            TimeFormat::LocalDate | TimeFormat::UtcDate => 26,
            TimeFormat::LocalDayOfYear | TimeFormat::UtcDayOfYear => 24,
            TimeFormat::Epoch => 17,
            TimeFormat::Relative | TimeFormat::Delta | TimeFormat::DeltaShown => 15,
        }
    }
}

/// The offset from UTC, in seconds, of a zone at a moment (seconds since
/// the epoch): the local zone's comes from the system (a layer that may
/// read it), so that this layer stays pure.
pub type ZoneOffset = fn(i64) -> i64;

/// Shows timestamps in a [`TimeFormat`], keeping what relative and delta
/// times need: the capture's first packet and the previous records.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The format.
    pub format: TimeFormat,
    /// The local zone, for `a`, `ad` and `adoy` (UTC without one).
    pub zone: Option<ZoneOffset>,
    /// What `r` counts from: the capture's first packet (or, when not
    /// known, the first timestamp shown).
    pub origin: Option<Timestamp>,
    previous: Option<Timestamp>,
    previous_shown: Option<Timestamp>,
    /// The date of the last wall-clock time shown, to tell when it changes.
    last_date: Option<i64>,
}

impl Clock {
    /// A clock showing `format`.
    pub fn new(format: TimeFormat, zone: Option<ZoneOffset>) -> Clock {
        Clock { format, zone, origin: None, previous: None, previous_shown: None, last_date: None }
    }

    /// A record at `ts` went by, shown or not (`d` counts from it).
    pub fn saw(&mut self, ts: Timestamp) {
        self.origin.get_or_insert(ts);
        self.previous = Some(ts);
    }

    /// `ts` of a record shown, in the format: call after [`Clock::saw`] of
    /// the records before it, and instead of it for this one.
    pub fn show(&mut self, ts: Timestamp) -> String {
        let origin = *self.origin.get_or_insert(ts);
        let text = match self.format {
            TimeFormat::Relative => seconds(ts.nanos_since(origin)),
            TimeFormat::Delta => seconds(self.previous.map_or(0, |p| ts.nanos_since(p))),
            TimeFormat::DeltaShown => seconds(self.previous_shown.map_or(0, |p| ts.nanos_since(p))),
            TimeFormat::Epoch => ts.to_string(),
            f => self.wall(ts, f),
        };
        self.previous = Some(ts);
        self.previous_shown = Some(ts);
        text
    }

    /// `ts` in the format without moving the clock (a detail pane).
    pub fn peek(&self, ts: Timestamp) -> String {
        self.clone().show(ts)
    }

    /// Wall-clock formats: the zone's time of day, with the date when asked.
    fn wall(&mut self, ts: Timestamp, f: TimeFormat) -> String {
        let local = ts.add_nanos(self.offset_at(ts).saturating_mul(1_000_000_000));
        self.last_date = Some(local.secs().div_euclid(86_400));
        match f {
            TimeFormat::LocalDate | TimeFormat::UtcDate => format!("{} {}", local.date(), local.clock()),
            TimeFormat::LocalDayOfYear | TimeFormat::UtcDayOfYear => {
                let date = local.date();
                let year: i64 = date.get(..date.len().saturating_sub(6)).and_then(|y| y.parse().ok()).unwrap_or(1970);
                let jan1 = days_from_civil(year);
                let doy = local.secs().div_euclid(86_400) - jan1 + 1;
                format!("{year:04}/{doy:03} {}", local.clock())
            }
            _ => local.clock(),
        }
    }

    /// For time-of-day formats: the new date (`YYYY-MM-DD` and the zone)
    /// when `ts` falls on another day than the last time shown, so that a
    /// capture across midnight does not read as going back in time.
    pub fn date_change(&self, ts: Timestamp) -> Option<String> {
        if !matches!(self.format, TimeFormat::Utc | TimeFormat::Local) {
            return None;
        }
        let offset = self.offset_at(ts);
        let local = ts.add_nanos(offset.saturating_mul(1_000_000_000));
        let day = local.secs().div_euclid(86_400);
        let last = self.last_date?;
        (day != last).then(|| format!("{} ({})", local.date(), zone_name(offset)))
    }

    /// The line text listings print before the first record of a new day
    /// ([`Clock::date_change`]): `--- 2026-11-25 (UTC) ---`.
    pub fn date_line(&self, ts: Timestamp) -> Option<String> {
        self.date_change(ts).map(|date| format!("--- {date} ---"))
    }

    /// The zone the wall-clock formats are in: `UTC`, `UTC+01:00`.
    pub fn zone_text(&self, at: Timestamp) -> String {
        zone_name(self.offset_at(at))
    }

    /// Seconds the format's zone is ahead of UTC at `ts`: the local zone's
    /// for the local formats (0 without one), 0 for all others.
    fn offset_at(&self, ts: Timestamp) -> i64 {
        match self.zone {
            Some(z) if self.format.is_local() => z(ts.secs()),
            _ => 0,
        }
    }
}

/// `UTC` or `UTC+HH:MM`.
fn zone_name(offset: i64) -> String {
    if offset == 0 {
        return "UTC".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
}

/// Seconds with microseconds, tshark's relative and delta form: `0.000124`.
fn seconds(nanos: i64) -> String {
    let us = nanos.saturating_add(if nanos < 0 { -500 } else { 500 }) / 1_000;
    let sign = if us < 0 { "-" } else { "" };
    let a = us.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

/// Days from 1970-01-01 to January 1st of `year` (proleptic Gregorian).
fn days_from_civil(year: i64) -> i64 {
    let y = year - 1;
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = 306; // March 1st-based day of January 1st
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_format_reads_as_tsharks() {
        // 2026-11-24 18:24:00.950838 UTC, day 328 of the year.
        let t = Timestamp::from_parts(1_795_544_640, 950_838_000);
        let later = t.add_nanos(1_500_000);
        let show = |f: TimeFormat| {
            let mut c = Clock::new(f, Some(|_| 3600));
            c.origin = Some(t.add_nanos(-2_000_000));
            c.saw(t.add_nanos(-1_000));
            c.show(t)
        };
        assert_eq!(show(TimeFormat::Utc), "18:24:00.950838");
        assert_eq!(show(TimeFormat::UtcDate), "2026-11-24 18:24:00.950838");
        assert_eq!(show(TimeFormat::UtcDayOfYear), "2026/328 18:24:00.950838");
        assert_eq!(show(TimeFormat::Local), "19:24:00.950838");
        assert_eq!(show(TimeFormat::LocalDate), "2026-11-24 19:24:00.950838");
        assert_eq!(show(TimeFormat::Epoch), "1795544640.950838");
        assert_eq!(show(TimeFormat::Relative), "0.002000");
        assert_eq!(show(TimeFormat::Delta), "0.000001");
        // dd counts from the last record shown, d from the last one seen.
        let mut c = Clock::new(TimeFormat::DeltaShown, None);
        assert_eq!(c.show(t), "0.000000");
        c.saw(t.add_nanos(1_000_000));
        assert_eq!(c.show(later), "0.001500");
        for (f, name) in TimeFormat::ALL {
            assert_eq!(TimeFormat::parse(name), Some(f));
            assert!(show(f).chars().count() <= f.width(), "{name}");
        }
        assert_eq!(TimeFormat::parse("x"), None);
    }

    #[test]
    fn a_capture_across_midnight_says_the_new_date_once() {
        let before = Timestamp::from_parts(1_795_564_799, 0); // 23:59:59 UTC
        let after = before.add_nanos(2_000_000_000);
        let mut c = Clock::new(TimeFormat::Utc, None);
        assert_eq!(c.date_change(before), None, "nothing shown yet");
        c.show(before);
        assert_eq!(c.date_change(before), None);
        assert_eq!(c.date_change(after).as_deref(), Some("2026-11-25 (UTC)"));
        assert_eq!(c.date_line(after).as_deref(), Some("--- 2026-11-25 (UTC) ---"));
        c.show(after);
        assert_eq!(c.date_change(after), None);
        assert_eq!(Clock::new(TimeFormat::Local, Some(|_| -18_000)).zone_text(after), "UTC-05:00");
    }

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
