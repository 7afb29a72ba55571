"""`imgflow serve` killed with SIGKILL at random points while uploads flow and workers process
them, restarted on the same data dir, many times over. Afterwards every acknowledged upload has
its full variant set and exactly one manifest that matches it, nothing half-written is visible
in either bucket, and no event was lost or dead-lettered on the way.

IMGFLOW_CRASH_CYCLES (default 100) sets the number of kills; IMGFLOW_CRASH_SEED the random seed
(printed, so a failure can be replayed)."""

import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
CYCLES = int(os.environ.get("IMGFLOW_CRASH_CYCLES", "100"))
SEED = int(os.environ.get("IMGFLOW_CRASH_SEED", str(int(time.time()))))
DRAIN_SECONDS = 300  # the sanitizer build processes several times slower

# Small variants keep a cycle short under the sanitizers; the code paths are the real ones.
RECIPE = """\
variants:
  - name: small
    width: 96
    height: 96
    fit: inside
    format: jpeg
    watermark: true
  - name: thumb
    width: 32
    height: 32
    fit: cover
    format: webp
watermark:
  text: "imgflow"
  min_width: 0
"""


class Uploader(threading.Thread):
    """Uploads distinct keys, a few per second, and remembers which were acknowledged (HTTP 200
    with an ETag) until told to stop. The pace keeps the workers busy without a backlog that
    would make the final drain long."""

    def __init__(self, client, cycle, sources, acked, rng):
        super().__init__(daemon=True)
        self.client, self.cycle, self.sources, self.acked = client, cycle, sources, acked
        self.pause = [rng.uniform(0.0, 0.15) for _ in range(1000)]
        self.stopping = threading.Event()

    def run(self):
        n = 0
        while not self.stopping.wait(self.pause[n % len(self.pause)]):
            name, body, content_type = self.sources[n % len(self.sources)]
            key = f"c{self.cycle:03d}/u{n:03d}-{name}"
            n += 1
            try:
                response = self.client.put_object(Bucket="uploads", Key=key, Body=body,
                                                  ContentType=content_type)
            except Exception:  # the server died under it: not acknowledged, nothing promised
                continue
            self.acked[key] = response["ETag"].strip('"')


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgflow-crash-test-")
        recipe = os.path.join(self.tmp, "recipe.yaml")
        with open(recipe, "w") as f:
            f.write(RECIPE)
        self.extra_env = {"IMGFLOW_CONFIG": recipe}
        self.sources = []
        for name, content_type in (("logo.png", "image/png"), ("spinner.gif", "image/gif")):
            with open(os.path.join(SAMPLES, name), "rb") as f:
                self.sources.append((name, f.read(), content_type))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_server(self):
        return ServerProcess(os.environ["IMGFLOW_BINARY"], tmp=self.tmp, workers=2,
                             extra_env=self.extra_env).start()

    def client(self, server, key):
        return boto3.client(
            "s3", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"},
                          connect_timeout=2, read_timeout=20))

    def kill(self, server):
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        server.log.close()

    def test_every_acknowledged_upload_survives_repeated_sigkill(self):
        print(f"crash test: {CYCLES} cycles, seed {SEED}", flush=True)
        rng = random.Random(SEED)
        acked = {}
        started = time.time()
        for cycle in range(CYCLES):
            server = self.start_server()
            uploader = Uploader(self.client(server, server.admin), cycle, self.sources, acked,
                                rng)
            uploader.start()
            time.sleep(rng.uniform(0.02, 1.2))  # somewhere in an upload, a commit or an image
            self.kill(server)
            uploader.stopping.set()
            uploader.join(timeout=60)
        print(f"{CYCLES} kills in {time.time() - started:.0f} s, {len(acked)} uploads "
              "acknowledged", flush=True)
        self.assertGreater(len(acked), CYCLES, "too few uploads were acknowledged to mean much")

        server = self.start_server()
        try:
            admin = self.client(server, server.admin)
            started = time.time()
            self.wait_for_drain(server)
            print(f"drained in {time.time() - started:.0f} s", flush=True)
            self.check_outputs(admin, acked)
            self.assertEqual(server.metric("imgflow_dlq_size"), 0,
                             "an event was dead-lettered; server log:\n" + self.log_tail(server))
        finally:
            self.assertEqual(server.stop(), 0)

    def wait_for_drain(self, server):
        deadline = time.time() + DRAIN_SECONDS
        while time.time() < deadline:
            if server.pending_events() == 0:
                return
            time.sleep(0.5)
        self.fail(f"{server.pending_events()} events still pending after {DRAIN_SECONDS} s")

    def log_tail(self, server):
        with open(server.log_path) as f:
            return f.read()[-4000:]

    def list_all(self, admin, bucket):
        objects = {}
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                objects[o["Key"]] = o
        return objects

    def check_outputs(self, admin, acked):
        uploads = self.list_all(admin, "uploads")
        processed = self.list_all(admin, "processed")
        # Every source that is there reads back whole (an upload is stored entirely or not at all).
        for key, listed in uploads.items():
            body = admin.get_object(Bucket="uploads", Key=key)["Body"].read()
            self.assertEqual(len(body), listed["Size"], key)
            self.assertEqual(hashlib.md5(body).hexdigest(), listed["ETag"].strip('"'), key)
        for key, etag in acked.items():
            self.assertIn(key, uploads, f"acknowledged upload {key} is gone")
            self.assertEqual(uploads[key]["ETag"].strip('"'), etag, key)
        # Every stored source (acknowledged, or committed just before a kill) has one manifest
        # that matches it; every output is listed by a manifest and reads back as listed.
        expected = set()
        for key, listed in uploads.items():
            manifest_key = f"{key}/manifest.json"
            self.assertIn(manifest_key, processed, f"no manifest for {key}")
            manifest = json.loads(admin.get_object(Bucket="processed",
                                                   Key=manifest_key)["Body"].read())
            self.assertEqual(manifest["source"]["key"], key)
            self.assertEqual(manifest["source"]["etag"], listed["ETag"].strip('"'), key)
            self.assertEqual([v["name"] for v in manifest["variants"]], ["small", "thumb"], key)
            expected.add(manifest_key)
            for variant in manifest["variants"]:
                body = admin.get_object(Bucket="processed", Key=variant["key"])["Body"].read()
                self.assertEqual(len(body), variant["bytes"], variant["key"])
                self.assertEqual(hashlib.sha256(body).hexdigest(), variant["sha256"],
                                 variant["key"])
                expected.add(variant["key"])
        self.assertEqual(set(processed), expected, "outputs no manifest accounts for")


if __name__ == "__main__":
    unittest.main(verbosity=2)
