use super::*;
use crate::capture::LinkType;
use crate::net::{decode, Decoded};
use crate::synth::{with_link, Conversation, Side as S};
use std::collections::BTreeMap;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn conv() -> Conversation {
    Conversation::new(addr("10.0.0.1:45000"), addr("10.0.0.2:50051"), Timestamp::from_parts(1_000, 0))
}

/// Runs IP packets through the net layer and a flow table.
fn run_packets(packets: &[(Timestamp, Vec<u8>)], cfg: TcpConfig) -> Vec<StreamEvent> {
    let mut table = FlowTable::new(cfg);
    let mut out = Vec::new();
    for (i, (ts, ip)) in packets.iter().enumerate() {
        let data = bytes::Bytes::from(with_link(LinkType::RAW, ip));
        if let Decoded::Tcp(seg) = decode(LinkType::RAW, &data) {
            let payload = data.slice(seg.payload.clone());
            table.segment(*ts, i as u64 + 1, &seg, payload, &mut out);
        }
    }
    table.finish(&mut out);
    out
}

fn run(c: &Conversation) -> Vec<StreamEvent> {
    run_packets(&c.packets, TcpConfig::default())
}

/// The reassembled stream of each (connection, direction), gaps shown as `[gap N]`.
fn streams(events: &[StreamEvent]) -> BTreeMap<(ConnId, Dir), String> {
    let mut m: BTreeMap<(ConnId, Dir), String> = BTreeMap::new();
    let mut next: BTreeMap<(ConnId, Dir), u64> = BTreeMap::new();
    for e in events {
        match e {
            StreamEvent::Data { conn, dir, offset, data, .. } => {
                let n = next.entry((*conn, *dir)).or_default();
                assert_eq!(*offset, *n, "data must be contiguous");
                *n += data.len() as u64;
                m.entry((*conn, *dir)).or_default().push_str(std::str::from_utf8(data).unwrap());
            }
            StreamEvent::Gap { conn, dir, offset, len, .. } => {
                let n = next.entry((*conn, *dir)).or_default();
                assert_eq!(*offset, *n, "gap must be contiguous");
                *n += len;
                m.entry((*conn, *dir)).or_default().push_str(&format!("[gap {len}]"));
            }
            _ => {}
        }
    }
    m
}

fn summaries(events: &[StreamEvent]) -> Vec<ConnSummary> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Finished(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_data_and_fin_both_ways() {
    let mut c = conv();
    c.handshake()
        .send(S::Client, b"hello ")
        .send(S::Client, b"server")
        .send(S::Server, b"hi")
        .fin(S::Client)
        .fin(S::Server)
        .ack(S::Client);
    let ev = run(&c);
    let s = streams(&ev);
    assert_eq!(s[&(1, Dir::ToServer)], "hello server");
    assert_eq!(s[&(1, Dir::ToClient)], "hi");
    let sum = &summaries(&ev)[0];
    assert!(sum.established);
    assert_eq!(sum.roles_from, RoleEvidence::Syn);
    assert_eq!(sum.handshake_rtt_nanos(), Some(200_000));
    assert_eq!(sum.end, EndReason::Fin { by: Side::Client, both: true });
    assert_eq!((sum.dirs[0].packets, sum.dirs[0].bytes, sum.dirs[1].bytes), (6, 12, 2));
    let fins = ev.iter().filter(|e| matches!(e, StreamEvent::Fin { .. })).count();
    assert_eq!(fins, 2);
    assert!(ev.iter().any(|e| matches!(e, StreamEvent::Closed { reason: EndReason::Fin { both: true, .. }, .. })));
}

#[test]
fn out_of_order_segments_are_put_back_in_order() {
    let mut c = conv();
    c.handshake();
    let seq = c.next_seq(S::Client);
    c.send_at(S::Client, seq + 5, b"world").send_at(S::Client, seq, b"hello");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "helloworld");
    assert_eq!(summaries(&ev)[0].dirs[0].out_of_order, 1);
}

#[test]
fn retransmissions_and_overlaps_are_deduplicated() {
    let mut c = conv();
    c.handshake();
    let seq = c.next_seq(S::Client);
    c.send_at(S::Client, seq, b"abcdef").send_at(S::Client, seq, b"abcdef").send_at(S::Client, seq + 3, b"defghi");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "abcdefghi");
    assert_eq!(summaries(&ev)[0].dirs[0].retransmitted, 2);
}

