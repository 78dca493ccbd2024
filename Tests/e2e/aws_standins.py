"""Stand-ins for the AWS endpoints that exist only inside AWS, written to AWS's documented
protocols: the EC2 instance metadata service (IMDSv2) and the container credentials endpoint
(ECS task roles, EKS Pod Identity). They hand out real keys of a moto IAM user, rotated by
`KeyRotator`, so every credential they give is still proven by a signature moto checks.

And one stand-in for a limitation of moto: with signature checking on, moto refuses the unsigned
`AssumeRoleWithWebIdentity` that the AWS SDKs (and Switchyard) send (it answers 500).
`WebIdentityProxy` checks that the call arrives unsigned and well formed, then signs it with the
test's admin key and passes it to moto, whose answer (the role's real credentials) goes back."""
import json
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyRotator:
    """Access keys of one moto IAM user that live `lifetime` seconds: a new one every
    `lifetime / 2`, and each deleted in moto when it expires, so a request signed with an expired
    key is refused by moto, not just frowned upon."""

    def __init__(self, moto, user, lifetime=15.0):
        self.iam = moto.client("iam")
        self.user, self.lifetime = user, lifetime
        self.lock = threading.Lock()
        self.keys = []   # (id, secret, expires_at)
        self.issued = 0
        for key in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            self.iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        self.issue()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def issue(self):
        key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        with self.lock:
            self.keys.append((key["AccessKeyId"], key["SecretAccessKey"], time.time() + self.lifetime))
            self.issued += 1

    def run(self):
        while not self.stop_flag.wait(0.2):
            now = time.time()
            with self.lock:
                expired = [k for k in self.keys if k[2] <= now]
                self.keys = [k for k in self.keys if k[2] > now]
                newest = self.keys[-1][2] if self.keys else 0
            for key_id, _, _ in expired:
                self.iam.delete_access_key(UserName=self.user, AccessKeyId=key_id)
            if newest - now <= self.lifetime / 2:
                self.issue()

    def current(self):
        """The newest key: (id, secret, expiry as epoch seconds)."""
        with self.lock:
            return self.keys[-1]

    def stop(self):
        self.stop_flag.set()
        self.thread.join()


class _Server:
    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _reply(handler, status, body, content_type="application/json"):
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class InstanceMetadata(_Server):
    """IMDSv2: `PUT /latest/api/token` with a TTL header gives a session token; every other
    request needs it (401 without), as on EC2."""

    ROLE = "switchyard-instance-role"

    def __init__(self, keys):
        self.keys, self.tokens, self.refused, self.served = keys, set(), 0, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_PUT(self):
                if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return _reply(self, 400, "missing X-aws-ec2-metadata-token-ttl-seconds", "text/plain")
                token = f"token-{time.time_ns()}"
                outer.tokens.add(token)
                _reply(self, 200, token, "text/plain")

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") not in outer.tokens:
                    outer.refused += 1
                    return _reply(self, 401, "", "text/plain")
                if self.path == "/latest/meta-data/iam/security-credentials/":
                    return _reply(self, 200, outer.ROLE, "text/plain")
                if self.path == f"/latest/meta-data/iam/security-credentials/{outer.ROLE}":
                    key_id, secret, expires = outer.keys.current()
                    outer.served += 1
                    return _reply(self, 200, json.dumps({"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                                                         "AccessKeyId": key_id, "SecretAccessKey": secret, "Token": "", "Expiration": iso(expires)}))
                _reply(self, 404, "", "text/plain")

        super().__init__(Handler)


class ContainerCredentials(_Server):
    """The ECS/EKS container credentials endpoint: `GET` with the `Authorization` token, JSON
    with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`. `failing` makes it answer 500."""

    def __init__(self, keys, token):
        self.keys, self.token, self.failing, self.served, self.failed, self.unauthorized = keys, token, False, 0, 0, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Authorization") != outer.token:
                    outer.unauthorized += 1
                    return _reply(self, 403, json.dumps({"code": "AccessDenied", "message": "bad authorization token"}))
                if outer.failing:
                    outer.failed += 1
                    return _reply(self, 500, json.dumps({"code": "InternalError", "message": "agent unavailable (stand-in)"}))
                key_id, secret, expires = outer.keys.current()
                outer.served += 1
                _reply(self, 200, json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret, "Token": "", "Expiration": iso(expires),
                                              "RoleArn": "arn:aws:iam::123456789012:role/task"}))

        super().__init__(Handler)


class WebIdentityProxy(_Server):
    """Between Switchyard and moto's STS: takes the unsigned AssumeRoleWithWebIdentity, checks
    it, signs it with `admin` and forwards it. `expires_in` shortens the credentials' Expiration
    in moto's answer, so the test sees refreshes (and the token file read again)."""

    def __init__(self, moto_url, admin, expires_in=None):
        self.moto_url, self.admin, self.expires_in = moto_url, Credentials(*admin), expires_in
        self.calls = []   # the form of each call
        self.problems = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                if "Authorization" in self.headers or "X-Amz-Security-Token" in self.headers:
                    outer.problems.append("the call was signed")
                if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
                    outer.problems.append(f"unexpected call {form.get('Action')}")
                for field in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
                    if not form.get(field):
                        outer.problems.append(f"{field} missing")
                outer.calls.append(form)
                request = AWSRequest(method="POST", url=outer.moto_url + "/", data=body,
                                     headers={"Content-Type": self.headers.get("Content-Type")})
                SigV4Auth(outer.admin, "sts", "us-east-1").add_auth(request)
                answer = requests.post(outer.moto_url + "/", data=body, headers=dict(request.headers), timeout=30)
                text = answer.text
                if outer.expires_in and answer.status_code == 200:
                    start, end = text.index("<Expiration>") + len("<Expiration>"), text.index("</Expiration>")
                    text = text[:start] + iso(time.time() + outer.expires_in) + text[end:]
                _reply(self, answer.status_code, text, answer.headers.get("Content-Type", "text/xml"))

        super().__init__(Handler)
