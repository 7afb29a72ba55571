"""s3cmd (Debian) against `imgflow serve`: path-style put, multipart put, ls, get, del."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402


class S3cmdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"]).start()
        host = cls.server.endpoint[len("http://"):]
        cls.config = os.path.join(cls.server.tmp, "s3cfg")
        with open(cls.config, "w") as f:
            # host_bucket without %(bucket)s keeps s3cmd on path-style addressing.
            f.write(f"[default]\naccess_key = {cls.server.admin[0]}\n"
                    f"secret_key = {cls.server.admin[1]}\nhost_base = {host}\n"
                    f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n"
                    f"bucket_location = us-east-1\n")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    def s3cmd(self, *args):
        p = subprocess.run(["/usr/bin/s3cmd", "-c", self.config, *args], capture_output=True,
                           text=True, timeout=120, env=self.server.client_env())
        self.assertEqual(p.returncode, 0, f"s3cmd {args}:\n{p.stdout}\n{p.stderr}")
        return p.stdout

    def test_put_ls_get_del(self):
        small = os.path.join(self.server.tmp, "small.jpg")
        big = os.path.join(self.server.tmp, "big.bin")
        with open(small, "wb") as f:
            f.write(os.urandom(3000))
        with open(big, "wb") as f:
            f.write(os.urandom(17 * 1024 * 1024))  # over s3cmd's 15 MiB multipart chunk
        self.s3cmd("put", small, "s3://uploads/s3cmd/small.jpg")
        self.s3cmd("put", big, "s3://uploads/s3cmd/big.bin")
        listing = self.s3cmd("ls", "s3://uploads/s3cmd/")
        self.assertIn("s3://uploads/s3cmd/small.jpg", listing)
        self.assertIn("s3://uploads/s3cmd/big.bin", listing)
        back = os.path.join(self.server.tmp, "big.back")
        self.s3cmd("get", "--force", "s3://uploads/s3cmd/big.bin", back)
        with open(big, "rb") as a, open(back, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.s3cmd("del", "s3://uploads/s3cmd/small.jpg")
        self.assertNotIn("small.jpg", self.s3cmd("ls", "s3://uploads/s3cmd/"))
        self.assertIn("s3://processed", self.s3cmd("ls"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
