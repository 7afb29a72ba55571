"""Notifications end to end: `imgflow serve` with a recipe `notify:` section posts signed webhooks
to a receiver in this test. The receiver is down at first and the server is killed (SIGKILL)
with notifications still queued; after a restart and the receiver coming up, every
notification arrives, once in effect, signed, and in order per source."""

import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import http.client
import urllib.parse

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

BINARY = os.environ["IMGFLOW_BINARY"]
SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
SECRET = "whsec-test-4f2a"
WAIT_SECONDS = 120  # the sanitizer build decodes several times slower


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A webhook endpoint on a fixed port that can be started late; keeps every delivery."""

    def __init__(self, port):
        self.port = port
        self.deliveries = []
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.deliveries.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def received(self):
        with self.lock:
            return list(self.deliveries)


def recipe(url):
    return f"""variants:
  - name: small
    width: 320
    format: webp
notify:
  webhooks:
    - url: {url}
      secret_env: IMGFLOW_TEST_HOOK_SECRET
"""


class NotifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-notify-test-")
        cls.receiver = Receiver(free_port())
        config = os.path.join(cls.tmp, "imgflow.yaml")
        with open(config, "w") as f:
            f.write(recipe(f"http://127.0.0.1:{cls.receiver.port}/hooks/imgflow"))
        cls.server = ServerProcess(BINARY, tmp=cls.tmp, workers=1, args=["--config", config],
                                   extra_env={"IMGFLOW_TEST_HOOK_SECRET": SECRET})

    @classmethod
    def tearDownClass(cls):
        cls.receiver.stop()
        if cls.server.proc and cls.server.proc.poll() is None:
            cls.server.stop()
        cls.server.cleanup()

    def client(self):
        return boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.server.admin[0],
                            aws_secret_access_key=self.server.admin[1],
                            config=Config(s3={"addressing_style": "path"}))

    def wait_for(self, what, predicate):
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}; server log:\n" + open(self.server.log_path).read()[-4000:])

    def manifest_etag(self, s3, key):
        try:
            body = s3.get_object(Bucket="processed", Key=key + "/manifest.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)["source"]["etag"]

    def ensure_started(self):
        if not (self.server.proc and self.server.proc.poll() is None):
            self.server.start()

    def open_events(self, signed=True):
        """GET /_imgflow/events, SigV4-signed as the admin; the open HTTP response."""
        url = self.server.endpoint + "/_imgflow/events"
        request = AWSRequest(method="GET", url=url)
        if signed:
            S3SigV4Auth(Credentials(*self.server.admin), "s3", "us-east-1").add_auth(request)
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT_SECONDS)
        connection.request("GET", parts.path, headers=dict(request.headers))
        return connection.getresponse()

    def test_events_stream_to_an_admin_only(self):
        self.ensure_started()
        refused = self.open_events(signed=False)
        self.assertEqual(refused.status, 403)
        stream = self.open_events()
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.getheader("Content-Type"), "text/event-stream")
        self.assertIsNone(stream.getheader("Content-Length"))
        self.assertEqual(stream.readline(), b"retry: 5000\n")
        s3 = self.client()
        s3.put_object(Bucket="uploads", Key="live/dashboard photo.jpg", Body=sample("landscape.jpg"))
        event = {}
        while event.get("key") != "live/dashboard photo.jpg":
            fields = {}
            for line in iter(stream.readline, b"\n"):
                if line.startswith(b":"):
                    continue
                name, _, value = line.decode().rstrip("\n").partition(": ")
                fields[name] = value
            if fields.get("event") == "processed":
                body = json.loads(fields["data"])
                self.assertEqual(fields["id"], body["id"])
                event = {"key": body["source"]["key"], "variants": body["variants"]}
        self.assertEqual(len(event["variants"]), 1)
        stream.close()

    def test_notifications_survive_a_down_receiver_and_a_crash(self):
        self.ensure_started()
        s3 = self.client()
        key = "albums/été 2026/IMG 0001.jpg"
        v1 = s3.put_object(Bucket="uploads", Key=key, Body=sample("landscape.jpg"))["ETag"].strip('"')
        self.wait_for("v1's manifest", lambda: self.manifest_etag(s3, key) == v1)
        v2 = s3.put_object(Bucket="uploads", Key=key, Body=sample("landscape.jpg") + b"trailing bytes change the ETag")["ETag"].strip('"')
        self.assertNotEqual(v1, v2)
        s3.put_object(Bucket="uploads", Key="broken.jpg", Body=b"\xff\xd8\xff\xe0 not a jpeg at all")
        self.wait_for("v2's manifest", lambda: self.manifest_etag(s3, key) == v2)
        self.wait_for("broken.jpg dead-lettered", lambda: b"broken.jpg" in subprocess.run(
            [BINARY, "dlq", "list", "--data-dir", self.server.data_dir],
            capture_output=True, timeout=60, env=self.server.client_env()).stdout)
        # Three notifications are queued, the receiver has been down all along: kill the server.
        self.assertEqual(self.receiver.received(), [])
        time.sleep(0.5)
        self.server.proc.kill()
        self.server.proc.wait(timeout=30)
        self.server.log.close()

        self.server.start()
        s3 = self.client()  # a new port
        time.sleep(1.5)  # a few failed attempts against the closed port
        self.receiver.start()
        ours = (key, "broken.jpg")  # another test's upload may be reported too
        self.wait_for("three notifications", lambda: len(
            {json.loads(body)["id"] for _, body in self.receiver.received()
             if json.loads(body)["source"]["key"] in ours}) >= 3)
        time.sleep(2)  # anything more (a duplicate) would arrive by now
        deliveries = self.receiver.received()

        bodies = []
        for headers, body in deliveries:
            signature = dict(part.split("=", 1) for part in headers["X-Imgflow-Signature"].split(","))
            expected = hmac.new(SECRET.encode(), signature["t"].encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            self.assertTrue(hmac.compare_digest(expected, signature["v1"]), headers)
            self.assertLess(abs(time.time() - int(signature["t"])), 300)
            parsed = json.loads(body)
            self.assertEqual(headers["X-Imgflow-Delivery"], parsed["id"])
            self.assertEqual(headers["X-Imgflow-Event"], parsed["type"])
            self.assertEqual(headers["Content-Type"], "application/json")
            if parsed["source"]["key"] in ours:
                bodies.append(parsed)

        unique = {b["id"]: b for b in bodies}  # at least once: receivers de-duplicate on id
        self.assertEqual(len(unique), 3, [b["type"] + " " + b["source"]["key"] for b in bodies])
        ours = [b for b in bodies if b["source"]["key"] == key]
        first_seen = list(dict.fromkeys(b["source"]["etag"] for b in ours))
        self.assertEqual(first_seen, [v1, v2], "in order per source")
        latest = next(b for b in ours if b["source"]["etag"] == v2)
        self.assertEqual(latest["type"], "processed")
        self.assertEqual(latest["source"]["bucket"], "uploads")
        self.assertEqual(latest["manifest"], {"bucket": "processed", "key": key + "/manifest.json"})
        [variant] = latest["variants"]
        self.assertEqual(variant["content_type"], "image/webp")
        head = s3.head_object(Bucket="processed", Key=variant["key"])
        self.assertEqual(head["ContentLength"], variant["bytes"])
        self.assertTrue(latest["placeholder"].startswith("data:image/"))
        self.assertRegex(latest["dominant_color"], r"^#[0-9a-f]{6}$")

        [failed] = [b for b in bodies if b["source"]["key"] == "broken.jpg"]
        self.assertEqual(failed["type"], "failed")
        self.assertEqual(failed["reason"], "permanent")
        self.assertIn("broken.jpg", failed["error"])
        self.assertNotIn("manifest", failed)

        # Delivered notifications are not dead letters: the only one is the source. (Another
        # test's notification may still be waiting out its backoff, so the queue is not checked.)
        listed = subprocess.run([BINARY, "dlq", "list", "--json", "--data-dir", self.server.data_dir],
                                capture_output=True, text=True, timeout=60,
                                env=self.server.client_env())
        self.assertEqual(listed.returncode, 0, listed.stderr)
        letters = json.loads(listed.stdout)
        self.assertEqual([l["event"]["key"] for l in letters["dead_letters"]], ["broken.jpg"], listed.stdout)

    def test_a_missing_secret_stops_the_server_with_a_clear_message(self):
        config = os.path.join(self.tmp, "imgflow.yaml")
        run = subprocess.run([BINARY, "serve", "--config", config, "--listen", "127.0.0.1:0",
                              "--data-dir", os.path.join(self.tmp, "other-data")],
                             capture_output=True, text=True, timeout=60,
                             env=self.server.client_env())
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("$IMGFLOW_TEST_HOOK_SECRET, which is not set", run.stderr)


if __name__ == "__main__":
    unittest.main()
