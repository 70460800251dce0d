//! One TLS connection: records reassembled from each direction's byte
//! stream, the handshake followed in clear, and with keys from the
//! [`KeyStore`], records decrypted in order and their application data
//! handed up as a plaintext byte stream per direction.
//!
//! Without keys the connection is still described ([`TlsSummary`]):
//! version, suite, SNI, ALPN, alerts, records each way. A wrong key is an
//! authentication failure, counted and noted, never garbage handed up.

use super::crypto::{RecordKeys, Suite};
use super::handshake::{self, content, kind, ClientHello, ServerHello};
use super::keylog::{KeyStore, Secrets};
use crate::exchange::{Carrier, Span};
use crate::tcp::Dir;
use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;

/// The largest record body: 2^14 plus TLS 1.2's 2048 bytes of expansion.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Handshake messages larger than this (a certificate chain is a few kB)
/// are skipped, not buffered.
const MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;
/// Encrypted bytes kept per connection while its keys are not known yet
/// (a live key log may deliver them late); past it they are dropped and
/// the direction is not decrypted.
const MAX_HELD: usize = 4 << 20;

/// What the layer above receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutput {
    /// Decrypted application data of `dir`, at `offset` in its plaintext stream.
    Plain {
        /// Direction.
        dir: Dir,
        /// Capture time of the packet that completed the record.
        ts: Timestamp,
        /// Offset in the direction's plaintext stream.
        offset: u64,
        /// The bytes.
        data: Bytes,
        /// Packet that completed the record.
        packet: u64,
        /// The record that carried them, where it was captured.
        carrier: Arc<Carrier>,
    },
    /// Plaintext of `dir` that cannot be recovered (records lost or undecryptable).
    Gap {
        /// Direction.
        dir: Dir,
        /// When it was noticed.
        ts: Timestamp,
        /// Offset in the plaintext stream.
        offset: u64,
        /// Bytes lost (the ciphertext's length: an upper bound).
        len: u64,
    },
}

/// One step of a TLS connection, for teaching (`explain`): a handshake
/// message, a ChangeCipherSpec, an alert, or keys taking effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsStep {
    /// Who sent it.
    pub dir: Dir,
    /// Capture time of the record that completed it.
    pub ts: Timestamp,
    /// What it was.
    pub kind: StepKind,
    /// Whether it travelled encrypted (and was decrypted to be seen).
    pub decrypted: bool,
}

/// What a [`TlsStep`] was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A handshake message, by type (see [`handshake::message_name`]),
    /// with what it said that matters (names, version, suite).
    Handshake(u8, String),
    /// TLS 1.2's ChangeCipherSpec: this side encrypts from here on.
    ChangeCipherSpec,
    /// An alert: level and name.
    Alert(&'static str, String),
    /// Keys from the key log took effect for this direction: the labels
    /// of the secrets they came from.
    Keys(&'static str),
}

/// Steps kept per connection at most (a handshake has about a dozen; a
/// flood of KeyUpdates or alerts is cut, not stored).
const MAX_STEPS: usize = 64;

/// An alert, as sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TlsAlert {
    /// Who sent it: `client` or `server`.
    pub from: &'static str,
    /// `warning` or `fatal`; `unknown` when it was encrypted and not decrypted.
    pub level: &'static str,
    /// Its name (`certificate_required`, ...), or `encrypted`.
    pub description: String,
    /// Capture time.
    #[serde(skip)]
    pub ts: Timestamp,
}

impl TlsAlert {
    /// A fatal alert ends the connection: a failed handshake, or a torn-down one.
    pub fn is_fatal(&self) -> bool {
        self.level == "fatal"
    }
}

/// Whether and how the connection was decrypted.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Decryption {
    /// Nothing encrypted was seen (or the handshake was not captured).
    #[default]
    NotNeeded,
    /// Records were decrypted.
    Decrypted,
    /// The key log has no secret for this handshake's client random.
    NoKey,
    /// The handshake's start was not captured: no client random to look up.
    NoHandshake,
    /// The cipher suite is not one grpcscope decrypts.
    UnsupportedSuite,
    /// A key was found but records did not authenticate with it.
    AuthenticationFailed,
}

