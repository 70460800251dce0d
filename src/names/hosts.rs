//! `--names FILE`: a hosts file (`/etc/hosts` syntax: an address, then
//! names; `#` starts a comment). The first name of a line is the address's
//! name; the first line naming an address wins, as in `/etc/hosts`.

use super::{printable, Name, NameSource};
use std::net::IpAddr;

/// A line that is not `ADDRESS NAME...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsError {
    /// 1-based.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for HostsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// The entries of a hosts file.
pub fn parse(text: &str) -> Result<Vec<(IpAddr, Name)>, HostsError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(addr) = words.next() else { continue };
        let err = |why: String| HostsError { line: i + 1, why };
        // A zone index (fe80::1%eth0) names the interface, not the address.
        let ip: IpAddr = addr
            .split('%')
            .next()
            .unwrap_or(addr)
            .parse()
            .map_err(|_| err(format!("{addr:?} is not an IP address (expected: ADDRESS NAME...)")))?;
        let name = words.next().ok_or_else(|| err(format!("{addr} has no name")))?;
        if !printable(name) {
            return Err(err(format!("the name of {addr} is not printable ASCII of at most 255 bytes")));
        }
        out.push((ip, Name::new(name, NameSource::Hosts)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_their_first_names_comments_and_blanks_skipped() {
        let text =
            "# ingress\n127.0.0.1 localhost\n\n10.0.0.7  nginx-ingress  ingress # the proxy\nfe80::1%eth0 router\n";
        let entries = parse(text).unwrap();
        let names: Vec<(String, &str)> = entries.iter().map(|(ip, n)| (ip.to_string(), n.name.as_str())).collect();
        assert_eq!(
            names,
            [("127.0.0.1".into(), "localhost"), ("10.0.0.7".into(), "nginx-ingress"), ("fe80::1".into(), "router")]
        );
    }

    #[test]
    fn a_bad_line_is_named_with_what_is_wrong() {
        assert_eq!(
            parse("10.0.0.1 a\nnot-an-ip b\n").unwrap_err().to_string(),
            "line 2: \"not-an-ip\" is not an IP address (expected: ADDRESS NAME...)"
        );
        assert_eq!(parse("10.0.0.1\n").unwrap_err().to_string(), "line 1: 10.0.0.1 has no name");
        assert!(parse("10.0.0.1 a\u{7}b\n").is_err());
    }
}