#[test]
fn a_lost_segment_acknowledged_by_the_peer_is_a_gap() {
    let mut c = conv();
    c.handshake()
        .send(S::Client, b"one")
        .lose(S::Client, 7)
        .send(S::Client, b"three")
        .ack(S::Server)
        .send(S::Client, b"four");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "one[gap 7]threefour");
    let gap_pos = ev.iter().position(|e| matches!(e, StreamEvent::Gap { .. })).unwrap();
    let four_pos = ev.iter().position(|e| matches!(e, StreamEvent::Data { data, .. } if &data[..] == b"four")).unwrap();
    assert!(gap_pos < four_pos, "the gap is found when the server acknowledges, before later data");
    assert_eq!(summaries(&ev)[0].dirs[0].gap_bytes, 7);
}

#[test]
fn data_stuck_behind_a_hole_comes_out_at_the_end() {
    let mut c = conv();
    c.handshake().lose(S::Server, 4).send(S::Server, b"tail");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToClient)], "[gap 4]tail");
}

#[test]
fn mid_connection_capture_picks_up_at_the_first_segment() {
    let mut c = Conversation::new(addr("10.0.0.1:51000"), addr("10.0.0.2:8080"), Timestamp(0));
    c.send(S::Server, b"late").send(S::Client, b"req");
    let ev = run(&c);
    let sum = &summaries(&ev)[0];
    assert_eq!((sum.client, sum.roles_from), (addr("10.0.0.1:51000"), RoleEvidence::EphemeralPort));
    assert!(!sum.established);
    assert_eq!(streams(&ev)[&(1, Dir::ToClient)], "late");
    assert!(matches!(ev[0], StreamEvent::Open { syn_seen: false, .. }));
    assert_eq!(sum.end, EndReason::OpenAtEnd);
}

#[test]
fn port_hints_decide_roles_without_a_handshake() {
    let mut c = Conversation::new(addr("10.0.0.1:9000"), addr("10.0.0.2:40000"), Timestamp(0));
    c.send(S::Client, b"x");
    let cfg = TcpConfig { server_ports: vec![40000], ..Default::default() };
    let sum = &summaries(&run_packets(&c.packets, cfg))[0];
    assert_eq!((sum.server, sum.roles_from), (addr("10.0.0.2:40000"), RoleEvidence::PortHint));
}

/// nginx closing an upstream connection on its read timeout: its FIN, the
/// server's late answer, and the RST nginx's kernel sends back. The FIN is
/// when the client gave up; the RST only ends the connection.
#[test]
fn a_fin_then_a_reset_keeps_when_the_fin_came() {
    let mut c = conv();
    c.handshake().send(S::Client, b"q").wait(300_000_000).fin(S::Client);
    c.wait(1_000_000).send(S::Server, b"late status").wait(50_000).rst(S::Client);
    let [s] = summaries(&run(&c)).try_into().unwrap();
    assert_eq!(s.end, EndReason::Rst { by: Side::Client });
    assert_eq!(s.first_fin, Some(Side::Client));
    let fin = s.first_fin_ts.unwrap();
    let later = s.end_ts.nanos_since(fin);
    assert!((1_050_000..1_500_000).contains(&later), "the RST came {later} ns after the FIN, not ~1.05 ms");
    assert_eq!(s.end_text(), "FIN by client, then RST by client");
}

#[test]
fn resets_and_refusals_say_who() {
    let mut c = conv();
    c.handshake().send(S::Client, b"q").rst(S::Server);
    assert_eq!(summaries(&run(&c))[0].end, EndReason::Rst { by: Side::Server });

    let mut refused = conv();
    refused.packets.clear();
    let mut r = conv();
    r.handshake();
    let syn = r.packets[0].clone();
    let mut refused_pkts = vec![syn];
    let mut rst = conv();
    rst.rst(S::Server);
    refused_pkts.push(rst.packets[0].clone());
    let sums = summaries(&run_packets(&refused_pkts, TcpConfig::default()));
    assert_eq!(sums[0].end, EndReason::Refused);
    assert!(!sums[0].established);
}

