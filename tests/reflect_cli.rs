//! `--reflect HOST:PORT` against a live tonic server with reflection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fixture, grpcscope, root};
use serde_json::Value;

#[test]
fn reflect_fetches_the_schema_from_a_live_server_and_decodes_with_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let fds = protox::compile(["grpcscope/fixtures/v1/inventory.proto"], [root().join("protos")]).unwrap();
    let encoded = prost::Message::encode_to_vec(&fds);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(&encoded)
        .build_v1()
        .unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    rt.spawn(tonic::transport::Server::builder().add_service(reflection).serve_with_incoming(incoming));

    let unary = fixture("unary.pcap");
    let (code, out, err) =
        grpcscope(&["calls", "--format", "json", "--reflect", &addr.to_string(), unary.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("schema file(s) learned"), "{err}");
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["requests"][0]["type"], "grpcscope.fixtures.v1.GetPartRequest");
    assert!(first["requests"][0]["json"].is_object(), "decoded with the fetched schema: {first}");

    // Nothing listening: a clear error naming the flag, exit 2-style bad input.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, _, err) = grpcscope(&["calls", "--reflect", &closed.to_string(), unary.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("--reflect") && err.contains("--proto-path"), "{err}");
}