/// What is known about a TLS connection.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TlsSummary {
    /// `TLS 1.3`, `TLS 1.2`, ...
    pub version: Option<String>,
    /// The cipher suite's IANA name.
    pub cipher_suite: Option<String>,
    /// SNI.
    pub server_name: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol the server chose (TLS 1.3: known only after decryption).
    pub alpn: Option<String>,
    /// The server asked for another ClientHello (HelloRetryRequest).
    pub hello_retry: bool,
    /// The session was resumed (pre-shared key, or a TLS 1.2 session id echoed).
    pub resumed: bool,
    /// Decryption outcome.
    pub decryption: Decryption,
    /// The first 8 hex digits of the client random (what a missing key is looked up by).
    pub client_random: Option<String>,
    /// Protected records (outer type application_data: in TLS 1.3 the
    /// encrypted handshake too) client to server and server to client.
    pub app_records: [u64; 2],
    /// Records that failed authentication.
    pub auth_failures: u64,
    /// KeyUpdates followed.
    pub key_updates: u64,
    /// Alerts, in order.
    pub alerts: Vec<TlsAlert>,
    /// Seconds from the ClientHello to the client's first protected record
    /// (its Finished in TLS 1.3): the handshake's duration.
    pub handshake_seconds: Option<f64>,
    /// Records lost to gaps, oversize or bytes that are not TLS.
    pub records_lost: bool,
    /// The server's certificate chain, leaf first (TLS 1.2 in the clear,
    /// TLS 1.3 once decrypted).
    pub server_certificates: Vec<crate::tls::CertInfo>,
    /// The client's (mTLS), likewise.
    pub client_certificates: Vec<crate::tls::CertInfo>,
    /// TLS 1.2: the client sent its ChangeCipherSpec (it accepted the
    /// server's certificate and went on with the handshake).
    pub client_change_cipher_spec: bool,
}

impl TlsSummary {
    /// Whether the decrypted bytes are HTTP/2: the ALPN protocol chosen is
    /// h2, or (not known) the client offered it, or offered nothing at all
    /// (then HTTP/2 is tried, as `--h2-port` would).
    pub fn speaks_h2(&self) -> bool {
        match &self.alpn {
            Some(p) => p == "h2",
            None => self.alpn_offered.is_empty() || self.alpn_offered.iter().any(|p| p == "h2"),
        }
    }

    /// The fatal alerts, in order.
    pub fn fatal_alerts(&self) -> impl Iterator<Item = &TlsAlert> {
        self.alerts.iter().filter(|a| a.is_fatal())
    }

    /// Application data went by that was not decrypted: calls are missing.
    pub fn undecrypted(&self) -> bool {
        self.app_records.iter().any(|n| *n > 0) && self.decryption != Decryption::Decrypted
    }

