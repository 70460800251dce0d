use super::*;

#[test]
fn bytes_that_are_not_records_stop_the_direction() {
    let mut conn = TlsConn::new(Arc::default());
    let mut out = Vec::new();
    conn.data(Dir::ToServer, Timestamp::default(), b"\x16\x03\x01\xff\xffxx", 1, &mut out);
    assert!(conn.summary().records_lost, "a record longer than 2^14 + 2048 is not TLS");
    assert!(out.is_empty());
}
