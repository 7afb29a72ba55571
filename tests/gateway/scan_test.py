"""Malware scanning end to end: `imgflow serve` with a recipe `scan:` section and a real clamd
(clamd_support). A clean upload is processed and its manifest says who scanned it; an infected
one (a marker only the scanner knows, inside a valid JPEG's comment; EICAR) is quarantined,
never processed, and counted; while clamd is down, or an upload is over clamd's limit, nothing
is processed unscanned: the event is retried, then dead-lettered, and processed after a redrive
once clamd is back."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from clamd_support import (EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE, Clamd,  # noqa: E402
                           eicar, with_comment)
from gateway_support import ServerProcess  # noqa: E402

BINARY = os.environ["IMGFLOW_BINARY"]
CLAMD_LIMIT = 1 << 20  # StreamMaxLength: below the recipe's max_bytes on purpose (the limit test)


def recipe(clamd_address):
    return f"""\
variants:
  - name: thumb
    width: 64
    height: 64
    fit: cover
    format: webp
limits:
  max_input_bytes: 4MiB
scan:
  clamd: {clamd_address}
  on_infected: quarantine
  timeout_ms: 10000
"""


def jpeg(path, side, noise=False):
    image = "gaussnoise" if noise else "black"
    args = ["vips", image, path + "[Q=97]", str(side), str(side)]
    args += ["--mean", "128", "--sigma", "60"] if noise else ["--bands", "3"]
    subprocess.run(args, check=True, timeout=120)
    with open(path, "rb") as f:
        return f.read()


class ScanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-scan-test-")
        cls.clamd = Clamd(stream_max_bytes=CLAMD_LIMIT).start()
        config = os.path.join(cls.tmp, "imgflow.yaml")
        with open(config, "w") as f:
            f.write(recipe(cls.clamd.address))
        cls.server = ServerProcess(BINARY, workers=1, args=["--config", config]).start()
        cls.s3 = boto3.client("s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
                              aws_access_key_id=cls.server.admin[0],
                              aws_secret_access_key=cls.server.admin[1],
                              config=Config(s3={"addressing_style": "path"},
                                            retries={"max_attempts": 1}))
        cls.small = jpeg(os.path.join(cls.tmp, "small.jpg"), 200)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.clamd.cleanup()
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, f"imgflow serve exited with {code}"

    def upload(self, key, body):
        """Uploads into the source bucket; returns the ETag without its quotes."""
        put = self.s3.put_object(Bucket="uploads", Key=key, Body=body, ContentType="image/jpeg")
        return put["ETag"].strip('"')

    def exists(self, bucket, key):
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError:
            return False

    def wait_until(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail(f"{what} within {timeout} s; clamd log:\n{self.clamd.log()}")
            time.sleep(0.1)

    def scans(self, verdict):
        return self.server.metric(f'imgflow_scans_total{{verdict="{verdict}"}}') or 0

    def dead_letters(self):
        listed = subprocess.run([BINARY, "dlq", "list", "--json", "--data-dir",
                                 self.server.data_dir], check=True, capture_output=True,
                                text=True, timeout=60)
        return json.loads(listed.stdout)["dead_letters"]

    def dead_letter_for(self, key):
        for letter in self.dead_letters():
            if letter["event"]["key"] == key:
                return letter
        return None

    def test_a_clean_upload_is_processed_and_its_manifest_names_the_scanner(self):
        self.upload("scan/clean.jpg", self.small)
        manifest_key = "scan/clean.jpg/manifest.json"
        self.wait_until(lambda: self.exists("processed", manifest_key), "no manifest")
        manifest = json.loads(
            self.s3.get_object(Bucket="processed", Key=manifest_key)["Body"].read())
        self.assertIn("ClamAV", manifest["scan"]["engine"])
        self.assertTrue(manifest["scan"]["scanned_by"])
        self.assertGreaterEqual(self.scans("clean"), 1)

    def test_infected_uploads_are_quarantined_and_never_processed(self):
        before = self.scans("infected")
        cases = {"scan/marked.jpg": (with_comment(self.small, MARKER), MARKER_SIGNATURE),
                 "scan/eicar.jpg": (eicar(), EICAR_SIGNATURE)}
        etags = {key: self.upload(key, body) for key, (body, _) in cases.items()}
        for key, (body, signature) in cases.items():
            # Each infected upload keeps its own copy: <key>@<ETag>.
            held_key = f"{key}@{etags[key]}"
            self.wait_until(lambda k=held_key: self.exists("quarantine", k),
                            f"{key} not quarantined")
            held = self.s3.get_object(Bucket="quarantine", Key=held_key)
            self.assertEqual(held["Body"].read(), body)
            self.assertEqual(held["Metadata"]["imgflow-scan"], "infected")
            self.assertEqual(held["Metadata"]["imgflow-signature"], signature + ".UNOFFICIAL")
            self.wait_until(lambda k=key: not self.exists("uploads", k), f"{key} left in uploads")
            listed = self.s3.list_objects_v2(Bucket="processed", Prefix=key)
            self.assertEqual(listed.get("KeyCount", 0), 0, f"{key} was processed")
        self.assertEqual(self.scans("infected"), before + 2)
        with open(self.server.log_path) as log:
            text = log.read()
        self.assertIn(MARKER_SIGNATURE + ".UNOFFICIAL", text)
        # The quarantine is the admin's alone: the function role and strangers cannot read it.
        function = boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                                aws_access_key_id=self.server.function[0],
                                aws_secret_access_key=self.server.function[1],
                                config=Config(s3={"addressing_style": "path"},
                                              retries={"max_attempts": 1}))
        with self.assertRaises(function.exceptions.ClientError):
            function.get_object(Bucket="quarantine",
                                Key="scan/eicar.jpg@" + etags["scan/eicar.jpg"])
        # The admin sees them with what was found: imgflow dlq quarantine, through the server.
        listed = subprocess.run([BINARY, "dlq", "quarantine", "--json", "--data-dir",
                                 self.server.data_dir], check=True, capture_output=True,
                                text=True, timeout=60)
        held = {u["source_key"]: u for u in json.loads(listed.stdout)["quarantined"]}
        for key, (body, signature) in cases.items():
            self.assertEqual(held[key]["signature"], signature + ".UNOFFICIAL")
            self.assertEqual(held[key]["key"], f"{key}@{etags[key]}")
            self.assertEqual(held[key]["size"], len(body))
        table = subprocess.run([BINARY, "dlq", "quarantine", "--data-dir", self.server.data_dir],
                               check=True, capture_output=True, text=True, timeout=60).stdout
        self.assertIn(MARKER_SIGNATURE + ".UNOFFICIAL", table)
        self.assertIn("scan/marked.jpg", table)

    def test_while_clamd_is_down_nothing_is_processed_and_a_redrive_processes_it(self):
        retries_before = self.server.metric("imgflow_retries_total") or 0
        self.clamd.stop()
        try:
            self.upload("scan/while down.jpg", self.small)
            self.wait_until(lambda: self.dead_letter_for("scan/while down.jpg") is not None,
                            "not dead-lettered")
        finally:
            self.clamd.start()
        letter = self.dead_letter_for("scan/while down.jpg")
        self.assertEqual(letter["attempts"], 3)
        self.assertIn("clamd", letter["error"])
        self.assertGreaterEqual(self.server.metric("imgflow_retries_total"), retries_before + 2)
        self.assertFalse(self.exists("processed", "scan/while down.jpg/manifest.json"))
        subprocess.run([BINARY, "dlq", "redrive", str(letter["id"]), "--data-dir",
                        self.server.data_dir], check=True, capture_output=True, timeout=60)
        self.wait_until(lambda: self.exists("processed", "scan/while down.jpg/manifest.json"),
                        "not processed after the redrive")

    def test_an_upload_over_clamds_limit_is_never_processed_unscanned(self):
        big = jpeg(os.path.join(self.tmp, "big.jpg"), 1400, noise=True)
        self.assertGreater(len(big), CLAMD_LIMIT)
        self.assertLess(len(big), 4 << 20)
        self.upload("scan/big.jpg", big)
        self.wait_until(lambda: self.dead_letter_for("scan/big.jpg") is not None,
                        "not dead-lettered")
        letter = self.dead_letter_for("scan/big.jpg")
        self.assertIn("limit", letter["error"])
        self.assertFalse(self.exists("processed", "scan/big.jpg/manifest.json"))
        self.assertTrue(self.exists("uploads", "scan/big.jpg"))  # kept, for a redrive


if __name__ == "__main__":
    unittest.main(verbosity=2)
