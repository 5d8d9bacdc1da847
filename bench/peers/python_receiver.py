"""A peer for bench/receive: the verification code Flagsmith's documentation shows, in a
Python standard-library HTTP server (threads), plus json.loads of the body.

    python3 python_receiver.py PORT SECRET_FILE
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = open(sys.argv[2], "rb").read().rstrip(b"\r\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        signature = self.headers.get("X-Flagsmith-Signature", "")
        expected = hmac.new(SECRET, msg=body, digestmod=hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            self.answer(401, b'{"error":"invalid_signature"}')
            return
        json.loads(body)
        self.answer(200, b'{"status":"accepted"}')

    def answer(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