    /// One line for people: version, suite, names, timing, and whether and
    /// why not it was decrypted.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!(
            "{} {}",
            self.version.as_deref().unwrap_or("TLS (handshake not captured)"),
            self.cipher_suite.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string()];
        if let Some(sni) = &self.server_name {
            parts.push(format!("SNI {sni}"));
        }
        match (&self.alpn, self.alpn_offered.is_empty()) {
            (Some(a), _) => parts.push(format!("ALPN {a} (offered {})", self.alpn_offered.join(","))),
            (None, false) => parts.push(format!("ALPN offered {}", self.alpn_offered.join(","))),
            (None, true) => {}
        }
        if self.hello_retry {
            parts.push("HelloRetryRequest".into());
        }
        if self.resumed {
            parts.push("resumed session".into());
        }
        if let Some(s) = self.handshake_seconds {
            parts.push(format!("handshake {}", crate::time::human_duration((s * 1e9) as i64)));
        }
        parts.push(format!("{}/{} encrypted records c/s", self.app_records[0], self.app_records[1]));
        if self.key_updates > 0 {
            parts.push(format!("{} KeyUpdate(s)", self.key_updates));
        }
        let random = self.client_random.as_deref().unwrap_or("?");
        let why = match self.decryption {
            Decryption::Decrypted if !self.speaks_h2() => {
                format!(
                    "decrypted; ALPN {} is not HTTP/2: its bytes are not decoded",
                    self.alpn.as_deref().unwrap_or("?")
                )
            }
            Decryption::Decrypted => "decrypted".to_string(),
            Decryption::NotNeeded => String::new(),
            // A handshake that failed before any protected record has nothing to decrypt.
            Decryption::NoKey if self.app_records == [0, 0] => "no encrypted data sent".into(),
            Decryption::NoKey => format!("encrypted: no key for client random {random}…; pass --tls-keylog"),
            Decryption::NoHandshake => "encrypted: the handshake was not captured, so no key can be found".into(),
            Decryption::UnsupportedSuite => "encrypted with a cipher suite grpcscope does not decrypt".into(),
            Decryption::AuthenticationFailed => {
                format!(
                    "{} record(s) failed authentication: the key for client random {random}… is wrong",
                    self.auth_failures
                )
            }
        };
        if !why.is_empty() {
            parts.push(why);
        }
        parts.join(", ")
    }

    /// The certificates in plain words, one line each, the peer's leaf first.
    pub fn certificate_lines(&self) -> Vec<String> {
        let side = |who: &str, chain: &[crate::tls::CertInfo]| {
            chain
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{who} certificate {}: {}", if i == 0 { "leaf" } else { "chain" }, c.describe()))
                .collect::<Vec<_>>()
        };
        [side("server", &self.server_certificates), side("client", &self.client_certificates)].concat()
    }

    /// An inference, marked as one: a TLS 1.2 client that received the
    /// server's certificate and closed without an alert or its
    /// ChangeCipherSpec most likely refused the certificate.
    pub fn probable_rejection(&self) -> Option<&'static str> {
        let tls12 = self.version.as_deref() == Some("TLS 1.2");
        let silent = self.fatal_alerts().next().is_none();
        (tls12 && silent && !self.server_certificates.is_empty() && !self.client_change_cipher_spec && !self.resumed)
            .then_some(
                "the client closed right after the server's certificate, without an alert: it probably rejected it (inferred)",
            )
    }

    /// An inference, marked as one: a TLS 1.3 connection not decrypted
    /// that carried at most two protected records each way (the
    /// handshake's own flights and an alert fit; a call needs more) most
    /// likely failed its handshake. Its alert is encrypted, so the why is
    /// in the key log.
    pub fn probable_tls13_failure(&self) -> Option<String> {
        let tls13 = self.version.as_deref() == Some("TLS 1.3");
        let [c, s] = self.app_records;
        (tls13 && self.decryption != Decryption::Decrypted && c <= 2 && s <= 2 && c + s > 0).then(|| {
            format!(
                "closed after only {c}/{s} encrypted records c/s: the TLS handshake probably failed \
                 (inferred; TLS 1.3 encrypts its alert: pass --tls-keylog to read it)"
            )
        })
    }

    /// The alerts in plain words, with what each usually means.
    pub fn alert_lines(&self) -> Vec<String> {
        self.alerts
            .iter()
            .map(|a| {
                let meaning = alert_meaning(&a.description);
                format!(
                    "{} sent alert {} {}{}",
                    a.from,
                    a.level,
                    a.description,
                    meaning.map(|m| format!(": {m}")).unwrap_or_default()
                )
            })
            .collect()
    }
}

/// What an alert usually means for a gRPC connection.
pub fn alert_meaning(name: &str) -> Option<&'static str> {
    Some(match name {
        "certificate_required" => "the client presented no certificate (mTLS)",
        "unknown_ca" => "the peer's certificate is not signed by a CA it trusts",
        "bad_certificate" => "the peer rejected the certificate",
        "certificate_expired" => "a certificate has expired",
        "handshake_failure" => "no cipher suite or parameters in common",
        "protocol_version" => "no TLS version in common",
        "no_application_protocol" => "no ALPN protocol in common (gRPC needs h2)",
        "unrecognized_name" => "the server has no certificate for the SNI name",
        "decrypt_error" | "bad_record_mac" => "a signature or record failed to verify",
        "close_notify" => "an orderly close",
        _ => return None,
    })
}

#[derive(Default)]
struct Side {
    /// Bytes of an incomplete record.
    buf: Vec<u8>,
    /// Records are protected now.
    protected: bool,
    keys: Option<RecordKeys>,
    /// TLS 1.2: keys that take effect at this side's ChangeCipherSpec.
    pending: Option<RecordKeys>,
    /// TLS 1.3: the handshake is over for this side (its Finished was sent).
    finished: bool,
    hs: Vec<u8>,
    plain_offset: u64,
    /// The stream cannot be followed further.
    lost: bool,
    /// Records waiting for keys.
    held: Vec<Held>,
    /// Offset of `buf`'s first byte in the direction's TCP byte stream.
    buf_offset: u64,
    /// Where each segment in `buf` starts and its packet (the first may
    /// start before `buf`): a record's first packet is looked up here.
    segs: Vec<(u64, u64)>,
    /// Records seen so far.
    records: u64,
}

