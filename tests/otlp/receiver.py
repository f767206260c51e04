#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for the tracing tests.

Decodes each `POST /v1/traces` (application/x-protobuf) with the OpenTelemetry
project's own generated Python classes (the `opentelemetry-proto` package), so the
spans the server exports are read by code that is not the server's, and keeps them
as JSON: `GET /spans` answers every span received so far, each with its resource's
attributes. Prints `listening <port>` once ready. Bound to loopback only.

Usage: receiver.py [--port N] [--status CODE] [--partial-reject N] [--delay-ms MS] [--discard]
  --status CODE      answer every export with CODE (a collector that refuses)
  --partial-reject N answer 200 with an OTLP partial success rejecting N spans
  --delay-ms MS      wait MS before answering each export (a slow collector)
  --discard          answer 200 without decoding or keeping anything, counting only
                     requests and bytes (GET /spans answers the counts): a collector
                     that costs the measured server nothing (tuning/tracing-overhead.sh)
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SPANS = []
LOCK = threading.Lock()


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def to_json(resource, scope, span):
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "trace_state": span.trace_state,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "attributes": attributes(span.attributes),
        "status_code": span.status.code,
        "status_message": span.status.message,
        "scope": scope.name,
        "resource": attributes(resource.attributes),
    }


class Handler(BaseHTTPRequestHandler):
    status = 200
    partial_reject = 0
    delay_ms = 0
    discard = False
    posts = 0
    bytes_in = 0

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(self.delay_ms / 1000)
        if self.path != "/v1/traces":
            return self.reply(404, b"", "text/plain")
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.reply(415, b"", "text/plain")
        if self.status != 200:
            return self.reply(self.status, b"", "text/plain")
        if self.discard:
            with LOCK:
                Handler.posts += 1
                Handler.bytes_in += len(body)
            return self.reply(200, b"", "application/x-protobuf")
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(body)
        got = [
            to_json(rs.resource, ss.scope, span)
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]
        with LOCK:
            SPANS.extend(got)
        resp = trace_service_pb2.ExportTraceServiceResponse()
        if self.partial_reject:
            resp.partial_success.rejected_spans = self.partial_reject
        self.reply(200, resp.SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        if self.path != "/spans":
            return self.reply(404, b"", "text/plain")
        with LOCK:
            if self.discard:
                body = json.dumps({"posts": Handler.posts, "bytes": Handler.bytes_in}).encode()
            else:
                body = json.dumps(SPANS).encode()
        self.reply(200, body, "application/json")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--partial-reject", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--discard", action="store_true")
    a = p.parse_args()
    Handler.status = a.status
    Handler.partial_reject = a.partial_reject
    Handler.delay_ms = a.delay_ms
    Handler.discard = a.discard
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