#[test]
fn a_new_syn_on_a_finished_four_tuple_is_a_new_connection() {
    let mut first = conv();
    first.handshake().send(S::Client, b"a").fin(S::Client).fin(S::Server);
    let mut second = conv().with_isns(777_777, 999_999);
    second.wait(5_000_000_000).handshake().send(S::Client, b"b");
    let mut packets = first.packets.clone();
    packets.extend(second.packets.iter().map(|(ts, p)| (ts.add_nanos(1_000_000), p.clone())));
    let ev = run_packets(&packets, TcpConfig::default());
    let s = streams(&ev);
    assert_eq!((s[&(1, Dir::ToServer)].as_str(), s[&(2, Dir::ToServer)].as_str()), ("a", "b"));
    let sums = summaries(&ev);
    assert_eq!(sums.len(), 2);
    assert_eq!(sums[0].end, EndReason::Fin { by: Side::Client, both: true });
}

#[test]
fn idle_connections_are_evicted() {
    let mut c = conv();
    c.handshake().send(S::Client, b"a").wait(10 * 1_000_000_000).send(S::Client, b"b");
    let cfg = TcpConfig { idle_timeout_nanos: 5_000_000_000, ..Default::default() };
    let ev = run_packets(&c.packets, cfg);
    let sums = summaries(&ev);
    assert_eq!(sums.len(), 2, "the packet after the timeout starts a new tracked connection");
    assert_eq!(sums[0].end, EndReason::Idle);
}

#[test]
fn the_out_of_order_buffer_is_capped() {
    let mut c = conv();
    c.handshake().lose(S::Client, 10);
    for _ in 0..50 {
        c.send(S::Client, &[b'x'; 100]);
    }
    let cfg = TcpConfig { max_buffered_per_direction: 1_000, ..Default::default() };
    let ev = run_packets(&c.packets, cfg);
    let sum = &summaries(&ev)[0];
    assert!(sum.dirs[0].buffer_overflows > 0);
    assert_eq!(sum.dirs[0].bytes, 5_000, "every captured byte still comes out");
    assert_eq!(sum.dirs[0].gap_bytes, 10);
    let first_gap = ev.iter().position(|e| matches!(e, StreamEvent::Gap { .. })).unwrap();
    let data_before = ev[..first_gap].iter().filter(|e| matches!(e, StreamEvent::Data { .. })).count();
    assert_eq!(data_before, 0);
    assert!(first_gap < ev.len() / 2, "the hole is given up on long before the end of the capture");
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut c = conv().with_isns(u32::MAX - 3, 10);
    c.handshake().send(S::Client, b"wrapping").send(S::Client, b" around");
    assert_eq!(streams(&run(&c))[&(1, Dir::ToServer)], "wrapping around");
}

#[test]
fn snaplen_cut_payload_becomes_data_then_gap() {
    let mut c = conv();
    c.handshake().send(S::Client, b"0123456789").send(S::Client, b"next");
    let mut table = FlowTable::new(TcpConfig::default());
    let mut out = Vec::new();
    for (i, (ts, ip)) in c.packets.iter().enumerate() {
        let mut data = with_link(LinkType::RAW, ip);
        if i == 3 {
            data.truncate(data.len() - 6);
        }
        let data = bytes::Bytes::from(data);
        let Decoded::Tcp(seg) = decode(LinkType::RAW, &data) else { panic!() };
        table.segment(*ts, i as u64, &seg, data.slice(seg.payload.clone()), &mut out);
    }
    table.finish(&mut out);
    assert_eq!(streams(&out)[&(1, Dir::ToServer)], "0123[gap 6]next");
    assert_eq!(summaries(&out)[0].dirs[0].truncated, 1);
}

#[test]
fn a_full_table_evicts_and_memory_stays_flat() {
    let cfg = TcpConfig { max_connections: 100, ..Default::default() };
    let mut table = FlowTable::new(cfg);
    let mut out = Vec::new();
    for port in 0..1_000u16 {
        let mut c = Conversation::new(
            addr("10.0.0.1:1"),
            SocketAddr::new(addr("10.0.0.2:1").ip(), 1000 + port),
            Timestamp(i64::from(port)),
        );
        c.handshake();
        let (ts, ip) = &c.packets[0];
        let data = bytes::Bytes::from(ip.clone());
        let Decoded::Tcp(seg) = decode(LinkType::RAW, &data) else { panic!() };
        table.segment(*ts, 0, &seg, bytes::Bytes::new(), &mut out);
        assert!(table.len() <= 100);
    }
    assert_eq!(table.connections_seen(), 1_000);
    assert!(table.evicted_full >= 900);
}

