//! DNS responses, read only for the addresses they name (RFC 1035 §4): the
//! question's name and the A and AAAA records of the answer section, with
//! CNAMEs followed back to the name the client asked for. Every length is
//! checked, compression pointers may only point backwards and are followed
//! a bounded number of times, and a name that is not printable ASCII is
//! refused: a DNS packet in a capture is input like any other.

use std::net::IpAddr;

/// DNS's fixed header.
const HEADER_LEN: usize = 12;
/// Answer records read at most per response.
const MAX_ANSWERS: usize = 64;
/// Compression pointers followed at most in one name.
const MAX_JUMPS: usize = 16;
/// The longest name DNS allows.
const MAX_NAME: usize = 255;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// The name at `at` and where the record continues after it.
fn name_at(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..=MAX_JUMPS {
        loop {
            let len = *msg.get(at)?;
            match len {
                0 => {
                    let next = end.unwrap_or(at + 1);
                    return (!name.is_empty() || next > 0).then_some((name, next));
                }
                l if l & 0xc0 == 0xc0 => {
                    let target = usize::from(u16_at(msg, at)? & 0x3fff);
                    // Only backwards: a pointer forwards (or to itself) could loop.
                    if target >= at {
                        return None;
                    }
                    end.get_or_insert(at + 2);
                    at = target;
                    break;
                }
                l if l & 0xc0 != 0 => return None,
                l => {
                    let label = msg.get(at + 1..at + 1 + usize::from(l))?;
                    if !label.iter().all(|b| (0x21..0x7f).contains(b) && *b != b'.') {
                        return None;
                    }
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(std::str::from_utf8(label).ok()?);
                    if name.len() > MAX_NAME {
                        return None;
                    }
                    at += 1 + usize::from(l);
                }
            }
        }
    }
    None
}

/// The addresses a DNS response names: `(name, address)` for each A and
/// AAAA answer, the name being the one the client asked for when CNAMEs
/// lead from it to the address. `None` when `msg` is not a response that
/// can be read; an empty list when it names no address.
pub fn answers(msg: &[u8]) -> Option<Vec<(String, IpAddr)>> {
    let flags = u16_at(msg, 2)?;
    let is_response = flags & 0x8000 != 0;
    let rcode = flags & 0x000f;
    if !is_response || rcode != 0 {
        return None;
    }
    let questions = u16_at(msg, 4)?;
    let count = usize::from(u16_at(msg, 6)?).min(MAX_ANSWERS);
    let mut at = HEADER_LEN;
    let mut asked = None;
    for _ in 0..questions.min(4) {
        let (name, next) = name_at(msg, at)?;
        asked.get_or_insert(name);
        at = next.checked_add(4)?;
    }
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..count {
        let (owner, next) = name_at(msg, at)?;
        let kind = u16_at(msg, next)?;
        let class = u16_at(msg, next + 2)?;
        let len = usize::from(u16_at(msg, next + 8)?);
        let data_at = next + 10;
        let data = msg.get(data_at..data_at.checked_add(len)?)?;
        at = data_at + len;
        if class != CLASS_IN {
            continue;
        }
        match (kind, data.len()) {
            (TYPE_A, 4) => out.push((owner, IpAddr::from(<[u8; 4]>::try_from(data).ok()?))),
            (TYPE_AAAA, 16) => out.push((owner, IpAddr::from(<[u8; 16]>::try_from(data).ok()?))),
            (TYPE_CNAME, _) => {
                if let Some((target, _)) = name_at(msg, data_at) {
                    aliases.push((owner, target));
                }
            }
            _ => {}
        }
    }
    // An address reached through CNAMEs from the question is named by the
    // question: the name the client used.
    if let Some(asked) = asked {
        for (owner, _) in &mut out {
            if reached(&asked, owner, &aliases) {
                owner.clone_from(&asked);
            }
        }
    }
    // The root name names nothing.
    out.retain(|(owner, _)| !owner.is_empty());
    Some(out)
}

