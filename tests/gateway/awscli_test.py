"""awscli 2 (Debian's /usr/bin/aws) against `imgflow serve`: cp, s3api, presign."""

import json
import os
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

AWS = "/usr/bin/aws"


class AwsCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"]).start()
        cls.work = cls.server.tmp

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    def aws(self, *args, key=None, check=True):
        env = self.server.client_env(key or self.server.admin)
        quiet = ["--only-show-errors"] if args[:2] == ("s3", "cp") else []
        p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, *args, *quiet],
                           env=env, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            self.fail(f"aws {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def file(self, name, size):
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_cp_small_and_multipart_roundtrip(self):
        before = self.server.pending_events()
        small = self.file("small.jpg", 1000)
        big = self.file("big.bin", 20 * 1024 * 1024 + 123)  # over the 8 MiB multipart threshold
        self.aws("s3", "cp", small, "s3://uploads/cli/small.jpg")
        self.aws("s3", "cp", big, "s3://uploads/cli/big.bin")
        back_small = os.path.join(self.work, "small.back")
        back_big = os.path.join(self.work, "big.back")
        self.aws("s3", "cp", "s3://uploads/cli/small.jpg", back_small)
        self.aws("s3", "cp", "s3://uploads/cli/big.bin", back_big)
        self.assertEqual(self.read(small), self.read(back_small))
        self.assertEqual(self.read(big), self.read(back_big))
        listing = self.aws("s3", "ls", "s3://uploads/cli/").stdout
        self.assertIn("small.jpg", listing)
        self.assertIn("big.bin", listing)
        # One event per upload: a Put and a CompleteMultipartUpload.
        self.assertEqual(self.server.pending_events(), before + 2)

    def test_s3api_put_get_head_list(self):
        body = self.file("photo.png", 4096)
        put = json.loads(self.aws("s3api", "put-object", "--bucket", "uploads", "--key",
                                  "api/photo one+two.png", "--body", body, "--content-type",
                                  "image/png", "--metadata", "origin=test").stdout)
        self.assertRegex(put["ETag"], r'^"[0-9a-f]{32}"$')
        head = json.loads(self.aws("s3api", "head-object", "--bucket", "uploads", "--key",
                                   "api/photo one+two.png").stdout)
        self.assertEqual(head["ContentLength"], 4096)
        self.assertEqual(head["ContentType"], "image/png")
        self.assertEqual(head["Metadata"], {"origin": "test"})
        self.assertEqual(head["ETag"], put["ETag"])
        out = os.path.join(self.work, "photo.back")
        self.aws("s3api", "get-object", "--bucket", "uploads", "--key", "api/photo one+two.png", out)
        self.assertEqual(self.read(body), self.read(out))
        listed = json.loads(self.aws("s3api", "list-objects-v2", "--bucket", "uploads",
                                     "--prefix", "api/").stdout)
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["api/photo one+two.png"])
        missing = self.aws("s3api", "head-object", "--bucket", "uploads", "--key", "api/nope",
                           check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("404", missing.stderr)

    def test_presigned_get(self):
        body = self.file("presign.jpg", 2048)
        self.aws("s3", "cp", body, "s3://processed/presign/out.jpg")
        url = self.aws("s3", "presign", "s3://processed/presign/out.jpg",
                       "--expires-in", "300").stdout.strip()
        with urllib.request.urlopen(url) as r:
            self.assertEqual(r.read(), self.read(body))

    def test_list_buckets(self):
        out = self.aws("s3", "ls").stdout
        self.assertIn("uploads", out)
        self.assertIn("processed", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
