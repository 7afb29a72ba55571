"""`imgflow serve --tls-cert --tls-key`: HTTPS only, with a test CA this suite creates. awscli,
boto3 and a browser-style POST form upload over it and the upload is processed; old protocol
versions and plain HTTP are refused at the handshake; SIGHUP swaps in a renewed certificate
without a restart; bad certificate and key files stop the start with a reason."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess, multipart_form  # noqa: E402

AWS = "/usr/bin/aws"
BINARY = os.environ["IMGFLOW_BINARY"]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class TestCa:
    """A CA and server certificates for 127.0.0.1 signed by it, made with the openssl CLI."""

    def __init__(self, directory):
        self.dir = directory
        self.cert = os.path.join(directory, "ca.pem")
        key = os.path.join(directory, "ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", self.cert, "-days", "2", "-subj", "/CN=imgflow test CA")
        self.key = key

    def issue(self, name, common_name):
        """(certificate, key) paths for 127.0.0.1 and localhost; the key is 0600."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + common_name)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        os.chmod(key, 0o600)
        return cert, key


def served_common_name(port, context):
    """The CN of the certificate a new connection to `port` is shown."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject["commonName"]


def small_jpeg(path):
    subprocess.run(["vips", "black", path + "[Q=90]", "320", "200", "--bands", "3"], check=True,
                   timeout=60)
    return path


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-tls-test-")
        cls.ca = TestCa(cls.tmp)
        cls.cert, cls.key = cls.ca.issue("server", "imgflow test server")
        cls.context = ssl.create_default_context(cafile=cls.ca.cert)
        cls.server = ServerProcess(BINARY, workers=1, ssl_context=cls.context,
                                   args=["--tls-cert", cls.cert, "--tls-key", cls.key,
                                         "--header-timeout", "2"]).start()
        cls.port = int(cls.server.endpoint.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.server.cleanup()
        assert code == 0, f"imgflow serve exited with {code}"

    def boto3_client(self, key=None):
        key = key or self.server.admin
        return boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            verify=self.ca.cert,
                            config=Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4", retries={"max_attempts": 1}))

    def wait_for_manifest(self, s3, key, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = s3.get_object(Bucket="processed", Key=key)["Body"].read()
                return json.loads(body)
            except s3.exceptions.NoSuchKey:
                time.sleep(0.1)
        self.fail(f"no {key} within {timeout} s")

    def sighup_and_wait_for(self, text, timeout=20):
        """Sends SIGHUP and returns the server's log from then until a line holds `text`."""
        with open(self.server.log_path) as log:
            log.seek(0, os.SEEK_END)
            self.server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + timeout
            seen = ""
            while text not in seen:
                self.assertLess(time.monotonic(), deadline, f"no '{text}' logged: {seen}")
                seen += log.read()
                time.sleep(0.05)
        return seen

    def test_banner_names_https_and_the_certificate(self):
        self.assertTrue(self.server.endpoint.startswith("https://127.0.0.1:"))
        self.assertIn("CN = imgflow test server", self.server.banner.replace("CN=", "CN = "))

    def test_awscli_uploads_over_https_and_the_upload_is_processed(self):
        photo = small_jpeg(os.path.join(self.tmp, "awscli photo.jpg"))
        env = self.server.client_env()
        subprocess.run([AWS, "s3", "cp", photo, "s3://uploads/tls/awscli photo.jpg",
                        "--endpoint-url", self.server.endpoint, "--ca-bundle", self.ca.cert,
                        "--no-sign-request"], check=True, env=env, capture_output=True,
                       timeout=120)
        manifest = self.wait_for_manifest(self.boto3_client(), "tls/awscli photo.jpg/manifest.json")
        self.assertTrue(manifest["variants"])
        listed = subprocess.run([AWS, "s3", "ls", "s3://processed/tls/awscli photo.jpg/",
                                 "--endpoint-url", self.server.endpoint, "--ca-bundle",
                                 self.ca.cert], check=True, capture_output=True, text=True,
                                env=self.server.client_env(self.server.admin), timeout=120)
        self.assertIn("manifest.json", listed.stdout)

    def test_awscli_refuses_a_server_it_cannot_verify(self):
        result = subprocess.run([AWS, "s3", "ls", "s3://uploads/", "--endpoint-url",
                                 self.server.endpoint], capture_output=True, text=True,
                                env=self.server.client_env(self.server.admin), timeout=120)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("SSL", result.stderr)

    def test_boto3_signed_put_get_and_multipart(self):
        s3 = self.boto3_client()
        s3.put_object(Bucket="uploads", Key="tls/boto3 ünï.bin", Body=b"x" * 1000)
        self.assertEqual(s3.get_object(Bucket="uploads", Key="tls/boto3 ünï.bin")["Body"].read(),
                         b"x" * 1000)
        part = os.urandom(5 * 1024 * 1024)
        upload = s3.create_multipart_upload(Bucket="uploads", Key="tls/big.bin")
        etags = []
        for number in (1, 2):
            etags.append(s3.upload_part(Bucket="uploads", Key="tls/big.bin", PartNumber=number,
                                        UploadId=upload["UploadId"], Body=part)["ETag"])
        s3.complete_multipart_upload(
            Bucket="uploads", Key="tls/big.bin", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                       for n, e in enumerate(etags)]})
        self.assertEqual(s3.get_object(Bucket="uploads", Key="tls/big.bin")["Body"].read(),
                         part + part)

    def test_browser_post_form_over_https(self):
        s3 = self.boto3_client()
        post = s3.generate_presigned_post("uploads", "tls/post/${filename}",
                                          Fields={"Content-Type": "image/jpeg"},
                                          Conditions=[{"Content-Type": "image/jpeg"},
                                                      ["starts-with", "$key", "tls/post/"],
                                                      ["content-length-range", 1, 100000]],
                                          ExpiresIn=300)
        self.assertTrue(post["url"].startswith("https://"))
        data = b"\xff\xd8\xff\xe0" + os.urandom(500)
        body, content_type = multipart_form(post["fields"], "form.jpg", data, "image/jpeg")
        request = urllib.request.Request(post["url"], data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, context=self.context) as r:
            self.assertEqual(r.status, 204)
        self.assertEqual(s3.get_object(Bucket="uploads", Key="tls/post/form.jpg")["Body"].read(),
                         data)

    def test_old_protocol_versions_and_plain_http_are_refused(self):
        before = self.server.metric("imgflow_tls_handshake_failures_total") or 0
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(self.ca.cert)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            old.set_ciphers("DEFAULT:@SECLEVEL=0")  # so the refusal is the server's
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            served_common_name(self.port, old)
        plain = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/_imgflow/health")
            plain.getresponse()
        plain.close()
        deadline = time.monotonic() + 10
        while self.server.metric("imgflow_tls_handshake_failures_total") < before + 2:
            self.assertLess(time.monotonic(), deadline, "handshake failures not counted")
            time.sleep(0.05)
        tls13 = ssl.create_default_context(cafile=self.ca.cert)
        tls13.minimum_version = ssl.TLSVersion.TLSv1_3
        self.assertEqual(served_common_name(self.port, tls13), "imgflow test server")
        tls12 = ssl.create_default_context(cafile=self.ca.cert)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(served_common_name(self.port, tls12), "imgflow test server")

    def test_a_handshake_never_finished_is_cut_at_the_header_deadline(self):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as silent:
            silent.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and no more
            self.assertEqual(silent.recv(1024), b"")  # closed by the server
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 10)

    def test_sighup_swaps_in_a_renewed_certificate(self):
        # A keep-alive connection opened before the reload goes on with the old certificate.
        before = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                             timeout=10)
        before.request("GET", "/_imgflow/health")
        self.assertEqual(before.getresponse().read(), b"ok\n")
        renewed_cert, renewed_key = self.ca.issue("renewed", "imgflow renewed server")
        shutil.copyfile(renewed_cert, self.cert)
        shutil.copyfile(renewed_key, self.key)
        self.sighup_and_wait_for("certificate reloaded")
        self.assertEqual(served_common_name(self.port, self.context), "imgflow renewed server")
        before.request("GET", "/_imgflow/health")
        self.assertEqual(before.getresponse().read(), b"ok\n")
        before.close()

        # A broken renewal is refused and the renewed identity stays.
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        self.assertIn(self.cert, self.sighup_and_wait_for("certificate not reloaded"))
        self.assertEqual(served_common_name(self.port, self.context), "imgflow renewed server")
        shutil.copyfile(renewed_cert, self.cert)


