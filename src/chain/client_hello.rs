//! Just enough TLS to name what an encrypted connection was for: the
//! server name (SNI) in the ClientHello. Nothing is decrypted.

/// The SNI host name in a ClientHello at the start of `b`, if complete there.
pub fn server_name(b: &[u8]) -> Option<String> {
    let mut r = Reader { b, at: 0 };
    if r.u8()? != 0x16 {
        return None;
    }
    r.skip(4)?; // version, record length
    if r.u8()? != 0x01 {
        return None; // not a ClientHello
    }
    r.skip(3 + 2 + 32)?; // handshake length, client version, random
    let session = usize::from(r.u8()?);
    r.skip(session)?;
    let suites = usize::from(r.u16()?);
    r.skip(suites)?;
    let compression = usize::from(r.u8()?);
    r.skip(compression)?;
    let ext_end = r.at + usize::from(r.u16()?);
    while r.at + 4 <= ext_end {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if kind == 0 {
            r.skip(2 + 1)?; // list length, name type (host_name)
            let n = usize::from(r.u16()?);
            let name = r.b.get(r.at..r.at + n)?;
            return std::str::from_utf8(name).ok().map(str::to_string);
        }
        r.skip(len)?;
    }
    None
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n)?;
        (self.at <= self.b.len()).then_some(())
    }
}

/// Building ClientHellos for tests.
#[cfg(test)]
pub mod tests_support {
    /// A ClientHello carrying SNI `host`, built field by field.
    pub fn client_hello(host: &str) -> Vec<u8> {
        let name = host.as_bytes();
        let mut sni = vec![0, 0];
        let list_len = (name.len() + 3) as u16;
        let ext_len = list_len + 2;
        sni.extend_from_slice(&ext_len.to_be_bytes());
        sni.extend_from_slice(&list_len.to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // no session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        body.extend_from_slice(&sni);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::client_hello;
    use super::*;

    #[test]
    fn finds_the_server_name() {
        let hello = client_hello("api.example.test");
        assert_eq!(server_name(&hello).as_deref(), Some("api.example.test"));
        assert_eq!(server_name(&hello[..40]), None);
        assert_eq!(server_name(b"GET / HTTP/1.1"), None);
    }
}
