"""`imgflow presign get|put|post` against a running `imgflow serve`, with curl as the client:
the URLs and forms work for exactly what they were signed for, and stop working when they
expire or are changed."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

BINARY = os.environ["IMGFLOW_BINARY"]


class PresignTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(BINARY).start()
        cls.s3 = boto3.client("s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
                              aws_access_key_id=cls.server.admin[0],
                              aws_secret_access_key=cls.server.admin[1],
                              config=Config(s3={"addressing_style": "path"}))
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-presign-test-")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def presign(self, *args, env=None, check=True):
        """Runs imgflow presign with the data dir's admin (no AWS_* credentials)."""
        run = subprocess.run([BINARY, "presign", *args, "--data-dir", self.server.data_dir],
                             capture_output=True, text=True, timeout=60,
                             env=env or self.server.client_env())
        if check:
            self.assertEqual(run.returncode, 0, run.stderr)
        return run

    def curl(self, *args):
        """curl's HTTP status and body."""
        out = os.path.join(self.tmp, "body")
        run = subprocess.run(["curl", "-s", "-o", out, "-w", "%{http_code}", *args],
                             capture_output=True, text=True, timeout=60, check=True)
        with open(out, "rb") as f:
            return int(run.stdout), f.read()

    def file_with(self, body):
        path = os.path.join(self.tmp, "upload")
        with open(path, "wb") as f:
            f.write(body)
        return path

    def test_a_presigned_put_uploads_that_key_with_that_content_type_only(self):
        key = "presign/été 1.jpg"
        url = self.presign("put", f"s3://uploads/{key}", "--content-type", "image/jpeg").stdout
        url = url.strip()
        expected = self.server.endpoint + "/uploads/presign/%C3%A9t%C3%A9%201.jpg?"
        self.assertTrue(url.startswith(expected), url)
        path = self.file_with(b"\xff\xd8\xff not really a jpeg")
        status, _ = self.curl("-X", "PUT", "-H", "Content-Type: image/png", "-T", path, url)
        self.assertEqual(status, 403, "another content type than the signed one")
        status, body = self.curl("-X", "PUT", "-H", "Content-Type: image/jpeg", "-T", path, url)
        self.assertEqual(status, 200, body)
        head = self.s3.head_object(Bucket="uploads", Key=key)
        self.assertEqual(head["ContentType"], "image/jpeg")

    def test_a_presigned_get_reads_the_object_until_it_expires(self):
        self.s3.put_object(Bucket="processed", Key="presign/a.webp", Body=b"RIFF-webp-bytes")
        url = self.presign("get", "s3://processed/presign/a.webp").stdout.strip()
        status, body = self.curl(url)
        self.assertEqual((status, body), (200, b"RIFF-webp-bytes"))
        # Changed, it is refused: the signature covers the path and every parameter.
        status, _ = self.curl(url.replace("presign/a.webp", "presign/b.webp"))
        self.assertEqual(status, 403)
        short = self.presign("get", "s3://processed/presign/a.webp", "--expires", "1s").stdout
        time.sleep(2.5)
        status, body = self.curl(short.strip())
        self.assertEqual(status, 403)
        self.assertIn(b"expired", body)

    def test_json_says_what_to_send(self):
        answer = json.loads(self.presign("put", "s3://uploads/presign/j.png", "--json",
                                         "--content-type", "image/png", "--expires", "2h").stdout)
        self.assertEqual(answer["method"], "PUT")
        self.assertEqual(answer["headers"], {"content-type": "image/png"})
        self.assertEqual(answer["expires_in"], 7200)
        self.assertIn("X-Amz-Expires=7200", answer["url"])

    def test_a_post_form_uploads_within_its_size_and_type(self):
        form = json.loads(self.presign("post", "s3://uploads/presign/form.jpg", "--content-type",
                                       "image/jpeg", "--max-size", "1000").stdout)
        self.assertEqual(form["url"], self.server.endpoint + "/uploads")
        fields = []
        for name, value in form["fields"].items():
            fields += ["-F", f"{name}={value}"]
        small = self.file_with(b"\xff\xd8\xff" + b"x" * 100)
        status, body = self.curl(*fields, "-F", f"file=@{small}", form["url"])
        self.assertIn(status, (200, 204), body)
        self.assertEqual(self.s3.head_object(Bucket="uploads", Key="presign/form.jpg")
                         ["ContentLength"], 103)
        big = self.file_with(b"\xff\xd8\xff" + b"x" * 2000)
        status, body = self.curl(*fields, "-F", f"file=@{big}", form["url"])
        self.assertEqual(status, 400)
        self.assertIn(b"EntityTooLarge", body)

    def test_bad_usage_is_refused_with_a_reason(self):
        for args, reason in [
            (["get", "s3://processed"], "s3://BUCKET/KEY"),
            (["get", "processed/a.jpg"], "s3://BUCKET/KEY"),
            (["get", "s3://processed/a.jpg", "--expires", "8d"], "--expires"),
            (["get", "s3://processed/a.jpg", "--expires", "soon"], "--expires"),
            (["put", "s3://uploads/a.jpg", "--max-size", "10"], "--max-size is for post"),
        ]:
            run = self.presign(*args, check=False)
            self.assertEqual(run.returncode, 2, args)
            self.assertIn(reason, run.stderr, args)

    def test_with_aws_credentials_and_no_endpoint_it_signs_for_aws_s3(self):
        env = self.server.client_env(("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
        env["AWS_REGION"] = "eu-west-1"
        url = self.presign("get", "s3://my-bucket/cat photo.jpg", env=env).stdout.strip()
        expected = "https://my-bucket.s3.eu-west-1.amazonaws.com/cat%20photo.jpg?"
        self.assertTrue(url.startswith(expected), url)
        self.assertIn("X-Amz-Credential=AKIDEXAMPLE%2F", url)
        self.assertIn("%2Feu-west-1%2Fs3%2Faws4_request", url)
        self.assertIn("X-Amz-Expires=900", url)


if __name__ == "__main__":
    unittest.main()