class TlsStartTest(unittest.TestCase):
    """What `imgflow serve` says, and that it does not start, when the TLS files are wrong."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgflow-tls-start-")
        self.ca = TestCa(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args):
        result = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                 os.path.join(self.tmp, "data"), "--workers", "0", *args],
                                capture_output=True, text=True, timeout=60)
        return result.returncode, result.stderr

    def test_refuses_bad_files_with_the_reason(self):
        cert, key = self.ca.issue("one", "one")
        other_cert, other_key = self.ca.issue("two", "two")
        code, err = self.start("--tls-cert", cert)
        self.assertEqual(code, 2)
        self.assertIn("--tls-cert and --tls-key go together", err)
        code, err = self.start("--tls-cert", cert, "--tls-key", other_key)
        self.assertEqual(code, 2)
        self.assertIn("does not match the certificate", err)
        code, err = self.start("--tls-cert", key, "--tls-key", key)
        self.assertEqual(code, 2)
        self.assertIn("not a PEM certificate", err)
        os.chmod(key, 0o644)
        code, err = self.start("--tls-cert", cert, "--tls-key", key)
        self.assertEqual(code, 2)
        self.assertIn("every user may read", err)
        os.chmod(key, 0o660)
        code, err = self.start("--tls-cert", cert, "--tls-key", key)
        self.assertEqual(code, 2)
        self.assertIn("its group may replace", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
