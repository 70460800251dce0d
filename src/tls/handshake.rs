//! The TLS messages read for what they say: ClientHello, ServerHello
//! (HelloRetryRequest included), EncryptedExtensions, alerts. Every length
//! is checked; a message cut short is `None`, never a panic.

/// Record content types (RFC 8446 §5.1).
pub mod content {
    /// ChangeCipherSpec.
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// Alert.
    pub const ALERT: u8 = 21;
    /// Handshake.
    pub const HANDSHAKE: u8 = 22;
    /// Application data.
    pub const APPLICATION_DATA: u8 = 23;
}

/// Handshake message types (RFC 8446 §4).
pub mod kind {
    /// ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// ServerHello (and HelloRetryRequest).
    pub const SERVER_HELLO: u8 = 2;
    /// NewSessionTicket.
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// EncryptedExtensions (TLS 1.3).
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    /// Certificate.
    pub const CERTIFICATE: u8 = 11;
    /// ServerKeyExchange (TLS 1.2).
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// CertificateRequest.
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// ServerHelloDone (TLS 1.2).
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// CertificateVerify.
    pub const CERTIFICATE_VERIFY: u8 = 15;
    /// ClientKeyExchange (TLS 1.2).
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// Finished.
    pub const FINISHED: u8 = 20;
    /// KeyUpdate (TLS 1.3).
    pub const KEY_UPDATE: u8 = 24;
}

/// A handshake message type's name.
pub fn message_name(t: u8) -> &'static str {
    match t {
        kind::CLIENT_HELLO => "ClientHello",
        kind::SERVER_HELLO => "ServerHello",
        kind::NEW_SESSION_TICKET => "NewSessionTicket",
        kind::ENCRYPTED_EXTENSIONS => "EncryptedExtensions",
        kind::CERTIFICATE => "Certificate",
        kind::SERVER_KEY_EXCHANGE => "ServerKeyExchange",
        kind::CERTIFICATE_REQUEST => "CertificateRequest",
        kind::SERVER_HELLO_DONE => "ServerHelloDone",
        kind::CERTIFICATE_VERIFY => "CertificateVerify",
        kind::CLIENT_KEY_EXCHANGE => "ClientKeyExchange",
        kind::FINISHED => "Finished",
        kind::KEY_UPDATE => "KeyUpdate",
        _ => "an unknown handshake message",
    }
}

/// A HelloRetryRequest is a ServerHello with this random (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ClientHello offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The client random (the key log's index).
    pub random: [u8; 32],
    /// The server name (SNI).
    pub server_name: Option<String>,
    /// ALPN protocols offered, in order.
    pub alpn: Vec<String>,
    /// Cipher suites offered.
    pub suites: Vec<u16>,
    /// A session id or a pre-shared key / ticket was offered (resumption attempted).
    pub resumption_offered: bool,
    /// The legacy session id (TLS 1.2 resumption when the server echoes it).
    pub session_id: Vec<u8>,
}

/// What a ServerHello chose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The cipher suite chosen.
    pub suite: u16,
    /// The version chosen: supported_versions when present (TLS 1.3), else the legacy field.
    pub version: u16,
    /// ALPN chosen (TLS 1.2 says it here; TLS 1.3 in EncryptedExtensions).
    pub alpn: Option<String>,
    /// This is a HelloRetryRequest: a second ClientHello follows.
    pub retry_request: bool,
    /// TLS 1.3: the server accepted a pre-shared key (resumption).
    pub psk_accepted: bool,
    /// The legacy session id echoed (TLS 1.2 resumption when it matches the client's).
    pub session_id: Vec<u8>,
}

/// Reads a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader::new(body);
    r.skip(2)?; // legacy version
    let random = r.array32()?;
    let session = r.vec8()?;
    let suites_bytes = r.vec16()?;
    let suites =
        suites_bytes.chunks_exact(2).filter_map(|c| <[u8; 2]>::try_from(c).ok()).map(u16::from_be_bytes).collect();
    r.vec8()?; // compression methods
    let mut hello = ClientHello {
        random,
        suites,
        resumption_offered: !session.is_empty(),
        session_id: session.to_vec(),
        ..Default::default()
    };
    for (kind, data) in extensions(r.rest()) {
        match kind {
            0 => hello.server_name = server_name(data),
            16 => hello.alpn = alpn_list(data),
            35 if !data.is_empty() => hello.resumption_offered = true,
            41 => hello.resumption_offered = true,
            _ => {}
        }
    }
    Some(hello)
}

