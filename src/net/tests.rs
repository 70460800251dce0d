use super::*;
use crate::synth::{ip_tcp, with_link, with_vlans};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn psh() -> TcpFlags {
    TcpFlags { psh: true, ack: true, ..Default::default() }
}

fn expect_segment(link: LinkType, data: &[u8]) -> Segment {
    match decode(link, data) {
        Decoded::Tcp(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_link_type_reaches_the_same_segment() {
    let ip = ip_tcp(addr("10.0.0.1:40000"), addr("10.0.0.2:50051"), 7, 9, psh(), b"hello");
    for link in [
        LinkType::ETHERNET,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::RAW,
        LinkType::IPV4,
    ] {
        let data = with_link(link, &ip);
        let seg = expect_segment(link, &data);
        assert_eq!(seg.src, addr("10.0.0.1:40000"), "{link}");
        assert_eq!((seg.seq, seg.ack), (7, 9));
        assert_eq!(&data[seg.payload.clone()], b"hello", "{link}");
        assert_eq!(seg.wire_payload_len, 5);
    }
}

#[test]
fn vlan_and_qinq_tags_are_skipped() {
    let ip = ip_tcp(addr("10.0.0.1:1"), addr("10.0.0.2:2"), 1, 1, psh(), b"x");
    for tags in [&[100u16][..], &[100, 200], &[1, 2, 3, 4, 5, 6, 7, 8, 9]] {
        let data = with_vlans(tags, &ip);
        assert_eq!(&data[expect_segment(LinkType::ETHERNET, &data).payload], b"x");
    }
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let mut ip = ip_tcp(addr("[::1]:40000"), addr("[::1]:8087"), 1, 1, psh(), b"v6 payload");
    // Insert an 8-byte hop-by-hop header (PadN) between the IPv6 header and TCP.
    ip[6] = 0; // next header: hop-by-hop
    let plen = u16::from_be_bytes([ip[4], ip[5]]) + 8;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    ip.splice(40..40, [6u8, 0, 1, 4, 0, 0, 0, 0]);
    let data = with_link(LinkType::ETHERNET, &ip);
    let seg = expect_segment(LinkType::ETHERNET, &data);
    assert_eq!(seg.dst, addr("[::1]:8087"));
    assert_eq!(&data[seg.payload], b"v6 payload");
}

#[test]
fn snaplen_cut_payload_reports_what_is_missing() {
    let ip = ip_tcp(addr("10.0.0.1:1"), addr("10.0.0.2:2"), 1, 1, psh(), &[7u8; 100]);
    let data = with_link(LinkType::ETHERNET, &ip);
    let cut = &data[..data.len() - 60];
    let seg = expect_segment(LinkType::ETHERNET, cut);
    assert_eq!(seg.payload.len(), 40);
    assert_eq!(seg.wire_payload_len, 100);
    assert_eq!(seg.missing_payload(), 60);
}

#[test]
fn other_traffic_is_classified_not_decoded() {
    assert_eq!(decode(LinkType::ETHERNET, &[]), Decoded::Skipped(Skip::Empty));
    assert_eq!(decode(LinkType(147), &[1, 2, 3]), Decoded::Skipped(Skip::UnsupportedLink));
    let mut udp = Vec::new();
    etherparse::PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(5000, 53).write(&mut udp, b"query").unwrap();
    assert_eq!(decode(LinkType::RAW, &udp), Decoded::Skipped(Skip::Udp));
    // From port 53: a DNS response, whose bytes are handed on for its names.
    let mut dns = Vec::new();
    etherparse::PacketBuilder::ipv4([2, 2, 2, 2], [1, 1, 1, 1], 9).udp(53, 5000).write(&mut dns, b"answer").unwrap();
    assert_eq!(decode(LinkType::RAW, &dns), Decoded::DnsResponse(28..34));
    let ip = ip_tcp(addr("10.0.0.1:1"), addr("10.0.0.2:2"), 1, 1, psh(), b"x");
    // Header cut in the middle of TCP.
    assert_eq!(decode(LinkType::RAW, &ip[..30]), Decoded::Skipped(Skip::Malformed));
    // An Ethernet frame that is not IP (LLDP).
    let mut lldp = vec![0u8; 12];
    lldp.extend_from_slice(&[0x88, 0xcc, 1, 2, 3]);
    assert_eq!(decode(LinkType::ETHERNET, &lldp), Decoded::Skipped(Skip::NotIp));
}
