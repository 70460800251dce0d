use super::*;

#[test]
fn bytes_that_are_not_records_stop_the_direction() {
    let mut conn = TlsConn::new(Arc::default());
    let mut out = Vec::new();
    conn.data(Dir::ToServer, Timestamp::default(), 0, b"\x16\x03\x01\xff\xffxx", 1, &mut out);
    assert!(conn.summary().records_lost, "a record longer than 2^14 + 2048 is not TLS");
    assert!(out.is_empty());
}

fn cert(validity: crate::tls::Validity) -> crate::tls::CertInfo {
    crate::tls::CertInfo {
        subject: "CN=a".into(),
        issuer: "CN=b".into(),
        san: Vec::new(),
        not_before: 0,
        not_after: 1,
        validity,
        is_ca: false,
    }
}

#[test]
fn a_silent_close_after_the_certificate_is_a_marked_inference() {
    let mut s = TlsSummary { version: Some("TLS 1.2".into()), ..Default::default() };
    assert_eq!(s.probable_rejection(), None, "no certificate seen, nothing to infer");
    s.server_certificates.push(cert(crate::tls::Validity::Valid));
    let why = s.probable_rejection().unwrap();
    assert!(why.contains("probably rejected it") && why.ends_with("(inferred)"), "{why}");
    // Going on with the handshake, or saying why in an alert, is no rejection to guess.
    s.client_change_cipher_spec = true;
    assert_eq!(s.probable_rejection(), None);
    s.client_change_cipher_spec = false;
    s.alerts.push(TlsAlert { from: "client", level: "fatal", description: "bad_certificate".into(), ts: Timestamp(0) });
    assert_eq!(s.probable_rejection(), None);
    // TLS 1.3 hides the certificate and what follows it: nothing to infer from.
    let t = TlsSummary {
        version: Some("TLS 1.3".into()),
        server_certificates: vec![cert(crate::tls::Validity::Valid)],
        ..Default::default()
    };
    assert_eq!(t.probable_rejection(), None);
}

#[test]
fn certificate_lines_name_leaf_and_chain_of_each_side() {
    let s = TlsSummary {
        server_certificates: vec![cert(crate::tls::Validity::Expired), cert(crate::tls::Validity::Valid)],
        client_certificates: vec![cert(crate::tls::Validity::NotYetValid)],
        ..Default::default()
    };
    let lines = s.certificate_lines();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("server certificate leaf: CN=a (issuer CN=b), EXPIRED"), "{}", lines[0]);
    assert!(lines[1].starts_with("server certificate chain: "));
    assert!(lines[2].starts_with("client certificate leaf: ") && lines[2].contains("NOT YET VALID"));
}

#[test]
fn http2_only_where_alpn_chose_it_or_said_nothing() {
    let with = |alpn: Option<&str>, offered: &[&str]| TlsSummary {
        alpn: alpn.map(str::to_string),
        alpn_offered: offered.iter().map(|s| s.to_string()).collect(),
        decryption: Decryption::Decrypted,
        ..Default::default()
    };
    assert!(with(Some("h2"), &["h2", "http/1.1"]).speaks_h2());
    assert!(!with(Some("http/1.1"), &["h2", "http/1.1"]).speaks_h2());
    assert!(with(None, &["h2"]).speaks_h2(), "TLS 1.3 without the EncryptedExtensions: what was offered");
    assert!(!with(None, &["http/1.1"]).speaks_h2());
    assert!(with(None, &[]).speaks_h2(), "no ALPN at all: HTTP/2 is tried");
    let d = with(Some("http/1.1"), &["http/1.1"]).describe();
    assert!(d.ends_with("decrypted; ALPN http/1.1 is not HTTP/2: its bytes are not decoded"), "{d}");
}