impl Side {
    /// The packet holding stream byte `at` of this direction.
    fn packet_at(&self, at: u64) -> u64 {
        self.segs.iter().rev().find(|(start, _)| *start <= at).map_or(0, |(_, p)| *p)
    }

    /// `n` bytes of `buf` were handled: segments wholly before it go.
    fn consumed(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.buf_offset += n as u64;
        let keep_from = self.segs.iter().rposition(|(start, _)| *start <= self.buf_offset).unwrap_or(0);
        self.segs.drain(..keep_from);
    }
}

/// A record waiting for its keys, or being opened.
struct Held {
    ts: Timestamp,
    header: [u8; 5],
    body: Vec<u8>,
    packet: u64,
    origin: Origin,
}

/// Where a record was captured.
#[derive(Clone)]
struct Origin {
    seq: u64,
    /// Offset of its header in the TCP byte stream.
    offset: u64,
    first_packet: u64,
    /// Header and ciphertext, when the chain keeps them.
    captured: Option<Bytes>,
}

/// A TLS connection's record layer.
pub struct TlsConn {
    keys: Arc<KeyStore>,
    sides: [Side; 2],
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    secrets: Option<Secrets>,
    held_bytes: usize,
    hello_ts: Option<Timestamp>,
    summary: TlsSummary,
    /// Steps not yet taken by the layer above, and how many were made.
    steps: Vec<TlsStep>,
    steps_made: usize,
    /// The record being handled was decrypted.
    in_decrypted: bool,
    /// Keep each decrypted record's captured bytes in its [`Carrier`].
    keep_captured: bool,
}

impl TlsConn {
    /// A connection whose client's first bytes were captured.
    pub fn new(keys: Arc<KeyStore>) -> Self {
        TlsConn {
            keys,
            sides: Default::default(),
            client_hello: None,
            server_hello: None,
            secrets: None,
            held_bytes: 0,
            hello_ts: None,
            summary: TlsSummary::default(),
            steps: Vec::new(),
            steps_made: 0,
            in_decrypted: false,
            keep_captured: false,
        }
    }

    /// Keeps each decrypted record's captured bytes (header and ciphertext)
    /// in its carrier, for viewers that show them beside the plaintext.
    pub fn keeping_captured_bytes(mut self, keep: bool) -> Self {
        self.keep_captured = keep;
        self
    }

    /// What is known so far.
    pub fn summary(&self) -> &TlsSummary {
        &self.summary
    }

    /// The steps made since the last call (handshake messages, alerts,
    /// keys taking effect), in order.
    pub fn take_steps(&mut self) -> Vec<TlsStep> {
        std::mem::take(&mut self.steps)
    }

    fn step(&mut self, dir: Dir, ts: Timestamp, kind: StepKind) {
        if self.steps_made < MAX_STEPS {
            self.steps_made += 1;
            // Keys taking effect is no record of the capture, decrypted or not.
            let decrypted = self.in_decrypted && !matches!(kind, StepKind::Keys(_));
            self.steps.push(TlsStep { dir, ts, kind, decrypted });
        }
    }

    /// The ALPN protocol chosen, or offered when the choice is not known.
    pub fn speaks_h2(&self) -> bool {
        self.summary.speaks_h2()
    }

    /// In-order bytes of `dir`, at `offset` in its TCP byte stream, from
    /// packet number `packet`.
    #[allow(clippy::too_many_arguments)]
    pub fn data(&mut self, dir: Dir, ts: Timestamp, offset: u64, data: &[u8], packet: u64, out: &mut Vec<TlsOutput>) {
        self.retry_held(out);
        let side = pick(&mut self.sides, dir);
        if side.lost {
            return;
        }
        if side.buf.is_empty() {
            side.buf_offset = offset;
            side.segs.clear();
        }
        side.segs.push((offset, packet));
        side.buf.extend_from_slice(data);
        let keep = self.keep_captured;
        let mut at = 0;
        loop {
            let side = pick(&mut self.sides, dir);
            let Some(header) = side.buf.get(at..at + 5).and_then(|h| <[u8; 5]>::try_from(h).ok()) else { break };
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if !(20..=24).contains(&header[0]) || header[1] != 3 || len > MAX_RECORD {
                side.lost = true;
                side.buf.clear();
                self.summary.records_lost = true;
                return;
            }
            let Some(body) = side.buf.get(at + 5..at + 5 + len) else { break };
            let body = body.to_vec();
            let start = side.buf_offset + at as u64;
            let captured = keep.then(|| Bytes::copy_from_slice(side.buf.get(at..at + 5 + len).unwrap_or(&[])));
            let origin = Origin { seq: side.records, offset: start, first_packet: side.packet_at(start), captured };
            side.records += 1;
            at += 5 + len;
            self.record(dir, Held { ts, header, body, packet, origin }, out);
        }
        pick(&mut self.sides, dir).consumed(at);
    }

