"""`imgflow reprocess` after a recipe change, against a running `imgflow serve`: a dry run that
writes nothing, a run SIGKILLed midway and run again, and what it leaves behind: the changed
variants re-rendered, the added ones made, the dropped ones deleted, every manifest rewritten,
and the unchanged variants untouched (same ETag, same Last-Modified). Then the same data dir
with the server stopped, and Ctrl-C."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

BINARY = os.environ["IMGFLOW_BINARY"]
SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")
WAIT_SECONDS = 120

RECIPE_BEFORE = """
variants:
  - name: large
    width: 800
    height: 800
    format: jpeg
  - name: medium
    width: 400
    format: webp
  - name: thumb
    width: 100
    height: 100
    fit: cover
    format: webp
"""

# thumb's quality changes, medium is dropped, square is new; large stays as it was.
RECIPE_AFTER = """
variants:
  - name: large
    width: 800
    height: 800
    format: jpeg
  - name: thumb
    width: 100
    height: 100
    fit: cover
    format: webp
    quality: 50
  - name: square
    width: 150
    height: 150
    fit: cover
    format: jpeg
"""


def with_orientation(jpeg, orientation):
    """The JPEG with an EXIF APP1 segment saying `orientation`, as a phone writes it."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


class ReprocessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(BINARY, workers=2)
        cls.recipe = os.path.join(cls.server.tmp, "imgflow.yaml")
        with open(cls.recipe, "w") as f:
            f.write(RECIPE_BEFORE)
        cls.server.args = ["--config", cls.recipe]
        cls.server.start()
        cls.s3 = boto3.client("s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
                              aws_access_key_id=cls.server.admin[0],
                              aws_secret_access_key=cls.server.admin[1],
                              config=Config(s3={"addressing_style": "path"}))

    @classmethod
    def tearDownClass(cls):
        if cls.server.proc.poll() is None:  # the last test stops it itself
            cls.server.stop()
        cls.server.cleanup()

    # ---- helpers ---------------------------------------------------------------------------

    def sources(self):
        """What users send: a phone photo turned by EXIF, a progressive JPEG, a PNG, keys with
        spaces and accents; and enough of them that a run can be stopped midway."""
        with open(os.path.join(SAMPLES, "landscape.jpg"), "rb") as f:
            landscape = f.read()
        with open(os.path.join(SAMPLES, "logo.png"), "rb") as f:
            logo = f.read()
        progressive = os.path.join(self.server.tmp, "progressive.jpg")
        subprocess.run(["vips", "copy", os.path.join(SAMPLES, "landscape.jpg"),
                        progressive + "[interlace,Q=85]"], check=True)
        with open(progressive, "rb") as f:
            progressive_bytes = f.read()
        sources = {
            "phone/IMG 0001 (turned).jpg": (with_orientation(landscape, 6), "image/jpeg"),
            "albums/été 2026/progressive.jpg": (progressive_bytes, "image/jpeg"),
            "logo.png": (logo, "image/png"),
        }
        for i in range(9):
            sources[f"albums/batch/photo {i:02d}.jpg"] = (landscape, "image/jpeg")
        return sources

    def upload_and_wait(self, sources):
        for key, (body, content_type) in sources.items():
            self.s3.put_object(Bucket="uploads", Key=key, Body=body, ContentType=content_type)
        for key in sources:
            self.wait_for_manifest(key)

    def wait_for_manifest(self, key, recipe_hash=None):
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            try:
                manifest = self.manifest(key)
                if recipe_hash is None or manifest["recipe_hash"] == recipe_hash:
                    return manifest
            except self.s3.exceptions.NoSuchKey:
                pass
            time.sleep(0.2)
        self.fail(f"no manifest for {key} after {WAIT_SECONDS} s; server log:\n" +
                  self.server_log()[-4000:])

    def manifest(self, key):
        body = self.s3.get_object(Bucket="processed", Key=key + "/manifest.json")["Body"].read()
        return json.loads(body)

    def server_log(self):
        with open(self.server.log_path) as f:
            return f.read()

    def outputs(self):
        """{key: (ETag, Last-Modified)} of every destination object."""
        listed = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="processed"):
            for o in page.get("Contents", []):
                listed[o["Key"]] = (o["ETag"], o["LastModified"])
        return listed

    def reprocess(self, *args, env=None, check_code=0):
        result = subprocess.run(
            [BINARY, "reprocess", "--data-dir", self.server.data_dir, "--config", self.recipe,
             *args], capture_output=True, text=True, timeout=WAIT_SECONDS,
            env=env or self.server.client_env())
        if check_code is not None:
            self.assertEqual(result.returncode, check_code, result.stdout + result.stderr)
        return result

    def recipe_hash_now(self):
        """The recipe hash the server writes now: a fresh upload's manifest."""
        with open(os.path.join(SAMPLES, "logo.png"), "rb") as f:
            self.s3.put_object(Bucket="uploads", Key="probe/logo.png", Body=f.read(),
                               ContentType="image/png")
        hash_ = self.wait_for_manifest("probe/logo.png")["recipe_hash"]
        self.s3.delete_object(Bucket="uploads", Key="probe/logo.png")
        return hash_

    # ---- the test --------------------------------------------------------------------------

    def test_a_recipe_change_rerenders_only_what_it_affects_and_survives_sigkill(self):
        sources = self.sources()
        self.upload_and_wait(sources)
        turned = self.manifest("phone/IMG 0001 (turned).jpg")["variants"][0]
        self.assertEqual((turned["width"], turned["height"]), (533, 800))  # upright
        self.assertEqual(self.reprocess().returncode, 0)  # nothing changed yet: all current
        before = self.outputs()
        old_hash = self.manifest("logo.png")["recipe_hash"]

        # The operator edits the recipe and reloads the server, then reprocesses.
        with open(self.recipe, "w") as f:
            f.write(RECIPE_AFTER)
        unloaded = self.reprocess("--dry-run")  # before the server has the new recipe
        self.assertIn("warning: the server at " + self.server.endpoint + " makes outputs with "
                      "recipe " + old_hash[:12], unloaded.stderr)
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while "recipe reloaded" not in self.server_log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("recipe reloaded", self.server_log())

        dry = self.reprocess("--dry-run", "--prefix", "albums/")
        self.assertEqual(self.outputs(), before, "a dry run writes nothing")
        self.assertNotIn("warning", dry.stderr)
        lines = dry.stdout.splitlines()
        self.assertEqual(len(lines), 10, dry.stdout)  # the nine photos and the progressive one
        self.assertIn("albums/été 2026/progressive.jpg: would remake thumb; add square; "
                      "remove medium; keep large", lines)
        self.assertIn("10 to re-render (20 variants to make, 10 to keep, 10 to remove)",
                      dry.stderr)

        # Stopped hard midway: at two sources a second, SIGKILL after two are done.
        run = subprocess.Popen(
            [BINARY, "reprocess", "--data-dir", self.server.data_dir, "--config", self.recipe,
             "--rate", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=self.server.client_env())
        done_before_kill = []
        for line in run.stdout:
            done_before_kill.append(line.split(":")[0])
            if len(done_before_kill) == 2:
                run.send_signal(signal.SIGKILL)
                break
        run.wait(timeout=30)
        self.assertEqual(run.returncode, -signal.SIGKILL)
        new_hash = self.recipe_hash_now()
        self.assertNotEqual(new_hash, old_hash)
        hashes = {key: self.manifest(key)["recipe_hash"] for key in sources
                  if self.s3.list_objects_v2(Bucket="processed",
                                             Prefix=key + "/manifest.json")["KeyCount"]}
        self.assertGreaterEqual(list(hashes.values()).count(new_hash), 2)
        self.assertIn(old_hash, hashes.values(), "the kill came before the end")

        # Run again, this time as any S3 client would reach an endpoint: resumes, and finishes.
        env = self.server.client_env(self.server.admin)
        env["AWS_ENDPOINT_URL_S3"] = self.server.endpoint
        again = self.reprocess("--rate", "0", "--jobs", "2", env=env)
        current = int(re.search(r"(\d+) current", again.stderr).group(1))
        self.assertGreaterEqual(current, 2, again.stderr)
        self.assertIn(" 0 failed", again.stderr)
        progress = re.findall(r"imgflow reprocess: (\d+)/(\d+) \(\d+%\), (\d+) left, "
                              r"[\d.]+/s, ETA \d+s", again.stderr)
        self.assertGreaterEqual(len(progress), 3, again.stderr)
        for done, total, left in progress:
            self.assertEqual((int(total), int(done) + int(left)), (len(sources), int(total)))

        after = self.outputs()
        untouched = 0
        for key in sources:
            manifest = self.manifest(key)
            self.assertEqual(manifest["recipe_hash"], new_hash, key)
            self.assertEqual([v["name"] for v in manifest["variants"]],
                             ["large", "thumb", "square"], key)
            for v in manifest["variants"]:
                self.assertEqual(after[v["key"]][0].strip('"'), v["etag"], v["key"])
            self.assertNotIn(key + "/medium.webp", after, "a dropped variant is deleted")
            large = key + "/large.jpg"
            self.assertEqual(after[large][0], before[large][0], "same bytes: " + large)
            if after[large][1] == before[large][1]:
                untouched += 1
            self.assertNotEqual(after[key + "/thumb.webp"][0], before[key + "/thumb.webp"][0])
        # Only a source the kill caught between its retracted manifest and its new one is made
        # whole again (the same bytes); every other kept variant was never written.
        self.assertGreaterEqual(untouched, len(sources) - 1)

        # Once more: everything is current, nothing is written.
        final = self.reprocess()
        self.assertIn(f"{len(sources)} current", final.stderr)
        self.assertEqual(final.stdout, "")
        self.assertEqual(self.outputs(), after)

    def test_the_data_dir_directly_when_the_server_is_stopped_and_ctrl_c(self):
        # Runs after the test above (unittest orders by name: "test_a..." < "test_the...").
        with open(self.recipe, "w") as f:
            f.write(RECIPE_BEFORE.replace("width: 100\n", "width: 90\n"))
        self.assertEqual(self.server.stop(), 0)

        dry = self.reprocess("--dry-run", "--prefix", "logo.png")
        self.assertIn("on the data dir", dry.stderr)
        self.assertRegex(dry.stdout, r"^logo.png: would ")

        # Ctrl-C: the sources in hand finish, the rest wait for the next run.
        run = subprocess.Popen(
            [BINARY, "reprocess", "--data-dir", self.server.data_dir, "--config", self.recipe,
             "--rate", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.server.client_env())
        first = run.stdout.readline()
        self.assertRegex(first, r": (remade|made) ")
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
        self.assertEqual(run.returncode, 1, err)
        self.assertIn("interrupted; run the same command again", err)

        finished = self.reprocess("--rate", "0")
        self.assertIn(" 0 failed", finished.stderr)
        self.assertEqual(self.reprocess("--dry-run").stdout, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