/// `name` is `from`, or a CNAME chain of at most the answers' length leads
/// from `from` to it.
fn reached(from: &str, name: &str, aliases: &[(String, String)]) -> bool {
    let mut at = from.to_string();
    for _ in 0..=aliases.len() {
        if at.eq_ignore_ascii_case(name) {
            return true;
        }
        match aliases.iter().find(|(owner, _)| owner.eq_ignore_ascii_case(&at)) {
            Some((_, target)) => at.clone_from(target),
            None => return false,
        }
    }
    false
}

/// A DNS response: the emitter mirroring [`answers`], for tests and the
/// synthetic captures.
pub fn response(id: u16, asked: &str, cnames: &[&str], addrs: &[IpAddr]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x8180u16.to_be_bytes());
    let answers = (cnames.len() + addrs.len()) as u16;
    for n in [1u16, answers, 0, 0] {
        m.extend_from_slice(&n.to_be_bytes());
    }
    let question_at = m.len() as u16;
    push_name(&mut m, asked);
    m.extend_from_slice(&[0, 1, 0, 1]);
    let mut owner: Vec<u8> = (0xc000 | question_at).to_be_bytes().to_vec();
    for cname in cnames {
        m.extend_from_slice(&owner);
        m.extend_from_slice(&TYPE_CNAME.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        let mut target = Vec::new();
        push_name(&mut target, cname);
        m.extend_from_slice(&(target.len() as u16).to_be_bytes());
        let target_at = m.len() as u16;
        m.extend_from_slice(&target);
        owner = (0xc000 | target_at).to_be_bytes().to_vec();
    }
    for addr in addrs {
        m.extend_from_slice(&owner);
        let (kind, bytes) = match addr {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        m.extend_from_slice(&kind.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        m.extend_from_slice(&bytes);
    }
    m
}

fn push_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len().min(63) as u8);
        m.extend_from_slice(label.as_bytes().get(..label.len().min(63)).unwrap_or_default());
    }
    m.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_and_aaaa_answers_are_named_by_the_question_through_cnames() {
        let msg = response(7, "inventory.shop.svc.cluster.local", &[], &[ip("10.96.12.34"), ip("fd00::7")]);
        let names = answers(&msg).unwrap();
        assert_eq!(
            names,
            [
                ("inventory.shop.svc.cluster.local".to_string(), ip("10.96.12.34")),
                ("inventory.shop.svc.cluster.local".to_string(), ip("fd00::7"))
            ]
        );
        let msg = response(8, "api.example.com", &["api.cdn.example.net", "edge.cdn.example.net"], &[ip("192.0.2.1")]);
        assert_eq!(answers(&msg).unwrap(), [("api.example.com".to_string(), ip("192.0.2.1"))]);
    }

    #[test]
    fn queries_errors_and_broken_packets_name_nothing() {
        let mut query = response(1, "a.example", &[], &[ip("192.0.2.1")]);
        query[2] &= 0x7f;
        assert_eq!(answers(&query), None, "a query");
        let mut nxdomain = response(1, "a.example", &[], &[]);
        nxdomain[3] |= 3;
        assert_eq!(answers(&nxdomain), None);
        let whole = response(1, "a.example", &[], &[ip("192.0.2.1")]);
        for cut in 0..whole.len() {
            assert!(answers(&whole[..cut]).is_none_or(|a| a.is_empty()), "cut at {cut}");
        }
    }

    #[test]
    fn pointer_loops_and_unprintable_names_are_refused() {
        // A name that points at itself, then one pointing forwards.
        let mut msg = response(1, "a.example", &[], &[]);
        msg.truncate(HEADER_LEN);
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(answers(&msg), None);
        let mut msg = response(1, "a.example", &[], &[]);
        msg.truncate(HEADER_LEN);
        msg.extend_from_slice(&[0xc0, 20, 0, 1, 0, 1]);
        assert_eq!(answers(&msg), None);
        let evil = response(1, "x\u{1b}[2J.example", &[], &[ip("192.0.2.1")]);
        assert_eq!(answers(&evil), None);
    }
}
