#!/usr/bin/env python3
"""An OTLP trace receiver built from the official opentelemetry-proto
definitions (the opentelemetry-proto package): OTLP/HTTP (POST /v1/traces,
binary protobuf) and OTLP/gRPC (TraceService/Export), on loopback ports it
chooses. It checks every span it receives against docs/otel.md and writes
each as a JSON line.

usage: otlp_receiver.py DOCS_OTEL_MD OUT_JSONL [--fail-first N]
Prints "http PORT grpc PORT" once listening; serves until standard input
closes, then writes the last line, {"problems": [...], "requests": N}.
--fail-first N answers the first N HTTP requests 503 (Retry-After: 0), to
exercise the exporter's retries.
"""
import json
import re
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

ORIGINS = {"none", "application", "transport", "unknown"}
lock = threading.Lock()
spans, problems = [], []
state = {"requests": 0, "fail_first": 0}


def documented(doc_path):
    """Attribute name -> 'string' | 'int', and which are always present, from docs/otel.md's table."""
    kinds, always = {}, set()
    for m in re.finditer(r"^\| `([a-z0-9_.]+)` \| (string|int) \| (always|when [^|]*) \|", open(doc_path).read(), re.M):
        kinds[m.group(1)] = m.group(2)
        if m.group(3) == "always":
            always.add(m.group(1))
    return kinds, always


def value(v):
    kind = v.WhichOneof("value")
    return (kind, getattr(v, kind)) if kind else (None, None)


def check(span, resource, kinds, always, via):
    where = f"span {span.span_id.hex()} ({span.name})"
    out = []
    attrs = {}
    for kv in span.attributes:
        kind, v = value(kv.value)
        if kv.key in attrs:
            out.append(f"{where}: {kv.key} twice")
        if kv.key not in kinds:
            out.append(f"{where}: {kv.key} is not documented in docs/otel.md")
        elif (kinds[kv.key], kind) not in (("string", "string_value"), ("int", "int_value")):
            out.append(f"{where}: {kv.key} is a {kind}, docs/otel.md says {kinds[kv.key]}")
        attrs[kv.key] = v
    for name in always - attrs.keys():
        out.append(f"{where}: {name} missing")
    if len(span.trace_id) != 16 or not any(span.trace_id):
        out.append(f"{where}: trace_id {span.trace_id.hex()}")
    if len(span.span_id) != 8 or not any(span.span_id):
        out.append(f"{where}: span_id {span.span_id.hex()}")
    if span.parent_span_id and len(span.parent_span_id) != 8:
        out.append(f"{where}: parent_span_id {span.parent_span_id.hex()}")
    if span.kind != trace_pb2.Span.SPAN_KIND_CLIENT:
        out.append(f"{where}: kind {span.kind}")
    if span.end_time_unix_nano < span.start_time_unix_nano or span.start_time_unix_nano == 0:
        out.append(f"{where}: times {span.start_time_unix_nano}..{span.end_time_unix_nano}")
    if attrs.get("rpc.system.name") != "grpc":
        out.append(f"{where}: rpc.system.name {attrs.get('rpc.system.name')}")
    origin = attrs.get("grpcscope.error.origin")
    if origin not in ORIGINS:
        out.append(f"{where}: grpcscope.error.origin {origin}")
    failed = origin in ("application", "transport")
    if (span.status.code == trace_pb2.Status.STATUS_CODE_ERROR) != failed:
        out.append(f"{where}: status {span.status.code} for origin {origin}")
    if failed and "error.type" not in attrs:
        out.append(f"{where}: a failure without error.type")
    if "rpc.method" in attrs and span.name != attrs["rpc.method"]:
        out.append(f"{where}: name {span.name} is not rpc.method {attrs['rpc.method']}")
    res = {kv.key: value(kv.value)[1] for kv in resource.attributes}
    if res.get("service.name") != "grpcscope":
        out.append(f"{where}: resource {res}")
    record = {
        "via": via, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
        "status": span.status.code, "status_message": span.status.message, "attributes": attrs,
        "received_at": time.time(),
    }
    return record, out


def take(request, via, kinds, always):
    with lock:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                if ss.scope.name != "grpcscope":
                    problems.append(f"scope {ss.scope.name}")
                for span in ss.spans:
                    record, out = check(span, rs.resource, kinds, always, via)
                    spans.append(record)
                    problems.extend(out)


def main():
    doc, out_path = sys.argv[1], sys.argv[2]
    if "--fail-first" in sys.argv:
        state["fail_first"] = int(sys.argv[sys.argv.index("--fail-first") + 1])
    kinds, always = documented(doc)
    if not kinds:
        sys.exit("no attribute table in " + doc)

    class Http(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state["requests"] += 1
                fail = state["requests"] <= state["fail_first"]
            if fail:
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
                with lock:
                    problems.append(f"HTTP {self.path} {self.headers['Content-Type']}")
            req = trace_service_pb2.ExportTraceServiceRequest()
            req.ParseFromString(body)
            take(req, "http", kinds, always)
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            with lock:
                state["requests"] += 1
            take(request, "grpc", kinds, always)
            return trace_service_pb2.ExportTraceServiceResponse()

    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"http {http.server_address[1]} grpc {grpc_port}", flush=True)
    sys.stdin.read()
    server.stop(0)
    http.shutdown()
    with open(out_path, "w") as f:
        with lock:
            for s in spans:
                f.write(json.dumps(s, sort_keys=True) + "\n")
            f.write(json.dumps({"problems": problems[:100], "requests": state["requests"]}) + "\n")


if __name__ == "__main__":
    main()
