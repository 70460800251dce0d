//! Certificates of a TLS handshake: who they name, who signed them, for
//! which names and how long, judged at the time of the capture. TLS 1.2
//! sends them in the clear; TLS 1.3 only encrypted, so they are read once
//! the handshake is decrypted.
//!
//! The DER is parsed by x509-parser (rusticata's, fuzzed upstream); this
//! module keeps the few facts an SRE asks about a failed handshake.

use serde::Serialize;

/// Certificates kept per side: a chain is rarely longer than four.
pub const MAX_CHAIN: usize = 8;

/// Longest name kept (subject, issuer, each SAN), in bytes.
const MAX_NAME: usize = 256;

/// Subject alternative names kept per certificate.
const MAX_SANS: usize = 16;

/// What a certificate says, and whether it was valid when captured.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's distinguished name (`CN=inventory.fixtures.internal`).
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// DNS names, IP addresses and URIs it is valid for.
    pub san: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// `valid`, `expired` or `not_yet_valid` at the capture's time.
    pub validity: Validity,
    /// A CA certificate (basic constraints).
    pub is_ca: bool,
}

/// A certificate's validity at the time it was captured.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    /// Inside its validity period.
    Valid,
    /// Past its notAfter: a peer that checks it refuses the handshake.
    Expired,
    /// Before its notBefore (often a clock skew between hosts).
    NotYetValid,
}

fn bounded(s: String) -> String {
    if s.len() <= MAX_NAME {
        return s;
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

/// Parses one DER certificate, judged at `captured` (Unix seconds);
/// `None` when it is not a certificate x509-parser can read.
pub fn parse(der: &[u8], captured: i64) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    let (not_before, not_after) = (validity.not_before.timestamp(), validity.not_after.timestamp());
    let validity = if captured > not_after {
        Validity::Expired
    } else if captured < not_before {
        Validity::NotYetValid
    } else {
        Validity::Valid
    };
    Some(CertInfo {
        subject: bounded(cert.subject().to_string()),
        issuer: bounded(cert.issuer().to_string()),
        san: sans(&cert),
        not_before,
        not_after,
        validity,
        is_ca: cert.is_ca(),
    })
}

fn sans(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(ext)) = cert.subject_alternative_name() else { return Vec::new() };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
            GeneralName::URI(u) => Some(format!("URI:{u}")),
            GeneralName::RFC822Name(m) => Some(format!("email:{m}")),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => <[u8; 4]>::try_from(*ip).ok().map(|a| format!("IP:{}", std::net::Ipv4Addr::from(a))),
                16 => <[u8; 16]>::try_from(*ip).ok().map(|a| format!("IP:{}", std::net::Ipv6Addr::from(a))),
                _ => None,
            },
            _ => None,
        })
        .take(MAX_SANS)
        .map(bounded)
        .collect()
}

impl CertInfo {
    /// One line for people: subject, SANs, issuer, validity.
    pub fn describe(&self) -> String {
        let until = crate::time::date_of_secs(self.not_after);
        let mut s = format!("{} (issuer {})", self.subject, self.issuer);
        if !self.san.is_empty() {
            s.push_str(&format!(", SAN {}", self.san.join(" ")));
        }
        match self.validity {
            Validity::Valid => s.push_str(&format!(", valid until {until}")),
            Validity::Expired => s.push_str(&format!(", EXPIRED at capture time (not after {until})")),
            Validity::NotYetValid => {
                let from = crate::time::date_of_secs(self.not_before);
                s.push_str(&format!(", NOT YET VALID at capture time (not before {from}: a clock skew?)"))
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate for `name` valid during 2020, made by rcgen (a dev-dependency).
    fn cert_of_2020(name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string(), "10.0.0.7".to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_is_judged_at_the_capture_time() {
        let der = cert_of_2020("api.example.internal");
        let at = |y: i64| (y - 1970) * 365 * 86_400 + 86_400 * 30;
        let c = parse(&der, at(2020)).unwrap();
        assert_eq!(c.subject, "CN=api.example.internal");
        assert_eq!(c.san, ["DNS:api.example.internal", "IP:10.0.0.7"]);
        assert_eq!(c.validity, Validity::Valid);
        assert_eq!(crate::time::date_of_secs(c.not_after), "2021-01-01");
        let expired = parse(&der, at(2026)).unwrap();
        assert_eq!(expired.validity, Validity::Expired);
        assert!(
            expired.describe().contains("EXPIRED at capture time (not after 2021-01-01)"),
            "{}",
            expired.describe()
        );
        assert_eq!(parse(&der, at(2019)).unwrap().validity, Validity::NotYetValid);
        // A certificate cut short is no certificate.
        assert_eq!(parse(&der[..der.len() / 2], at(2020)), None);
    }

    #[test]
    fn what_is_not_a_certificate_is_none() {
        assert_eq!(parse(b"not a certificate", 0), None);
        assert_eq!(parse(&[0x30, 0x82, 0xff, 0xff], 0), None);
    }

    #[test]
    fn long_names_are_cut_on_a_character() {
        let s = bounded("é".repeat(200));
        assert!(s.len() <= MAX_NAME + "…".len() && s.ends_with('…'));
    }
}
