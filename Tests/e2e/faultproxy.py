"""A small fault-injecting HTTP proxy for the test harness: moto has no fault injection, so this
sits between Switchyard and moto and throttles, fails, splits, slows or drops PutEvents calls.
Faults that answer without forwarding never deliver, so "delivered exactly once per success" can
be checked against moto's SQS queue."""
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class FaultProxy:
    FAULTS = ("throttle", "error", "partial", "slow", "drop")

    def __init__(self, upstream, credentials, plan, region="us-east-1", slow_seconds=0.3, seed=7, service="events", failed_share=None):
        """`plan` is a list of fault names (or "ok") applied to requests in turn, cycling, so a
        short test still meets every fault. "partial" fails a third of a request's entries (for
        Kinesis, its records), or `failed_share` of them, one by one, and forwards the rest."""
        assert set(plan) <= set(self.FAULTS) | {"ok"}
        self.upstream = upstream
        self.credentials = Credentials(*credentials)
        self.region = region
        self.service = service
        self.failed_share = failed_share
        self.plan = list(plan)
        self.slow_seconds = slow_seconds
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = dict(requests=0, throttle=0, error=0, partial=0, slow=0, drop=0, forwarded=0, failed_entries=0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_fault(self):
        with self.lock:
            fault = self.plan[self.counts["requests"] % len(self.plan)]
            self.counts["requests"] += 1
            if fault != "ok":
                self.counts[fault] += 1
            return fault

    def reply(self, handler, status, body, content_type="application/x-amz-json-1.1"):
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def forward(self, handler, body, resign=False):
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("content-length", "connection")}
        if resign:
            request = AWSRequest(method="POST", url=self.upstream + "/", data=body, headers={
                "Content-Type": headers.get("Content-Type"), "X-Amz-Target": headers.get("X-Amz-Target")})
            SigV4Auth(self.credentials, self.service, self.region).add_auth(request)
            headers = dict(request.headers)
        with self.lock:
            self.counts["forwarded"] += 1
        return requests.post(self.upstream + "/", data=body, headers=headers, timeout=30)

    def handle(self, handler, body):
        fault = self.next_fault()
        if fault == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        if fault == "throttle":
            return self.reply(handler, 400, {"__type": "ThrottlingException", "message": "Rate exceeded (fault proxy)"})
        if fault == "error":
            return self.reply(handler, 500, {"__type": "InternalException", "message": "fault proxy"})
        if fault == "slow":
            threading.Event().wait(self.slow_seconds)
        request = json.loads(body)
        if fault == "partial" and "Records" in request:
            return self.partial_records(handler, request)
        entries = request["Entries"]
        if fault == "partial" and len(entries) > 1:
            # Forward some entries, and answer for the others with a per-entry retryable error.
            failed = set(self.random.sample(range(len(entries)), k=max(1, len(entries) // 3)))
            kept = [e for i, e in enumerate(entries) if i not in failed]
            upstream = self.forward(handler, json.dumps({"Entries": kept}).encode(), resign=True)
            if upstream.status_code != 200:
                return self.reply(handler, upstream.status_code, upstream.json() if upstream.content.startswith(b"{") else {"__type": "Upstream"})
            results = iter(upstream.json()["Entries"])
            merged = [{"ErrorCode": self.random.choice(["ThrottlingException", "InternalFailure"]), "ErrorMessage": "fault proxy"}
                      if i in failed else next(results) for i in range(len(entries))]
            return self.reply(handler, 200, {"FailedEntryCount": sum("ErrorCode" in r for r in merged), "Entries": merged})
        upstream = self.forward(handler, body)
        handler.send_response(upstream.status_code)
        handler.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
        handler.send_header("Content-Length", str(len(upstream.content)))
        handler.end_headers()
        handler.wfile.write(upstream.content)

    def partial_records(self, handler, request):
        """PutRecords with some records failed as Kinesis fails them under load: per record, with
        ProvisionedThroughputExceededException. The others go on to the stream."""
        records = request["Records"]
        share = self.failed_share if self.failed_share is not None else 1 / 3
        with self.lock:
            failed = {i for i in range(len(records)) if self.random.random() < share}
            self.counts["failed_entries"] += len(failed)
        kept = [r for i, r in enumerate(records) if i not in failed]
        results = iter([])
        if kept:
            upstream = self.forward(handler, json.dumps(dict(request, Records=kept)).encode(), resign=True)
            if upstream.status_code != 200:
                return self.reply(handler, upstream.status_code, upstream.json() if upstream.content.startswith(b"{") else {"__type": "Upstream"})
            results = iter(upstream.json()["Records"])
        merged = [{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard (fault proxy)"}
                  if i in failed else next(results) for i in range(len(records))]
        return self.reply(handler, 200, {"FailedRecordCount": len(failed), "Records": merged, "EncryptionType": "NONE"})

    def close(self):
        self.server.shutdown()
        self.server.server_close()