    /// `len` bytes of `dir` were not captured: its records cannot be
    /// followed (TLS 1.3's nonces count records), so the rest of it is lost.
    pub fn gap(&mut self, dir: Dir, ts: Timestamp, len: u64, out: &mut Vec<TlsOutput>) {
        let side = pick(&mut self.sides, dir);
        if !side.lost {
            side.lost = true;
            side.buf.clear();
            self.summary.records_lost = true;
            out.push(TlsOutput::Gap { dir, ts, offset: side.plain_offset, len });
        }
    }

    fn record(&mut self, dir: Dir, rec: Held, out: &mut Vec<TlsOutput>) {
        let (ts, header) = (rec.ts, rec.header);
        let side = pick(&mut self.sides, dir);
        match header[0] {
            content::CHANGE_CIPHER_SPEC => {
                // TLS 1.2: this side's records are protected from here on.
                // (TLS 1.3 sends one for middleboxes only.)
                if self.summary.version.as_deref() != Some("TLS 1.3") {
                    side.protected = true;
                    side.keys = side.pending.take();
                    let keyed = side.keys.is_some();
                    if dir == Dir::ToServer {
                        self.summary.client_change_cipher_spec = true;
                    }
                    self.step(dir, ts, StepKind::ChangeCipherSpec);
                    if keyed {
                        self.step(dir, ts, StepKind::Keys("CLIENT_RANDOM"));
                    }
                }
                return;
            }
            content::APPLICATION_DATA => {
                *pick(&mut self.summary.app_records, dir) += 1;
                // The client's first protected record ends the handshake:
                // its Finished (TLS 1.3) or its first data after it (1.2).
                if dir == Dir::ToServer && self.summary.handshake_seconds.is_none() {
                    self.summary.handshake_seconds = self.hello_ts.map(|h| ts.millis_since(h) / 1000.0);
                }
            }
            _ => {}
        }
        if !pick_ref(&self.sides, dir).protected {
            return self.clear_record(dir, ts, header[0], &rec.body);
        }
        if pick_ref(&self.sides, dir).keys.is_none() && !self.install_keys(dir, ts) {
            return self.hold(dir, rec);
        }
        self.open(dir, rec, out);
    }

    fn clear_record(&mut self, dir: Dir, ts: Timestamp, kind: u8, body: &[u8]) {
        match kind {
            content::HANDSHAKE => self.handshake_bytes(dir, ts, body),
            content::ALERT => self.alert(dir, ts, body),
            // Application data in clear: the handshake was not captured.
            content::APPLICATION_DATA if self.summary.decryption == Decryption::NotNeeded => {
                self.summary.decryption = Decryption::NoHandshake;
            }
            _ => {}
        }
    }

    fn open(&mut self, dir: Dir, rec: Held, out: &mut Vec<TlsOutput>) {
        let Held { ts, header, mut body, packet, origin } = rec;
        let side = pick(&mut self.sides, dir);
        let Some(keys) = side.keys.as_mut() else { return };
        let opened = match keys.open(&header, &mut body) {
            Ok(r) => Some(r),
            // A TLS 1.3 Finished that was not seen leaves a side on its
            // handshake keys: its traffic keys are the next to try.
            Err(_) => self.traffic_keys(dir).and_then(|mut k| {
                let r = k.open(&header, &mut body).ok()?;
                let side = pick(&mut self.sides, dir);
                side.keys = Some(k);
                side.finished = true;
                Some(r)
            }),
        };
        let Some((range, inner)) = opened else {
            self.summary.auth_failures += 1;
            if self.summary.decryption != Decryption::Decrypted {
                self.summary.decryption = Decryption::AuthenticationFailed;
            }
            return;
        };
        self.summary.decryption = Decryption::Decrypted;
        let kind = inner.unwrap_or(header[0]);
        let plain_at = 5 + range.start as u32;
        let plain = body.get(range).unwrap_or(&[]);
        match kind {
            content::APPLICATION_DATA => {
                let side = pick(&mut self.sides, dir);
                let offset = side.plain_offset;
                side.plain_offset += plain.len() as u64;
                if !plain.is_empty() {
                    let carrier = Arc::new(Carrier {
                        seq: origin.seq,
                        span: Span { dir, offset: origin.offset, len: 5 + header_len(&header), packet },
                        first_packet: origin.first_packet,
                        plain: offset..side.plain_offset,
                        plain_at,
                        captured_bytes: origin.captured,
                    });
                    out.push(TlsOutput::Plain {
                        dir,
                        ts,
                        offset,
                        data: Bytes::copy_from_slice(plain),
                        packet,
                        carrier,
                    });
                }
            }
            content::HANDSHAKE | content::ALERT => {
                let plain = plain.to_vec();
                self.in_decrypted = true;
                if kind == content::HANDSHAKE {
                    self.handshake_bytes(dir, ts, &plain);
                } else {
                    self.alert(dir, ts, &plain);
                }
                self.in_decrypted = false;
            }
            _ => {}
        }
    }

