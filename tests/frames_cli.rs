//! Issue 3: `grpcscope frames` on the project's fixtures.
mod common;

use common::*;
use grpcscope::capture::LinkType;

fn frames_json(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["frames", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = grpcscope(&all);
    assert_eq!(code, 0, "{err}");
    json_lines(&out)
}

#[test]
fn deadline_fixture_shows_the_client_cancelling_stream_1() {
    let frames = frames_json(&[fixture("deadline.pcap").to_str().unwrap()]);
    // tonic's server sends its SETTINGS before the client's preface arrives.
    assert_eq!((frames[0]["type"].as_str(), frames[0]["dir"].as_str()), (Some("SETTINGS"), Some("server_to_client")));
    assert_eq!((frames[1]["type"].as_str(), frames[1]["offset"].as_u64()), (Some("PREFACE"), Some(0)));
    let rst: Vec<_> = frames.iter().filter(|f| f["type"] == "RST_STREAM").collect();
    assert_eq!(rst.len(), 1);
    assert_eq!(
        (rst[0]["stream_id"].as_u64(), rst[0]["error_name"].as_str(), rst[0]["dir"].as_str()),
        (Some(1), Some("CANCEL"), Some("client_to_server"))
    );
    let request = frames.iter().find(|f| f["type"] == "HEADERS" && f["stream_id"] == 1).unwrap();
    let headers: Vec<(String, String)> = request["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    assert!(headers.contains(&(":path".into(), "/grpcscope.fixtures.v1.Inventory/GetPart".into())));
    assert!(headers.contains(&("grpc-timeout".into(), "100000u".into())));
    let settings = frames.iter().find(|f| f["type"] == "SETTINGS" && f["dir"] == "server_to_client").unwrap();
    assert!(settings["settings"].as_array().unwrap().iter().any(|s| s["name"] == "INITIAL_WINDOW_SIZE"));
    assert!(frames.iter().any(|f| f["type"] == "GOAWAY" && f["error_name"] == "NO_ERROR"));
}

#[test]
fn filters_by_connection_and_stream() {
    let path = fixture("reconnect.pcap");
    let all = frames_json(&[path.to_str().unwrap()]);
    let conn3 = frames_json(&["--conn", "3", path.to_str().unwrap()]);
    assert!(!conn3.is_empty() && conn3.len() < all.len());
    assert!(conn3.iter().all(|f| f["conn"] == 3));
    let stream = frames_json(&["--conn", "1", "--stream", "3", path.to_str().unwrap()]);
    assert!(stream.iter().all(|f| f["stream_id"] == 3 && f["conn"] == 1));
    assert_eq!(
        stream.iter().map(|f| f["type"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["HEADERS", "DATA", "DATA", "HEADERS", "DATA", "HEADERS"]
    );
}

#[test]
fn verbose_text_shows_hpack_representations_windows_and_the_dynamic_table() {
    let (code, out, _) =
        grpcscope(&["frames", "-v", "--conn", "1", "--stream", "1", fixture("unary.pcap").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("indexed, static 3"), "{out}"); // :method: POST
    assert!(out.contains("literal with incremental indexing"), "{out}");
    assert!(out.contains("Huffman"), "{out}");
    assert!(out.contains("table (C->S):"), "{out}");
    assert!(out.contains("[ 62]"), "{out}");
    assert!(out.contains("C->S window: stream"), "{out}");
    assert!(out.contains("stream 1 is half-closed (client done)"), "{out}");
    let json = frames_json(&["-v", "--conn", "1", "--stream", "1", fixture("unary.pcap").to_str().unwrap()]);
    let hpack = json.iter().find_map(|f| f.get("hpack")).unwrap().as_array().unwrap();
    assert!(hpack.iter().any(|h| h["kind"] == "indexed" && h["index"] == 3 && h["name"] == ":method"));
}

#[test]
fn mid_connection_capture_marks_unknown_fields_never_guesses() {
    let path = fixture("mid_connection.pcap");
    let frames = frames_json(&[path.to_str().unwrap()]);
    let first = &frames[0];
    assert_eq!((first["type"].as_str(), first["dir"].as_str()), (Some("HEADERS"), Some("client_to_server")));
    assert!(first["unknown_header_fields"].as_u64().unwrap() > 0);
    let headers = first["headers"].as_array().unwrap();
    assert!(headers.iter().any(|h| h[0].is_null() && h[1].is_null()), "unknown fields are null, not invented");
    assert!(headers.iter().any(|h| h[0] == ":path" && h[1] == "/grpcscope.fixtures.v1.Inventory/GetPart"));
    let (_, text, _) = grpcscope(&["frames", path.to_str().unwrap()]);
    assert!(text.lines().last().unwrap().contains("header field(s) unknown"), "{text}");
    let (_, verbose, _) = grpcscope(&["frames", "-v", path.to_str().unwrap()]);
    assert!(verbose.contains("?dyn#1: ?dyn#1") && verbose.contains("(inserted before the capture)"), "{verbose}");
}

#[test]
fn h2_port_forces_decoding_where_frames_alone_are_not_evidence_enough() {
    use grpcscope::synth::{Conversation, Side};
    use grpcscope::time::Timestamp;
    // A quiet mid-connection capture: keepalive PINGs, one frame per segment.
    let ping = |ack: u8| {
        let mut f = vec![0, 0, 8, 6, ack, 0, 0, 0, 0];
        f.extend_from_slice(b"keepaliv");
        f
    };
    let mut c = Conversation::new(
        "10.1.0.5:41000".parse().unwrap(),
        "10.1.0.9:50051".parse().unwrap(),
        Timestamp::from_parts(1_700_000_000, 0),
    );
    c.send(Side::Client, &ping(0)).send(Side::Server, &ping(1));
    let path = scratch_dir("h2port").join("pings.pcap");
    std::fs::write(&path, c.to_pcap(LinkType::ETHERNET)).unwrap();
    assert!(frames_json(&[path.to_str().unwrap()]).is_empty(), "single frames are not evidence enough");
    let hinted = frames_json(&["--h2-port", "50051", path.to_str().unwrap()]);
    let kinds: Vec<(&str, &str)> =
        hinted.iter().map(|f| (f["type"].as_str().unwrap(), f["dir"].as_str().unwrap())).collect();
    assert_eq!(kinds, vec![("PING", "client_to_server"), ("PING", "server_to_client")]);
    assert_eq!(hinted[1]["ack"], true);
}
