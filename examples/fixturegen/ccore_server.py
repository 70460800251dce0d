"""A gRPC C-core server (Python grpcio) for fixturegen's scenarios that need
a peer other than tonic: C-core enforces keepalive pings (GOAWAY
too_many_pings) and answers on its own schedule.

It serves grpcscope.fixtures.v1.Inventory/GetPart with the raw protobuf
bytes (no generated code): a GetPartRequest is read for its sku (field 1)
and delay_ms (field 2), a Part with the sku and a name is returned; as the
tonic server does, a `missing-` SKU is NOT_FOUND, a `flaky-` one fails
UNAVAILABLE the first time, a `down-` one every time.

Usage: python3 ccore_server.py PORT   (prints "ready" once listening;
SIGTERM stops it)
"""

import signal
import sys
import time
from concurrent import futures

import grpc


def varint(data, at):
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, at


def parse_request(data):
    sku, delay_ms, at = "", 0, 0
    while at < len(data):
        key, at = varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 2:
            length, at = varint(data, at)
            if field == 1:
                sku = data[at:at + length].decode("utf-8", "replace")
            at += length
        elif wire == 0:
            value, at = varint(data, at)
            if field == 2:
                delay_ms = value
        else:
            break
    return sku, delay_ms


def string_field(field, text):
    raw = text.encode()
    out, n = bytearray([field << 3 | 2]), len(raw)
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + raw


SEEN = set()


def get_part(request, context):
    sku, delay_ms = parse_request(request)
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if sku.startswith("flaky-") and sku not in SEEN:
        SEEN.add(sku)
        context.abort(grpc.StatusCode.UNAVAILABLE, "warming up: try again")
    if sku.startswith("down-"):
        context.abort(grpc.StatusCode.UNAVAILABLE, "stock service down")
    if sku.startswith("missing-"):
        context.abort(grpc.StatusCode.NOT_FOUND, f"part {sku} not found")
    return string_field(1, sku) + string_field(2, f"Part {sku}")


def main():
    port = int(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "grpcscope.fixtures.v1.Inventory", {"GetPart": grpc.unary_unary_rpc_method_handler(get_part)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0.5))
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