    /// Keys for `dir` from the secrets of this handshake, when known.
    fn install_keys(&mut self, dir: Dir, ts: Timestamp) -> bool {
        let (Some(ch), Some(sh)) = (&self.client_hello, &self.server_hello) else {
            self.summary.decryption = Decryption::NoHandshake;
            return false;
        };
        let Some(suite) = Suite::from_id(sh.suite) else {
            self.summary.decryption = Decryption::UnsupportedSuite;
            return false;
        };
        if self.secrets.is_none() {
            self.secrets = self.keys.get(&ch.random);
        }
        let Some(secrets) = &self.secrets else {
            self.summary.decryption = Decryption::NoKey;
            return false;
        };
        let (label, keys) = if sh.version == 0x0304 {
            let secret = match dir {
                Dir::ToServer => &secrets.client_handshake,
                Dir::ToClient => &secrets.server_handshake,
            };
            match secret {
                Some(s) => (handshake_label(dir), RecordKeys::tls13(suite, s)),
                // Only the traffic secrets (a key log written after the handshake).
                None => (traffic_label(dir), self.traffic_keys(dir)),
            }
        } else {
            let keys = secrets.master.as_ref().and_then(|m| RecordKeys::tls12(suite, m, &ch.random, &sh.random)).map(
                |(c, s)| match dir {
                    Dir::ToServer => c,
                    Dir::ToClient => s,
                },
            );
            ("CLIENT_RANDOM", keys)
        };
        let Some(keys) = keys else {
            self.summary.decryption = Decryption::NoKey;
            return false;
        };
        pick(&mut self.sides, dir).keys = Some(keys);
        self.step(dir, ts, StepKind::Keys(label));
        true
    }

    fn traffic_keys(&self, dir: Dir) -> Option<RecordKeys> {
        let side = &pick_ref(&self.sides, dir);
        let sh = self.server_hello.as_ref().filter(|sh| sh.version == 0x0304 && !side.finished)?;
        let secrets = self.secrets.as_ref()?;
        let secret = match dir {
            Dir::ToServer => secrets.client_traffic.as_ref(),
            Dir::ToClient => secrets.server_traffic.as_ref(),
        }?;
        RecordKeys::tls13(Suite::from_id(sh.suite)?, secret)
    }

    fn hold(&mut self, dir: Dir, rec: Held) {
        if self.held_bytes + rec.body.len() > MAX_HELD {
            pick(&mut self.sides, dir).lost = true;
            self.summary.records_lost = true;
            return;
        }
        self.held_bytes += rec.body.len();
        pick(&mut self.sides, dir).held.push(rec);
    }

    /// Records held for keys are decrypted once the key store has them (a
    /// live key log is appended to after the handshake).
    fn retry_held(&mut self, out: &mut Vec<TlsOutput>) {
        if self.held_bytes == 0 || self.client_hello.as_ref().is_none_or(|ch| self.keys.get(&ch.random).is_none()) {
            return;
        }
        for dir in [Dir::ToServer, Dir::ToClient] {
            let held = std::mem::take(&mut pick(&mut self.sides, dir).held);
            for rec in held {
                self.held_bytes = self.held_bytes.saturating_sub(rec.body.len());
                if pick_ref(&self.sides, dir).keys.is_some() || self.install_keys(dir, rec.ts) {
                    self.open(dir, rec, out);
                }
            }
        }
    }

