"""The whole embedded pipeline through the real binary: upload with boto3 or awscli → event →
worker → variants and manifest.json in the private bucket; poison images end in the dead-letter
store without holding up the others; every invocation is logged START/END/REPORT."""

import json
import os
import subprocess
import sys
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
WAIT_SECONDS = 120  # generous: the sanitizer build decodes several times slower


class PipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"], workers=2).start()
        cls.env = cls.server.client_env()
        cls.admin = boto3.client(
            "s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
            aws_access_key_id=cls.server.admin[0], aws_secret_access_key=cls.server.admin[1],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    def wait_for_manifest(self, key):
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            try:
                body = self.admin.get_object(Bucket="processed", Key=key)["Body"].read()
                return json.loads(body)
            except self.admin.exceptions.NoSuchKey:
                time.sleep(0.2)
        self.fail(f"no {key} after {WAIT_SECONDS} s; server log:\n" + self.server_log()[-4000:])

    def server_log(self):
        with open(self.server.log_path) as f:
            return f.read()

    def check_variants(self, manifest, source_key):
        self.assertEqual(manifest["source"]["key"], source_key)
        names = [v["name"] for v in manifest["variants"]]
        self.assertEqual(names, ["large", "medium", "thumb"])
        for variant in manifest["variants"]:
            head = self.admin.head_object(Bucket="processed", Key=variant["key"])
            self.assertEqual(head["ContentLength"], variant["bytes"])
            self.assertEqual(head["ETag"].strip('"'), variant["etag"].strip('"'))
            self.assertEqual(head["ContentType"], variant["content_type"])
            self.assertEqual(head["Metadata"]["imgflow-variant"], variant["name"])
        large = manifest["variants"][0]
        self.assertLessEqual(max(large["width"], large["height"]), 1600)
        thumb = manifest["variants"][2]
        self.assertEqual((thumb["width"], thumb["height"]), (200, 200))

    def test_boto3_upload_becomes_every_variant_and_a_manifest(self):
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="albums/summer trip/landscape.jpg",
                                  Body=f.read(), ContentType="image/jpeg")
        manifest = self.wait_for_manifest("albums/summer trip/landscape/manifest.json")
        self.check_variants(manifest, "albums/summer trip/landscape.jpg")
        self.assertEqual(manifest["variants"][0]["width"], 1600)
        self.assertTrue(manifest["placeholder"].startswith("data:image/webp;base64,"))

    def test_anonymous_awscli_upload_is_processed(self):
        subprocess.run(
            ["aws", "s3", "cp", os.path.join(SAMPLES, "logo.png"), "s3://uploads/logo.png",
             "--endpoint-url", self.server.endpoint, "--no-sign-request", "--only-show-errors"],
            env=self.env, check=True, timeout=120)
        manifest = self.wait_for_manifest("logo/manifest.json")
        self.check_variants(manifest, "logo.png")
        # The destination stays private.
        anonymous = subprocess.run(
            ["aws", "s3", "ls", "s3://processed/", "--endpoint-url", self.server.endpoint,
             "--no-sign-request"], env=self.env, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(anonymous.returncode, 0)

    def test_poison_image_goes_to_the_dead_letters_and_others_still_flow(self):
        self.admin.put_object(Bucket="uploads", Key="poison.jpg", Body=b"\xff\xd8\xff not really",
                              ContentType="image/jpeg")
        with open(os.path.join(SAMPLES, "spinner.gif"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="after-poison.gif", Body=f.read(),
                                  ContentType="image/gif")
        manifest = self.wait_for_manifest("after-poison/manifest.json")
        self.assertEqual(manifest["source"]["frames"], 3)
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline and (self.server.metric("imgflow_dlq_size") or 0) < 1:
            time.sleep(0.2)
        self.assertEqual(self.server.metric("imgflow_dlq_size"), 1)
        with self.assertRaises(self.admin.exceptions.NoSuchKey):
            self.admin.get_object(Bucket="processed", Key="poison/manifest.json")

    def test_every_invocation_is_logged_like_lambda(self):
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="logged.jpg", Body=f.read())
        self.wait_for_manifest("logged/manifest.json")
        log = self.server_log()
        self.assertRegex(log, r"START RequestId: [0-9a-f-]{36} Version: \$LATEST")
        self.assertRegex(log, r"END RequestId: [0-9a-f-]{36}")
        self.assertRegex(log, r"REPORT RequestId: [0-9a-f-]{36}\tDuration: [\d.]+ ms\t"
                              r"Billed Duration: \d+ ms\tMemory Size: \d+ MB\tMax Memory Used: \d+ MB")
        self.assertGreaterEqual(self.server.metric("imgflow_invocations_total"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
