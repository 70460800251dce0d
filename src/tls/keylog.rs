//! TLS secrets from NSS key log files (what SSLKEYLOGFILE writers, `--tls-keylog`
//! and a pcapng Decryption Secrets Block hold), by client random.
//!
//! Secrets are never printed: [`Secrets`] has no `Debug` that shows them,
//! and nothing here is serialized.

use std::collections::HashMap;
use std::sync::RwLock;

/// The secrets one handshake (one client random) left in a key log.
#[derive(Clone, Default)]
pub struct Secrets {
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
    /// TLS 1.2 `CLIENT_RANDOM`: the master secret.
    pub master: Option<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

/// Lines a key log may hold in total: one million handshakes' worth of
/// secrets is past any real key log; past it, lines are not kept (a hostile
/// Decryption Secrets Block cannot grow memory without bound).
const MAX_ENTRIES: usize = 1 << 22;

/// Every secret known, shared by the capture reader (which adds a pcapng's
/// Decryption Secrets Blocks as it meets them), a live key log follower and
/// the TLS decoders (which look their connection up).
#[derive(Default)]
pub struct KeyStore {
    by_random: RwLock<HashMap<[u8; 32], Secrets>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({} client randoms)", self.len())
    }
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the lines of an NSS key log; returns how many were used.
    /// Comments, blank lines, labels we do not use (early data, exporter)
    /// and malformed lines are skipped.
    pub fn add_text(&self, text: &str) -> usize {
        let Ok(mut map) = self.by_random.write() else { return 0 };
        let mut used = 0;
        for line in text.lines() {
            let mut words = line.split_ascii_whitespace();
            let (Some(label), Some(random), Some(secret), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                continue;
            };
            let (Some(random), Some(secret)) = (hex32(random), hex(secret)) else { continue };
            if map.len() >= MAX_ENTRIES && !map.contains_key(&random) {
                break;
            }
            let entry = map.entry(random).or_default();
            let slot = match label {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
                "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
                "SERVER_TRAFFIC_SECRET_0" => &mut entry.server_traffic,
                "CLIENT_RANDOM" => &mut entry.master,
                _ => continue,
            };
            *slot = Some(secret);
            used += 1;
        }
        used
    }

    /// The secrets of the handshake with this client random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        self.by_random.read().ok()?.get(client_random).cloned()
    }

    /// How many client randoms have secrets.
    pub fn len(&self) -> usize {
        self.by_random.read().map_or(0, |m| m.len())
    }

    /// Whether no secret is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 2 * 64 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(hex(s)?).ok()
}

/// Key logs found inside a capture (pcapng Decryption Secrets Blocks) go
/// to the same store as `--tls-keylog` files.
impl crate::capture::SecretsSink for KeyStore {
    fn add_key_log(&self, text: &str) -> usize {
        self.add_text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nss_key_log_lines() {
        let r = "11".repeat(32);
        let text = format!(
            "# comment\n\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\nEXPORTER_SECRET {r} 00\nCLIENT_RANDOM {} {}\nbad line\nCLIENT_RANDOM zz 00\n",
            "aa".repeat(48),
            "bb".repeat(48),
            "22".repeat(32),
            "cc".repeat(48)
        );
        let store = KeyStore::new();
        assert_eq!(store.add_text(&text), 3);
        let s = store.get(&[0x11; 32]).unwrap();
        assert_eq!(s.client_handshake.as_deref(), Some(&[0xaa; 48][..]));
        assert_eq!(s.server_traffic.as_deref(), Some(&[0xbb; 48][..]));
        assert!(s.client_traffic.is_none());
        assert_eq!(store.get(&[0x22; 32]).unwrap().master.as_deref(), Some(&[0xcc; 48][..]));
        assert_eq!(format!("{s:?}"), "Secrets(<redacted>)");
    }
}