    /// The capture ended: records still held are retried one last time.
    pub fn finish(&mut self, out: &mut Vec<TlsOutput>) {
        self.retry_held(out);
    }

    fn handshake_bytes(&mut self, dir: Dir, ts: Timestamp, bytes: &[u8]) {
        let side = pick(&mut self.sides, dir);
        side.hs.extend_from_slice(bytes);
        loop {
            let side = pick(&mut self.sides, dir);
            let Some(&[t, a, b, c]) = side.hs.get(..4) else { return };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len > MAX_HANDSHAKE_MESSAGE {
                side.hs.clear();
                return;
            }
            let Some(body) = side.hs.get(4..4 + len) else { return };
            let body = body.to_vec();
            side.hs.drain(..4 + len);
            self.message(dir, ts, t, &body);
        }
    }

    fn message(&mut self, dir: Dir, ts: Timestamp, t: u8, body: &[u8]) {
        // A Finished or KeyUpdate changes keys: the step comes before the
        // keys it brings. Other messages are told with what they set.
        if matches!(t, kind::FINISHED | kind::KEY_UPDATE) {
            self.step(dir, ts, StepKind::Handshake(t, String::new()));
            self.message_effects(dir, ts, t, body);
        } else {
            self.message_effects(dir, ts, t, body);
            let detail = self.message_detail(dir, t);
            self.step(dir, ts, StepKind::Handshake(t, detail));
        }
    }

    /// What a handshake message just told, for its step.
    fn message_detail(&self, dir: Dir, t: u8) -> String {
        let s = &self.summary;
        match t {
            kind::CLIENT_HELLO => format!(
                "SNI {}, ALPN offered {}, client random {}…",
                s.server_name.as_deref().unwrap_or("(none)"),
                if s.alpn_offered.is_empty() { "(none)".to_string() } else { s.alpn_offered.join(",") },
                s.client_random.as_deref().unwrap_or("?")
            ),
            kind::SERVER_HELLO if s.hello_retry && self.server_hello.is_none() => "HelloRetryRequest".into(),
            kind::SERVER_HELLO => {
                format!("{}, {}", s.version.as_deref().unwrap_or("?"), s.cipher_suite.as_deref().unwrap_or("?"))
            }
            kind::ENCRYPTED_EXTENSIONS => format!("ALPN {}", s.alpn.as_deref().unwrap_or("(none)")),
            kind::CERTIFICATE => {
                let chain = if dir == Dir::ToClient { &s.server_certificates } else { &s.client_certificates };
                match chain.first() {
                    Some(leaf) => format!("{} certificate(s), leaf {}", chain.len(), leaf.describe()),
                    None => "no certificate".into(),
                }
            }
            _ => String::new(),
        }
    }

    fn message_effects(&mut self, dir: Dir, ts: Timestamp, t: u8, body: &[u8]) {
        match (dir, t) {
            (Dir::ToServer, kind::CLIENT_HELLO) => {
                if let Some(ch) = handshake::client_hello(body) {
                    self.hello_ts.get_or_insert(ts);
                    self.summary.server_name = ch.server_name.clone();
                    self.summary.alpn_offered = ch.alpn.clone();
                    self.summary.client_random = Some(ch.random.iter().take(4).map(|b| format!("{b:02x}")).collect());
                    self.secrets = None;
                    self.client_hello = Some(ch);
                }
            }
            (Dir::ToClient, kind::SERVER_HELLO) => self.server_hello_seen(body),
            (Dir::ToClient, kind::ENCRYPTED_EXTENSIONS) => {
                if let Some(alpn) = handshake::encrypted_extensions_alpn(body) {
                    self.summary.alpn = Some(alpn);
                }
            }
            (_, kind::FINISHED) if self.summary.version.as_deref() == Some("TLS 1.3") => {
                // This side's next records use its application traffic keys.
                let next = self.traffic_keys(dir);
                if next.is_some() {
                    self.step(dir, ts, StepKind::Keys(traffic_label(dir)));
                }
                let side = pick(&mut self.sides, dir);
                side.finished = true;
                side.keys = next;
            }
            (_, kind::CERTIFICATE) => {
                let tls13 = self.summary.version.as_deref() == Some("TLS 1.3");
                let chain: Vec<_> = handshake::certificate_entries(body, tls13, crate::tls::cert::MAX_CHAIN)
                    .into_iter()
                    .filter_map(|der| crate::tls::cert::parse(der, ts.secs()))
                    .collect();
                match dir {
                    Dir::ToClient => self.summary.server_certificates = chain,
                    Dir::ToServer => self.summary.client_certificates = chain,
                }
            }
            (_, kind::KEY_UPDATE) => {
                let side = pick(&mut self.sides, dir);
                side.keys = side.keys.as_ref().and_then(RecordKeys::updated);
                self.summary.key_updates += 1;
            }
            _ => {}
        }
    }

