"""`imgflow serve --public-read processed/public/`: anyone may GET and HEAD the outputs under the
prefix without credentials, as a reverse proxy or CDN in front would, with conditional requests,
ranges and Cache-Control; nothing else becomes public."""

import os
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

BINARY = os.environ["IMGFLOW_BINARY"]


class PublicReadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(BINARY, args=["--public-read", "processed/public/"]).start()
        cls.s3 = boto3.client("s3", endpoint_url=cls.server.endpoint, region_name="us-east-1",
                              aws_access_key_id=cls.server.admin[0],
                              aws_secret_access_key=cls.server.admin[1],
                              config=Config(s3={"addressing_style": "path"}))
        cls.s3.put_object(Bucket="processed", Key="public/cat.jpg/medium.webp",
                          Body=b"RIFF0123456789WEBP", ContentType="image/webp",
                          CacheControl="public, no-cache")
        cls.s3.put_object(Bucket="processed", Key="private/cat.jpg/medium.webp", Body=b"secret")
        cls.s3.put_object(Bucket="uploads", Key="public/cat.jpg", Body=b"an upload")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def fetch(self, path, method="GET", headers=None, data=None):
        """(status, headers, body) of an anonymous request."""
        request = urllib.request.Request(self.server.endpoint + path, method=method,
                                         headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def test_anyone_reads_the_public_outputs_with_caching_headers(self):
        status, headers, body = self.fetch("/processed/public/cat.jpg/medium.webp")
        self.assertEqual((status, body), (200, b"RIFF0123456789WEBP"))
        self.assertEqual(headers["Content-Type"], "image/webp")
        self.assertEqual(headers["Cache-Control"], "public, no-cache")
        etag, modified = headers["ETag"], headers["Last-Modified"]
        self.assertEqual(self.fetch("/processed/public/cat.jpg/medium.webp", "HEAD")[0], 200)
        # What a cache revalidating a no-cache object sends: unchanged, a 304 without a body.
        status, _, body = self.fetch("/processed/public/cat.jpg/medium.webp",
                                     headers={"If-None-Match": etag})
        self.assertEqual((status, body), (304, b""))
        status, _, _ = self.fetch("/processed/public/cat.jpg/medium.webp",
                                  headers={"If-Modified-Since": modified})
        self.assertEqual(status, 304)
        status, headers, body = self.fetch("/processed/public/cat.jpg/medium.webp",
                                           headers={"Range": "bytes=4-7"})
        self.assertEqual((status, body), (206, b"0123"))
        self.assertEqual(headers["Content-Range"], "bytes 4-7/18")

    def test_a_rewritten_output_is_served_anew_to_a_revalidating_cache(self):
        key = "public/dog.jpg/large.jpg"
        self.s3.put_object(Bucket="processed", Key=key, Body=b"first version")
        status, headers, _ = self.fetch("/processed/" + key)
        self.assertEqual(status, 200)
        self.s3.put_object(Bucket="processed", Key=key, Body=b"second version")  # a re-upload
        status, headers2, body = self.fetch("/processed/" + key,
                                            headers={"If-None-Match": headers["ETag"]})
        self.assertEqual((status, body), (200, b"second version"))
        self.assertNotEqual(headers2["ETag"], headers["ETag"])

    def test_nothing_else_is_public(self):
        for method, path in [("GET", "/processed/private/cat.jpg/medium.webp"),
                             ("GET", "/processed?list-type=2&prefix=public/"),
                             ("GET", "/processed"),
                             ("GET", "/uploads/public/cat.jpg"),
                             ("DELETE", "/processed/public/cat.jpg/medium.webp")]:
            status, _, body = self.fetch(path, method)
            self.assertEqual(status, 403, (method, path, body))
        status, _, _ = self.fetch("/processed/public/new.webp", "PUT", data=b"x")
        self.assertEqual(status, 403)
        self.assertEqual(self.s3.get_object(Bucket="processed",
                                            Key="public/cat.jpg/medium.webp")["Body"].read(),
                         b"RIFF0123456789WEBP")

    def test_only_the_destination_can_be_public(self):
        tmp = tempfile.mkdtemp(prefix="imgflow-public-read-")
        for value, message in [("uploads", "only the destination bucket (processed) can be public"),
                               ("Bad_Bucket/x", "--public-read takes BUCKET or BUCKET/PREFIX")]:
            run = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                  os.path.join(tmp, "data"), "--public-read", value],
                                 capture_output=True, text=True, timeout=60,
                                 env=self.server.client_env())
            self.assertEqual(run.returncode, 2, run.stderr)
            self.assertIn(message, run.stderr)


if __name__ == "__main__":
    unittest.main()
