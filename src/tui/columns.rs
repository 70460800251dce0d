//! How the Calls list spends the terminal's width: the number, time and
//! duration columns are fixed; METHOD and STATUS get what their rows need
//! (the rows on screen), and what is left goes to the first request. At 80
//! columns the connection and stream share one `C/S` column rather than
//! vanish, so two legs of one proxied call never look the same.

/// Terminals at least this wide show CONN, STRM, REQ and RESP apart.
pub const WIDE_FROM: usize = 100;
/// METHOD is never narrower than this (when the terminal allows).
const METHOD_MIN: usize = 12;
/// STATUS is never narrower than this (when the terminal allows).
const STATUS_MIN: usize = 16;
/// The first request gets a column only with at least this much room.
const FIRST_MIN: usize = 16;

/// Widths of the Calls list's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallColumns {
    /// `#`: the call's number, as `explain --call N` takes it.
    pub number: usize,
    /// CONN, STRM, REQ and RESP are separate columns.
    pub wide: bool,
    /// `C/S` (narrow terminals): connection and stream in one column.
    pub conn_stream: usize,
    /// METHOD.
    pub method: usize,
    /// STATUS.
    pub status: usize,
    /// FIRST REQUEST, 0 when there is no room for it.
    pub first: usize,
}

/// What the rows on screen need: the widest of each flexible column.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Digits of the largest call number.
    pub number: usize,
    /// The longest `conn/stream`.
    pub conn_stream: usize,
    /// The longest method.
    pub method: usize,
    /// The longest status.
    pub status: usize,
    /// The time column (the time format's width; 15 when 0).
    pub time: usize,
}

/// Lays the columns out in `width` characters.
pub fn fit(width: usize, needs: Needs) -> CallColumns {
    let wide = width >= WIDE_FROM;
    let number = needs.number.max(1);
    let conn_stream = if wide { 0 } else { needs.conn_stream.max(3) };
    // START, DURATION 8, and the spaces between columns.
    let time = if needs.time == 0 { 15 } else { needs.time };
    let fixed = number + 1 + time + 1 + 1 + 1 + 8 + if wide { 4 + 1 + 5 + 2 + 1 + 4 + 1 + 4 } else { conn_stream + 1 };
    let room = width.saturating_sub(fixed);
    let (method_need, status_need) = (needs.method.max("METHOD".len()), needs.status.max("STATUS".len()));
    let (method, status) = if method_need + status_need <= room {
        (method_need, status_need)
    } else {
        // Not both whole: the method first (its end names the call), up to
        // three fifths of the room; the status gets the rest, the code
        // before the cause in brackets.
        let method = method_need.min(room.saturating_sub(STATUS_MIN).max(METHOD_MIN.min(room))).min(room * 3 / 5);
        let method = method.max(METHOD_MIN.min(room.saturating_sub(STATUS_MIN.min(room))));
        (method, room.saturating_sub(method).min(status_need))
    };
    let left = room.saturating_sub(method + status);
    let first = if wide && left >= FIRST_MIN + 2 { left - 2 } else { 0 };
    CallColumns { number, wide, conn_stream, method, status, first }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEEDS: Needs = Needs { number: 3, conn_stream: 5, method: 40, status: 44, time: 15 };

    #[test]
    fn at_80_columns_connection_and_stream_share_a_column_and_nothing_overflows() {
        let c = fit(78, NEEDS);
        assert!(!c.wide);
        assert_eq!(c.conn_stream, 5);
        assert_eq!((c.method, c.status, c.first), (25, 17, 0));
        assert_eq!(c.number + 1 + 16 + c.conn_stream + 1 + c.method + 1 + c.status + 1 + 8, 78);
    }

    #[test]
    fn at_200_columns_status_is_whole_and_the_first_request_takes_the_rest() {
        let c = fit(198, NEEDS);
        assert!(c.wide);
        assert_eq!((c.method, c.status), (40, 44));
        assert_eq!(c.first, 198 - (3 + 49) - 40 - 44 - 2);
    }

    #[test]
    fn short_statuses_leave_the_method_its_whole_name() {
        let c = fit(98, Needs { status: 9, ..NEEDS });
        assert_eq!((c.method, c.status), (40, 9));
        let tiny = fit(20, NEEDS);
        assert!(tiny.method + tiny.status <= 20, "{tiny:?}");
        // A date in the time column (-t ud) takes its room from the method.
        assert_eq!(fit(90, Needs { status: 9, ..NEEDS }).method, 40);
        assert_eq!(fit(90, Needs { status: 9, time: 26, ..NEEDS }).method, 25);
    }
}
