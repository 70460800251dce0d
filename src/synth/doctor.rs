//! Captures for the doctor's rules that no real peer of the fixture
//! generator produces on demand: a server's GOAWAY ENHANCE_YOUR_CALM
//! "too_many_pings", and a client resetting every stream it opens (Rapid
//! Reset). Byte layouts only; the doctor's tests read them.

use super::adversarial::{open_h2, request, respond, send_all, start};
use super::h2::{self as h, kind};
use super::{Conversation, Side};
use crate::capture::LinkType;
use crate::h2::frame::flags::END_HEADERS;
use crate::h2::frame::FrameType;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Streams the Rapid Reset client opens and resets.
pub const RAPID_RESETS: u32 = 150;

fn client() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 41000)
}

/// One OK call, then the client PINGs every 10 ms and the server answers
/// the third with GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and closes.
pub fn too_many_pings() -> Vec<u8> {
    let mut conv = open_h2(client(), start(), &[]);
    conv.send(Side::Client, &request(1, "/demo.v1.Echo/Say"));
    respond(&mut conv, 1, 0);
    for i in 0..3u8 {
        conv.wait(10_000_000);
        conv.send(Side::Client, &h::frame(FrameType::PING.0, 0, 0, &[i; 8]));
    }
    calm_down(conv, 1, b"too_many_pings")
}

/// Streams the client resets in [`too_many_resets`]: fewer than the
/// doctor's pattern needs, so only the server's GOAWAY can tell.
pub const CALM_RESETS: u32 = 20;

/// A client that resets [`CALM_RESETS`] streams, and a server (as h2 does)
/// that ends the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_resets".
pub fn too_many_resets() -> Vec<u8> {
    let mut conv = open_h2(client(), start(), &[]);
    open_and_reset(&mut conv, CALM_RESETS);
    calm_down(conv, 2 * CALM_RESETS - 1, b"too_many_resets")
}

/// A server that ends the connection with GOAWAY ENHANCE_YOUR_CALM about
/// something else (netty's words for its control-frame limit).
pub fn calm_about_control_frames() -> Vec<u8> {
    let mut conv = open_h2(client(), start(), &[]);
    conv.send(Side::Client, &request(1, "/demo.v1.Echo/Say"));
    respond(&mut conv, 1, 0);
    calm_down(conv, 1, b"Maximum number 10000 of outstanding control frames reached")
}

/// The server's GOAWAY ENHANCE_YOUR_CALM with `debug`, then both FINs.
fn calm_down(mut conv: Conversation, last_stream: u32, debug: &[u8]) -> Vec<u8> {
    let mut goaway = last_stream.to_be_bytes().to_vec();
    goaway.extend(0xbu32.to_be_bytes());
    goaway.extend(debug);
    conv.send(Side::Server, &h::frame(FrameType::GOAWAY.0, 0, 0, &goaway));
    conv.fin(Side::Server).fin(Side::Client);
    conv.to_pcap(LinkType::ETHERNET)
}

/// A client that opens [`RAPID_RESETS`] streams and resets each at once
/// (RST_STREAM CANCEL), as the Rapid Reset attack does.
pub fn rapid_reset() -> Vec<u8> {
    let mut conv = open_h2(client(), start(), &[]);
    open_and_reset(&mut conv, RAPID_RESETS);
    conv.fin(Side::Client).fin(Side::Server);
    conv.to_pcap(LinkType::ETHERNET)
}

/// The client opens `n` streams and resets each at once (RST_STREAM CANCEL).
fn open_and_reset(conv: &mut Conversation, n: u32) {
    let mut flood = Vec::new();
    for i in 0..n {
        let sid = 2 * i + 1;
        flood.extend(h::frame(kind::HEADERS, END_HEADERS, sid, &h::request_block("/demo.v1.Echo/Say", &[])));
        flood.extend(h::frame(FrameType::RST_STREAM.0, 0, sid, &8u32.to_be_bytes()));
    }
    send_all(conv, Side::Client, &flood);
}

/// The name [`resolved_then_called`]'s DNS answer gives the server.
pub const RESOLVED_NAME: &str = "inventory.shop.svc.cluster.local";

/// A client that resolves its server's name, as every gRPC channel with a
/// `dns:///` target does, then calls it: a DNS response from 10.0.0.53
/// naming 10.0.0.2 [`RESOLVED_NAME`] (through no CNAME), a second naming
/// another address through a CNAME, then one OK call to 10.0.0.2:50051.
pub fn resolved_then_called() -> Vec<u8> {
    let mut pcap = super::PcapBuilder::new(LinkType::ETHERNET);
    let resolver = [10, 0, 0, 53];
    let answers = [
        crate::net::dns::response(1, RESOLVED_NAME, &[], &[super::adversarial::server().ip()]),
        crate::net::dns::response(2, "api.example.com", &["edge.cdn.example.net"], &[[192, 0, 2, 9].into()]),
    ];
    for (i, msg) in answers.iter().enumerate() {
        let mut ip = Vec::new();
        let built = etherparse::PacketBuilder::ipv4(resolver, [10, 0, 0, 7], 64).udp(53, 40_000).write(&mut ip, msg);
        if built.is_ok() {
            pcap.push_ip(start().add_nanos(i as i64 * 1_000), &ip);
        }
    }
    let mut conv = open_h2(client(), start().add_nanos(1_000_000), &[]);
    conv.send(Side::Client, &request(1, "/demo.v1.Echo/Say"));
    respond(&mut conv, 1, 0);
    conv.fin(Side::Client).fin(Side::Server);
    for (ts, ip) in &conv.packets {
        pcap.push_ip(*ts, ip);
    }
    pcap.finish()
}
