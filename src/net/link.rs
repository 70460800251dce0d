//! Link-layer headers that `etherparse` does not read for us: Linux cooked
//! captures (SLL, SLL2) and BSD loopback (NULL, LOOP).

use crate::capture::{read_u16, read_u32, LinkType};
use etherparse::EtherType;

/// What follows the link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    /// A payload of this EtherType starting at this offset.
    EtherType(EtherType, usize),
    /// An IPv4 or IPv6 packet starting at this offset.
    Ip(usize),
    /// Something other than IP.
    NotIp,
    /// A link type grpcscope does not decode.
    Unsupported,
    /// The link header itself is cut short.
    Truncated,
}

/// BSD address-family values for IPv6: Linux, NetBSD/OpenBSD, FreeBSD, macOS.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];
const AF_INET: u32 = 2;

/// Finds where the network layer starts for a packet of link type `link`.
pub fn strip_link(link: LinkType, data: &[u8]) -> Inner {
    match link.0 {
        1 => ethernet(data),
        12 | 14 | 101 | 228 | 229 => Inner::Ip(0),
        0 => loopback_family(data, None),
        108 => loopback_family(data, Some(true)),
        113 => match read_u16(data, 14, true) {
            Some(proto) if data.len() >= 16 => Inner::EtherType(EtherType(proto), 16),
            _ => Inner::Truncated,
        },
        276 => match read_u16(data, 0, true) {
            Some(proto) if data.len() >= 20 => Inner::EtherType(EtherType(proto), 20),
            _ => Inner::Truncated,
        },
        _ => Inner::Unsupported,
    }
}

/// VLAN tags (802.1Q, 802.1ad QinQ, and the older 0x9100) peeled
/// off, as many as there are (tshark decodes nine): etherparse reads two.
const VLAN_TYPES: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Tags peeled at most: more is not a real frame.
const MAX_VLAN_TAGS: usize = 16;

/// Where an Ethernet II frame's payload starts, past its VLAN tags.
fn ethernet(data: &[u8]) -> Inner {
    let mut at = 12;
    for _ in 0..=MAX_VLAN_TAGS {
        match read_u16(data, at, true) {
            Some(t) if VLAN_TYPES.contains(&t) => at += 4,
            Some(t) => return Inner::EtherType(EtherType(t), at + 2),
            None => return Inner::Truncated,
        }
    }
    Inner::NotIp
}

/// NULL stores the family in the capturing host's byte order, which the file
/// does not record: accept either order. LOOP is always big-endian.
fn loopback_family(data: &[u8], big_endian: Option<bool>) -> Inner {
    let orders: &[bool] = match big_endian {
        Some(be) => {
            if be {
                &[true]
            } else {
                &[false]
            }
        }
        None => &[false, true],
    };
    for &be in orders {
        match read_u32(data, 0, be) {
            None => return Inner::Truncated,
            Some(AF_INET) => return Inner::Ip(4),
            Some(f) if AF_INET6.contains(&f) => return Inner::Ip(4),
            _ => {}
        }
    }
    Inner::NotIp
}