/// Reads a ServerHello body.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader::new(body);
    let legacy = r.u16()?;
    let random = r.array32()?;
    let session_id = r.vec8()?.to_vec();
    let suite = r.u16()?;
    r.skip(1)?; // compression
    let mut hello = ServerHello {
        random,
        suite,
        version: legacy,
        retry_request: random == HRR_RANDOM,
        session_id,
        ..Default::default()
    };
    for (kind, data) in extensions(r.rest()) {
        match kind {
            43 => {
                if let Ok(v) = <[u8; 2]>::try_from(data) {
                    hello.version = u16::from_be_bytes(v);
                }
            }
            16 => hello.alpn = alpn_list(data).into_iter().next(),
            41 => hello.psk_accepted = true,
            _ => {}
        }
    }
    Some(hello)
}

/// The ALPN protocol an EncryptedExtensions message chose.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let mut r = Reader::new(body);
    let exts = r.vec16()?;
    extensions_of(exts).find(|(k, _)| *k == 16).and_then(|(_, d)| alpn_list(d).into_iter().next())
}

/// The DER certificates of a Certificate message, leaf first, at most
/// `max`. TLS 1.3 adds a request context before the list and extensions
/// after each entry (RFC 8446 §4.4.2); TLS 1.2 has neither (RFC 5246 §7.4.2).
pub fn certificate_entries(body: &[u8], tls13: bool, max: usize) -> Vec<&[u8]> {
    let mut r = Reader::new(body);
    if tls13 && r.vec8().is_none() {
        return Vec::new();
    }
    let mut list = Reader::new(r.vec24().unwrap_or(&[]));
    std::iter::from_fn(|| {
        let der = list.vec24()?;
        if tls13 {
            list.vec16()?;
        }
        Some(der)
    })
    .take(max)
    .collect()
}

/// The extensions block at `b` (a 2-byte length, then the extensions).
fn extensions(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(b);
    extensions_of(r.vec16().unwrap_or(&[]))
}

fn extensions_of(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(b);
    std::iter::from_fn(move || {
        let kind = r.u16()?;
        let data = r.vec16()?;
        Some((kind, data))
    })
}

fn server_name(data: &[u8]) -> Option<String> {
    let mut r = Reader::new(data);
    let mut list = Reader::new(r.vec16()?);
    while let Some(name_type) = list.u8() {
        let name = list.vec16()?;
        if name_type == 0 {
            return std::str::from_utf8(name).ok().map(str::to_string);
        }
    }
    None
}

fn alpn_list(data: &[u8]) -> Vec<String> {
    let mut r = Reader::new(data);
    let mut list = Reader::new(r.vec16().unwrap_or(&[]));
    std::iter::from_fn(|| list.vec8()).map(|p| String::from_utf8_lossy(p).into_owned()).take(64).collect()
}

/// A version number's name (`TLS 1.3`, ...).
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLS 1.3".into(),
        0x0303 => "TLS 1.2".into(),
        0x0302 => "TLS 1.1".into(),
        0x0301 => "TLS 1.0".into(),
        0x0300 => "SSL 3.0".into(),
        other => format!("0x{other:04x}"),
    }
}

/// A cipher suite's IANA name, for the ones gRPC peers negotiate.
pub fn suite_name(id: u16) -> String {
    match id {
        0x1301 => "TLS_AES_128_GCM_SHA256".into(),
        0x1302 => "TLS_AES_256_GCM_SHA384".into(),
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256".into(),
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into(),
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".into(),
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".into(),
        other => format!("0x{other:04x}"),
    }
}

/// An alert description's name (RFC 8446 §6).
pub fn alert_name(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        other => return format!("alert {other}"),
    };
    name.into()
}

/// A bounds-checked cursor.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes)
    }
    fn array32(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
    fn vec24(&mut self) -> Option<&'a [u8]> {
        let len = self.take(3)?;
        let n = len.iter().fold(0usize, |n, b| n << 8 | usize::from(*b));
        self.take(n)
    }

    fn rest(&self) -> &'a [u8] {
        self.b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::client_hello::tests_support::client_hello as hello_record;

    #[test]
    fn a_client_hello_names_its_server() {
        let rec = hello_record("api.example.test");
        let hello = client_hello(&rec[9..]).unwrap();
        assert_eq!(hello.server_name.as_deref(), Some("api.example.test"));
        assert_eq!(hello.random, [7; 32]);
        assert_eq!(hello.suites, vec![0x1301]);
        assert!(client_hello(&rec[9..40]).is_none());
    }

    #[test]
    fn a_server_hello_with_supported_versions_is_tls13() {
        let mut body = vec![3, 3];
        body.extend_from_slice(&HRR_RANDOM);
        body.extend_from_slice(&[0, 0x13, 0x02, 0]);
        body.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
        let hello = server_hello(&body).unwrap();
        assert_eq!((hello.version, hello.suite, hello.retry_request), (0x0304, 0x1302, true));
        assert_eq!(suite_name(hello.suite), "TLS_AES_256_GCM_SHA384");
        assert_eq!(alert_name(116), "certificate_required");
    }
}