#[test]
fn a_response_captured_before_its_request_is_held_until_the_request_arrives() {
    let mut c = conv();
    c.handshake().send(S::Client, b"request").send(S::Server, b"response").send(S::Client, b"next");
    // As -i any or a multi-queue NIC may write them: the response first.
    let n = c.packets.len();
    c.packets.swap(n - 3, n - 2);
    let ev = run(&c);
    let pos = |want: &[u8]| ev.iter().position(|e| matches!(e, StreamEvent::Data { data, .. } if &data[..] == want));
    assert!(pos(b"request").unwrap() < pos(b"response").unwrap(), "the request comes first, as the peers saw it");
    assert!(pos(b"response").unwrap() < pos(b"next").unwrap());
    let s = &summaries(&ev)[0];
    assert_eq!((s.dirs[1].held_for_peer, s.dirs[1].hold_expired), (1, 0));
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "requestnext");
}

#[test]
fn a_held_segment_is_released_at_the_time_bound_and_the_unseen_bytes_become_a_gap() {
    let mut c = conv();
    c.handshake().lose(S::Client, 7).send(S::Server, b"reply").wait(2_000_000_000).send(S::Server, b"later");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "[gap 7]");
    assert_eq!(streams(&ev)[&(1, Dir::ToClient)], "replylater");
    let s = &summaries(&ev)[0];
    assert_eq!((s.dirs[1].held_for_peer, s.dirs[1].hold_expired), (1, 1));
    // Released when the bound passed, before the later segment: the gap precedes both.
    let gap = ev.iter().position(|e| matches!(e, StreamEvent::Gap { .. })).unwrap();
    let reply = ev.iter().position(|e| matches!(e, StreamEvent::Data { data, .. } if &data[..] == b"reply")).unwrap();
    assert!(gap < reply);
}

#[test]
fn the_hold_is_bounded_in_bytes() {
    let mut c = conv();
    c.handshake().lose(S::Client, 7);
    for _ in 0..4 {
        c.send(S::Server, &[b'x'; 1000]);
    }
    let cfg = TcpConfig { max_hold_bytes: 2500, ..TcpConfig::default() };
    let ev = run_packets(&c.packets, cfg);
    assert_eq!(streams(&ev)[&(1, Dir::ToClient)].len(), 4000, "nothing is lost to the bound, only released early");
    assert!(summaries(&ev)[0].dirs[1].hold_expired >= 1);
}

#[test]
fn a_retransmission_with_other_bytes_is_a_conflict_and_the_first_copy_stands() {
    let mut c = conv();
    c.handshake();
    let seq = c.next_seq(S::Client);
    c.send(S::Client, b"abcdef").send_at(S::Client, seq, b"abcxyz").send_at(S::Client, seq, b"abcdef");
    // Ahead of a hole too: two copies of the same out-of-order piece.
    c.send_at(S::Client, seq + 10, b"late").send_at(S::Client, seq + 10, b"LATE").send_at(S::Client, seq + 6, b"ghij");
    let ev = run(&c);
    assert_eq!(streams(&ev)[&(1, Dir::ToServer)], "abcdefghijlate");
    assert_eq!(summaries(&ev)[0].dirs[0].retransmit_conflicts, 2, "the faithful copy is no conflict");
    let conflicts: Vec<u64> = ev
        .iter()
        .filter_map(|e| if let StreamEvent::Conflict { offset, .. } = e { Some(*offset) } else { None })
        .collect();
    assert_eq!(conflicts, vec![0, 10]);
}

#[test]
fn a_flood_of_bare_acks_for_bytes_never_seen_is_bounded_by_the_hold() {
    let mut c = conv();
    c.handshake().lose(S::Client, 7);
    for _ in 0..20_000 {
        c.ack(S::Server);
    }
    let cfg = TcpConfig { max_hold_bytes: 64 * 1024, ..TcpConfig::default() };
    let mut table = FlowTable::new(cfg);
    let mut out = Vec::new();
    for (i, (ts, ip)) in c.packets.iter().enumerate() {
        let data = bytes::Bytes::from(with_link(LinkType::RAW, ip));
        if let Decoded::Tcp(seg) = decode(LinkType::RAW, &data) {
            let payload = data.slice(seg.payload.clone());
            table.segment(*ts, i as u64 + 1, &seg, payload, &mut out);
        }
        // Each held record counts against the 64 KiB, payload or not.
        let held = table.held_segments();
        assert!(held <= 64 * 1024 / 64, "{held} bare ACKs held");
    }
}
