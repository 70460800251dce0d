//! The local time zone, for the local wall-clock time formats (`-t a`,
//! `ad`, `adoy`): the system's zone rules (TZ, /etc/localtime) by way of
//! the C library, per moment, so daylight saving time is right on each
//! side of a change.

/// The local zone's offset from UTC, in seconds, at `secs` since the epoch;
/// 0 (UTC) when the C library cannot say.
pub fn local_offset(secs: i64) -> i64 {
    // time_t is 64 bits on the platforms grpcscope builds for.
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into the tm it is given, which lives
    // on this stack frame; a null return leaves it unread.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_offset_is_within_a_day_and_the_epoch_is_representable() {
        for secs in [0, 1_795_544_640, -86_400] {
            let o = super::local_offset(secs);
            assert!(o.abs() <= 14 * 3600, "{o}");
        }
        // A year the C library cannot represent is UTC, not a panic.
        assert_eq!(super::local_offset(i64::MAX), 0);
    }
}
