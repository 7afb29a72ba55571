"""The whole embedded pipeline through the real binary: upload with boto3 or awscli → event →
worker → variants and manifest.json in the private bucket; poison images end in the dead-letter
store without holding up the others; every invocation is logged START/END/REPORT, as JSON."""

import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
WAIT_SECONDS = 120  # generous: the sanitizer build decodes several times slower



def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()

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
        manifest = self.wait_for_manifest("albums/summer trip/landscape.jpg/manifest.json")
        self.check_variants(manifest, "albums/summer trip/landscape.jpg")
        self.assertEqual(manifest["variants"][0]["width"], 1600)
        self.assertTrue(manifest["placeholder"].startswith("data:image/webp;base64,"))
        self.assertRegex(manifest["dominant_color"], r"^#[0-9a-f]{6}$")
        # For a <picture>: each format's srcset names its variants by width, keys percent-encoded
        # (the space in "summer trip"), and every key in it is a stored object.
        # Only the variants that show the whole picture: the square thumbnail is another crop.
        formats = manifest["formats"]
        source = manifest["source"]
        whole = [v for v in manifest["variants"]
                 if abs(v["width"] * source["height"] - v["height"] * source["width"])
                 <= max(source["width"], source["height"])]
        self.assertEqual(sorted(f["format"] for f in formats), sorted({v["format"] for v in whole}))
        self.assertEqual(sorted(n for f in formats for n in f["variants"]),
                         sorted(v["name"] for v in whole))
        self.assertNotIn("thumb", [n for f in formats for n in f["variants"]])
        for group in formats:
            for entry in group["srcset"].split(", "):
                key, width = entry.split(" ")
                self.assertIn("summer%20trip", key)
                stored = self.admin.head_object(Bucket="processed",
                                                Key=urllib.parse.unquote(key))
                self.assertEqual(stored["ContentType"], group["content_type"])
                self.assertTrue(width.endswith("w"))

    def test_anonymous_awscli_upload_is_processed(self):
        subprocess.run(
            ["aws", "s3", "cp", os.path.join(SAMPLES, "logo.png"), "s3://uploads/logo.png",
             "--endpoint-url", self.server.endpoint, "--no-sign-request", "--only-show-errors"],
            env=self.env, check=True, timeout=120)
        manifest = self.wait_for_manifest("logo.png/manifest.json")
        self.check_variants(manifest, "logo.png")
        # The destination stays private.
        anonymous = subprocess.run(
            ["aws", "s3", "ls", "s3://processed/", "--endpoint-url", self.server.endpoint,
             "--no-sign-request"], env=self.env, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(anonymous.returncode, 0)

    def test_dlq_list_escapes_what_an_uploader_put_in_a_key(self):
        key = "forged\nrow 99 2026-01-01\x1b[2J\u009b2J.jpg"  # \u009b: the one-byte CSI
        self.admin.put_object(Bucket="uploads", Key=key, Body=b"\xff\xd8\xff not an image",
                              ContentType="image/jpeg")
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            if any(d["event"]["key"] == key for d in self.dead_letters()):
                break
            time.sleep(0.1)
        [letter] = [d for d in self.dead_letters() if d["event"]["key"] == key]
        listed = self.imgflow("dlq", "list", "--data-dir", self.server.data_dir).stdout
        shown = self.imgflow("dlq", "show", str(letter["id"]), "--data-dir",
                             self.server.data_dir).stdout
        # The other tests expect the dead-letter store as they left it.
        self.imgflow("dlq", "delete", str(letter["id"]), "--data-dir", self.server.data_dir)
        self.assertNotIn("\x1b", listed)
        self.assertNotIn("\u009b", listed)
        self.assertIn("forged\\x0Arow 99 2026-01-01\\x1B[2J\\xC2\\x9B2J.jpg", listed)
        # JSON for a terminal: every control escaped, and still the same JSON.
        self.assertNotIn("\x1b", shown)
        self.assertNotIn("\u009b", shown)
        self.assertIn("\\u009b", shown)
        self.assertEqual(json.loads(shown)["event"]["key"], key)
        rows = [line for line in listed.splitlines() if line.startswith("row 99")]
        self.assertEqual(rows, [], "a newline in a key forged a row")

    def test_names_that_differ_only_in_extension_keep_their_own_outputs(self):
        # A phone's IMG_0001.HEIC and IMG_0001.JPG; a user's photo.jpg, then photo.png.
        self.admin.put_object(Bucket="uploads", Key="IMG_0001.JPG", Body=sample("landscape.jpg"))
        self.admin.put_object(Bucket="uploads", Key="IMG_0001.PNG", Body=sample("logo.png"))
        first = self.wait_for_manifest("IMG_0001.JPG/manifest.json")
        second = self.wait_for_manifest("IMG_0001.PNG/manifest.json")
        self.check_variants(first, "IMG_0001.JPG")
        self.check_variants(second, "IMG_0001.PNG")
        self.assertEqual(first["source"]["format"], "jpeg")
        self.assertEqual(second["source"]["format"], "png")
        dead = [d for d in self.dead_letters() if d["event"]["key"].startswith("IMG_0001")]
        self.assertEqual(dead, [])

    def test_variants_are_revalidated_and_the_manifest_never_cached(self):
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="cached.jpg", Body=f.read())
        manifest = self.wait_for_manifest("cached.jpg/manifest.json")
        for variant in manifest["variants"]:
            head = self.admin.head_object(Bucket="processed", Key=variant["key"])
            # A re-upload rewrites these keys: caches must ask again, never keep them a year.
            self.assertEqual(head["CacheControl"], "public, no-cache")
        head = self.admin.head_object(Bucket="processed", Key="cached.jpg/manifest.json")
        self.assertEqual(head["CacheControl"], "no-cache")

    def imgflow(self, *args, check=True):
        """`imgflow ARGS` as an operator on the server's machine runs it."""
        result = subprocess.run([os.environ["IMGFLOW_BINARY"], *args], capture_output=True,
                                text=True, timeout=60, env=self.env)
        if check:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def dead_letters(self):
        listed = self.imgflow("dlq", "list", "--json", "--data-dir", self.server.data_dir)
        return json.loads(listed.stdout)["dead_letters"]

    def wait_for_metric(self, name, at_least):
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline and (self.server.metric(name) or 0) < at_least:
            time.sleep(0.2)
        self.assertGreaterEqual(self.server.metric(name) or 0, at_least, name)

    def test_poison_image_goes_to_the_dead_letters_and_others_still_flow(self):
        self.admin.put_object(Bucket="uploads", Key="poison.jpg", Body=b"\xff\xd8\xff not really",
                              ContentType="image/jpeg")
        with open(os.path.join(SAMPLES, "spinner.gif"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="after-poison.gif", Body=f.read(),
                                  ContentType="image/gif")
        manifest = self.wait_for_manifest("after-poison.gif/manifest.json")
        self.assertEqual(manifest["source"]["frames"], 3)
        self.wait_for_metric("imgflow_dlq_size", 1)
        self.assertEqual(self.server.metric("imgflow_dlq_size"), 1)
        with self.assertRaises(self.admin.exceptions.NoSuchKey):
            self.admin.get_object(Bucket="processed", Key="poison.jpg/manifest.json")

        # The operator's view, through the running server's admin endpoint.
        [letter] = self.dead_letters()
        self.assertEqual(letter["event"]["key"], "poison.jpg")
        self.assertEqual(letter["failure"], "permanent")
        self.assertIn("poison.jpg", letter["error"])
        table = self.imgflow("dlq", "list", "--data-dir", self.server.data_dir).stdout
        self.assertIn("uploads/poison.jpg", table)
        shown = json.loads(self.imgflow("dlq", "show", str(letter["id"]),
                                        "--data-dir", self.server.data_dir).stdout)
        self.assertEqual(shown["event"]["etag"], letter["event"]["etag"])
        # Redriven, it fails again (the bytes are still bad) and comes back under a new id.
        dead_before = self.server.metric("imgflow_dead_lettered_total")
        redriven = self.imgflow("dlq", "redrive", str(letter["id"]),
                                "--data-dir", self.server.data_dir)
        self.assertIn(f"dead letter {letter['id']} redriven as event", redriven.stdout)
        self.wait_for_metric("imgflow_dead_lettered_total", dead_before + 1)
        [again] = self.dead_letters()
        self.assertNotEqual(again["id"], letter["id"])
        self.assertEqual(again["event"]["key"], "poison.jpg")
        missing = self.imgflow("dlq", "show", str(letter["id"]), "--data-dir",
                               self.server.data_dir, check=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn(f"no dead letter {letter['id']}", missing.stderr)
        self.imgflow("dlq", "delete", str(again["id"]), "--data-dir", self.server.data_dir)
        self.assertEqual(self.dead_letters(), [])

    def test_dead_letters_are_the_admins_alone(self):
        for creds in (None, self.server.function):
            args = ["dlq", "list", "--endpoint", self.server.endpoint]
            env = dict(self.env)
            if creds:
                env["IMGFLOW_ACCESS_KEY_ID"], env["IMGFLOW_SECRET_ACCESS_KEY"] = creds
            else:
                env["IMGFLOW_ACCESS_KEY_ID"], env["IMGFLOW_SECRET_ACCESS_KEY"] = ("AKIDNOBODY", "x" * 40)
            result = subprocess.run([os.environ["IMGFLOW_BINARY"], *args], capture_output=True,
                                    text=True, timeout=60, env=env)
            self.assertEqual(result.returncode, 2, result.stdout)
            self.assertIn("refused", result.stderr + result.stdout)
        bad = self.imgflow("dlq", "list", "--endpoint", "127.0.0.1:9000", check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--endpoint must be the server's URL", bad.stderr)
        with self.assertRaises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(self.server.endpoint + "/_imgflow/dlq")
        self.assertEqual(anonymous.exception.code, 403)

    def test_a_later_upload_of_the_same_key_wins(self):
        # Two versions in quick succession: their events may run in either order or at once;
        # the older one is stale by the time it runs or is overwritten by the newer one's.
        first = sample("landscape.jpg")
        second = sample("logo.png")
        self.admin.put_object(Bucket="uploads", Key="twice.img", Body=first)
        newer = self.admin.put_object(Bucket="uploads", Key="twice.img", Body=second)
        etag = newer["ETag"].strip('"')
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            try:
                manifest = self.wait_for_manifest("twice.img/manifest.json")
                if manifest["source"]["etag"] == etag and self.server.pending_events() == 0:
                    break
            except AssertionError:
                pass
            time.sleep(0.2)
        manifest = self.wait_for_manifest("twice.img/manifest.json")
        self.assertEqual(manifest["source"]["etag"], etag)
        self.assertEqual(manifest["source"]["format"], "png")
        self.check_variants(manifest, "twice.img")

    def test_deleting_an_upload_takes_its_outputs_with_it(self):
        # One by DeleteObject, two by DeleteObjects (what `aws s3 rm --recursive` sends).
        keys = ["gone/one.jpg", "gone/dir with space/é two.png", "gone/three.jpg"]
        for key in keys:
            self.admin.put_object(Bucket="uploads", Key=key,
                                  Body=sample("logo.png" if key.endswith(".png") else
                                              "landscape.jpg"))
        outputs = {key: [v["key"] for v in self.wait_for_manifest(key + "/manifest.json")
                         ["variants"]] for key in keys}
        self.admin.put_object(Bucket="uploads", Key="gone-not/stays.png", Body=sample("logo.png"))
        self.wait_for_manifest("gone-not/stays.png/manifest.json")
        self.admin.delete_object(Bucket="uploads", Key=keys[0])
        subprocess.run(["aws", "s3", "rm", "--recursive", "s3://uploads/gone/",
                        "--endpoint-url", self.server.endpoint, "--only-show-errors"],
                       env=self.server.client_env(self.server.admin), check=True, timeout=120)
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            listed = self.admin.list_objects_v2(Bucket="processed", Prefix="gone/")
            if listed["KeyCount"] == 0:
                break
            time.sleep(0.2)
        self.assertEqual(listed["KeyCount"], 0, [o["Key"] for o in listed.get("Contents", [])])
        self.assertEqual(len([k for ks in outputs.values() for k in ks]), 9)
        self.wait_for_manifest("gone-not/stays.png/manifest.json")  # another source's stay

    def test_metrics_measure_every_stage_and_ready_says_yes(self):
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="measured.jpg", Body=f.read())
        self.wait_for_manifest("measured.jpg/manifest.json")
        with urllib.request.urlopen(self.server.endpoint + "/_imgflow/metrics") as r:
            text = r.read().decode()
        for stage in ("check", "fetch", "render", "store", "total"):
            count = re.search(r'imgflow_stage_duration_seconds_count\{stage="%s"\} (\d+)' % stage,
                              text)
            self.assertIsNotNone(count, stage)
            self.assertGreaterEqual(int(count.group(1)), 1, stage)
        self.assertGreaterEqual(self.server.metric("imgflow_uploads_total"), 1)
        self.assertGreater(self.server.metric("imgflow_source_bytes_total"), 0)
        self.assertGreater(self.server.metric("imgflow_output_bytes_total"), 0)
        with urllib.request.urlopen(self.server.endpoint + "/_imgflow/ready") as r:
            self.assertEqual(r.status, 200)

    def test_every_invocation_is_logged_like_lambda(self):
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            self.admin.put_object(Bucket="uploads", Key="logged.jpg", Body=f.read())
        self.wait_for_manifest("logged.jpg/manifest.json")
        # Every line of the server's stderr is one JSON object: jq reads the whole stream.
        lines = [json.loads(line) for line in self.server_log().splitlines() if line]
        by_msg = {}
        for line in lines:
            self.assertIn("level", line)
            by_msg.setdefault(line["msg"], []).append(line)
        start = by_msg["START"][0]
        self.assertRegex(start["request_id"], r"^[0-9a-f-]{36}$")
        self.assertEqual(start["version"], "$LATEST")
        ends = {line["request_id"] for line in by_msg["END"]}
        self.assertIn(start["request_id"], ends)
        report = next(r for r in by_msg["REPORT"] if r["request_id"] == start["request_id"])
        self.assertGreater(report["duration_ms"], 0)
        self.assertGreaterEqual(report["billed_duration_ms"], 1)
        self.assertEqual(report["memory_limit_mb"], 512)  # the recipe's limits.max_memory
        self.assertGreater(report["process_peak_rss_mb"], 0)
        self.assertGreaterEqual(self.server.metric("imgflow_invocations_total"), 1)
        # Seconds, not microseconds: one small image takes well under a minute.
        seconds = self.server.metric("imgflow_invocation_duration_seconds_sum")
        self.assertGreater(seconds, 0)
        self.assertLess(seconds, 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
