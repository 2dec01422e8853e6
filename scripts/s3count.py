#!/usr/bin/env python3
"""A counting proxy in front of an S3 server (moto), for scripts/bench.sh.

    s3count.py LISTEN_PORT UPSTREAM_PORT

Forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged (moto does not check
signatures against the Host header's port) and counts it by the class AWS bills it as:

    LIST    GET on a bucket that lists (ListObjectsV2, ListObjectVersions, ListMultipartUploads)
    GET     GET of an object (and its retention), and any other bucket GET
    HEAD    HEAD
    PUT     PUT (objects, parts, retention)
    POST    POST (multipart create/complete, DeleteObjects)
    DELETE  DELETE (free on AWS)

`GET /__counts` answers the counts as JSON and sets them to zero. Loopback only.
"""

import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
COUNTS = {}
LISTING = ("list-type", "versions", "uploads")


def classify(method, target):
    url = urlsplit(target)
    parts = [p for p in url.path.split("/") if p]
    query = parse_qs(url.query, keep_blank_values=True)
    if method == "GET" and len(parts) <= 1 and (not query or any(q in query for q in LISTING)):
        return "LIST"
    return method


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, *args):
        pass

    def _forward(self):
        if self.path == "/__counts":
            with LOCK:
                body = json.dumps(COUNTS).encode()
                COUNTS.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        kind = classify(self.command, self.path)
        with LOCK:
            COUNTS[kind] = COUNTS.get(kind, 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = getattr(self, "_conn", None)
        if conn is None:
            conn = self._conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self._conn = None
            conn.close()
            conn = self._conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=120)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        # A HEAD's Content-Length is the object's, and is passed on as it came.
        length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


def main():
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    Proxy.upstream = upstream
    server = ThreadingHTTPServer(("127.0.0.1", listen), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