    fn server_hello_seen(&mut self, body: &[u8]) {
        let Some(sh) = handshake::server_hello(body) else { return };
        self.summary.version = Some(handshake::version_name(sh.version));
        self.summary.cipher_suite = Some(handshake::suite_name(sh.suite));
        if sh.retry_request {
            // A second ClientHello follows, then the real ServerHello.
            self.summary.hello_retry = true;
            return;
        }
        // TLS 1.2 has no resumption flag: the server echoing the session id
        // the client offered is the sign (RFC 5246 §7.4.1.3).
        let echoed =
            self.client_hello.as_ref().is_some_and(|c| !c.session_id.is_empty() && c.session_id == sh.session_id);
        self.summary.resumed = sh.psk_accepted || (sh.version != 0x0304 && echoed);
        if sh.alpn.is_some() {
            self.summary.alpn = sh.alpn.clone();
        }
        let tls13 = sh.version == 0x0304;
        self.server_hello = Some(sh);
        if tls13 {
            // Everything after the ServerHello is protected, both ways.
            for side in &mut self.sides {
                side.protected = true;
            }
        } else if let (Some(ch), Some(sh)) = (&self.client_hello, &self.server_hello) {
            if self.secrets.is_none() {
                self.secrets = self.keys.get(&ch.random);
            }
            let keys = Suite::from_id(sh.suite).zip(self.secrets.as_ref().and_then(|s| s.master.clone()));
            match keys.and_then(|(suite, m)| RecordKeys::tls12(suite, &m, &ch.random, &sh.random)) {
                Some((c, s)) => {
                    pick(&mut self.sides, Dir::ToServer).pending = Some(c);
                    pick(&mut self.sides, Dir::ToClient).pending = Some(s);
                }
                None => {
                    self.summary.decryption = if Suite::from_id(sh.suite).is_none() {
                        Decryption::UnsupportedSuite
                    } else {
                        Decryption::NoKey
                    }
                }
            }
        }
    }

    fn alert(&mut self, dir: Dir, ts: Timestamp, body: &[u8]) {
        let from = match dir {
            Dir::ToServer => "client",
            Dir::ToClient => "server",
        };
        let (level, description) = match body {
            [1, d] => ("warning", handshake::alert_name(*d)),
            [2, d] => ("fatal", handshake::alert_name(*d)),
            _ => ("unknown", "encrypted".to_string()),
        };
        self.step(dir, ts, StepKind::Alert(level, description.clone()));
        if self.summary.alerts.len() < 16 {
            self.summary.alerts.push(TlsAlert { from, level, description, ts });
        }
    }
}

/// The key log label of `dir`'s TLS 1.3 handshake traffic secret.
fn handshake_label(dir: Dir) -> &'static str {
    match dir {
        Dir::ToServer => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        Dir::ToClient => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    }
}

/// The key log label of `dir`'s first TLS 1.3 application traffic secret.
fn traffic_label(dir: Dir) -> &'static str {
    match dir {
        Dir::ToServer => "CLIENT_TRAFFIC_SECRET_0",
        Dir::ToClient => "SERVER_TRAFFIC_SECRET_0",
    }
}

/// The element of a (client to server, server to client) pair for `dir`.
/// The body length a record header gives.
fn header_len(header: &[u8; 5]) -> u64 {
    u64::from(u16::from_be_bytes([header[3], header[4]]))
}

fn pick<T>(pair: &mut [T; 2], dir: Dir) -> &mut T {
    let [to_server, to_client] = pair;
    match dir {
        Dir::ToServer => to_server,
        Dir::ToClient => to_client,
    }
}

fn pick_ref<T>(pair: &[T; 2], dir: Dir) -> &T {
    let [to_server, to_client] = pair;
    match dir {
        Dir::ToServer => to_server,
        Dir::ToClient => to_client,
    }
}

#[cfg(test)]
mod tests;
