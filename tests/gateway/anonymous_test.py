"""The anonymous door into `uploads`, as strangers and honest clients use it: what it refuses
(replacing someone's image, imgflow-* stamps, keys and types the pipeline cannot process) and
what it must accept (awscli's multipart upload of a big photo, the unsigned aws-chunked form
newer SDKs send). docs/security.md, "Anonymous uploads", states each rule."""

import base64
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zlib

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

AWS = "/usr/bin/aws"
BINARY = os.environ["IMGFLOW_BINARY"]
MAX_BYTES = 12 * 1024 * 1024  # the recipe's max_input_bytes below: the anonymous size limit

RECIPE = """\
variants:
  - name: thumb
    width: 64
    height: 64
    fit: cover
    format: webp
limits:
  max_input_bytes: 12MiB
"""


def jpeg_bytes(size):
    """A real JPEG header followed by filler: the gateway never decodes, only the pipeline does."""
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 4)


def noise_jpeg(path, side):
    """A real JPEG of grey noise, which barely compresses (3000 x 3000: about 9.4 MiB), made
    with libvips' CLI."""
    subprocess.run(["vips", "gaussnoise", path + "[Q=97]", str(side), str(side), "--mean", "128",
                    "--sigma", "60"], check=True, timeout=120)
    return path


def error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def error_message(body):
    m = re.search(rb"<Message>([^<]*)</Message>", body)
    return m.group(1).decode() if m else ""


class AnonymousTestBase(unittest.TestCase):
    extra_env = {}
    workers = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-anonymous-test-")
        recipe = os.path.join(cls.tmp, "recipe.yaml")
        with open(recipe, "w") as f:
            f.write(RECIPE)
        env = {"IMGFLOW_CONFIG": recipe, **cls.extra_env}
        cls.server = ServerProcess(BINARY, tmp=cls.tmp, extra_env=env, workers=cls.workers).start()
        cls.port = int(cls.server.endpoint.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert code == 0, f"imgflow serve exited with {code}"

    def raw(self, method, path, body=b"", headers=None):
        """(status, headers, body) of an unsigned request sent exactly as given."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            sent = {k.lower() for k in (headers or {})}
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            if "content-length" not in sent and "transfer-encoding" not in sent:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if body:
                conn.send(body)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def put(self, key, body, content_type="image/jpeg", headers=None):
        all_headers = {"Content-Type": content_type} if content_type is not None else {}
        all_headers.update(headers or {})
        return self.raw("PUT", "/uploads/" + urllib.parse.quote(key, safe="/"), body, all_headers)

    def admin(self):
        return boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.server.admin[0],
                            aws_secret_access_key=self.server.admin[1],
                            config=Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4",
                                          retries={"max_attempts": 1}))

    def anonymous_client(self):
        return boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED,
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))

    def stored(self, key):
        try:
            return self.admin().get_object(Bucket="uploads", Key=key)["Body"].read()
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise


class AnonymousRulesTest(AnonymousTestBase):
    def test_an_anonymous_upload_cannot_replace_an_existing_image(self):
        original = jpeg_bytes(2000)
        status, _, body = self.put("owner/victim.jpg", original)
        self.assertEqual(status, 200, body)
        before = self.server.pending_events()
        attacks = [
            self.put("owner/victim.jpg", jpeg_bytes(2000)),
            self.put("owner/victim.jpg", jpeg_bytes(2000),
                     headers={"If-Match": '"' + hashlib.md5(original).hexdigest() + '"'}),
            self.raw("POST", "/uploads/owner/victim.jpg?uploads", b"",
                     {"Content-Type": "image/jpeg"}),
        ]
        for status, _, body in attacks:
            self.assertEqual(status, 412, body)
            self.assertEqual(error_code(body), "PreconditionFailed")
            self.assertIn("already exists", error_message(body))
        self.assertEqual(self.stored("owner/victim.jpg"), original)
        self.assertEqual(self.server.pending_events(), before)
        # The admin still may replace it.
        self.admin().put_object(Bucket="uploads", Key="owner/victim.jpg", Body=b"new")
        self.assertEqual(self.stored("owner/victim.jpg"), b"new")

    def test_imgflow_metadata_is_the_function_roles_mark(self):
        before = self.server.pending_events()
        status, _, body = self.put("stamped/skip-me.jpg", jpeg_bytes(500),
                                   headers={"x-amz-meta-imgflow-source": "x"})
        self.assertEqual(status, 403, body)
        self.assertEqual(error_code(body), "AccessDenied")
        self.assertIn("x-amz-meta-imgflow-", error_message(body))
        status, _, body = self.raw("POST", "/uploads/stamped/multi.jpg?uploads", b"",
                                   {"Content-Type": "image/jpeg",
                                    "x-amz-meta-imgflow-variant": "large"})
        self.assertEqual(status, 403, body)
        self.assertIsNone(self.stored("stamped/skip-me.jpg"))
        self.assertEqual(self.server.pending_events(), before)
        # Other metadata is the uploader's to set.
        status, _, body = self.put("stamped/ok.jpg", jpeg_bytes(500),
                                   headers={"x-amz-meta-camera": "x100"})
        self.assertEqual(status, 200, body)
        # The function role writes its stamps; the admin may too (restoring outputs).
        fn = boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                          aws_access_key_id=self.server.function[0],
                          aws_secret_access_key=self.server.function[1],
                          config=Config(s3={"addressing_style": "path"}))
        fn.put_object(Bucket="processed", Key="stamped/out.webp", Body=b"v",
                      Metadata={"imgflow-variant": "thumb"})
        self.admin().put_object(Bucket="uploads", Key="stamped/restored.jpg", Body=b"v",
                                Metadata={"imgflow-source-key": "a.jpg"})

    def test_keys_the_pipeline_cannot_name_outputs_for_are_refused(self):
        # Outputs are "<key>/<file>": 70 bytes are kept for "/<64-byte variant>.<ext>".
        limit = 1024 - 70
        status, _, body = self.put("k" * (limit - 4) + ".jpg", jpeg_bytes(100))
        self.assertEqual(status, 200, body)
        for size in (limit + 1, 1011, 1024):
            status, _, body = self.put("k" * (size - 4) + ".jpg", jpeg_bytes(100))
            self.assertEqual(status, 400, f"{size}: {body}")
            self.assertEqual(error_code(body), "KeyTooLongError")
            self.assertIn(f"at most {limit} bytes", error_message(body))
        # Signed callers keep S3's own 1,024-byte limit.
        self.admin().put_object(Bucket="uploads", Key="a" * 1011, Body=b"x")

    def test_keys_with_control_characters_are_refused(self):
        for raw_key, shown in (("a%0Ab.jpg", "0x0A"), ("a%0D%0AX-Evil:%201.jpg", "0x0D"),
                               ("nul%00.jpg", "0x00"), ("tab%09.jpg", "0x09"),
                               ("del%7F.jpg", "0x7F"), ("c1%C2%85.jpg", "U+0085")):
            status, _, body = self.raw("PUT", "/uploads/" + raw_key, jpeg_bytes(100),
                                       {"Content-Type": "image/jpeg"})
            self.assertEqual(status, 400, f"{raw_key}: {body}")
            self.assertEqual(error_code(body), "InvalidArgument", raw_key)
            self.assertIn("control character " + shown, error_message(body), raw_key)

    def test_content_type_is_parsed_as_one_media_type(self):
        accepted = ["image/jpeg", "IMAGE/JPEG", "image/png; charset=binary", "image/webp",
                    "image/gif", "image/tiff", "image/heic", "image/heif", "image/avif",
                    "application/octet-stream", None]
        for i, content_type in enumerate(accepted):
            status, _, body = self.put(f"types/ok-{i}.img", jpeg_bytes(100), content_type)
            self.assertEqual(status, 200, f"{content_type}: {body}")
        refused = {"image/svg+xml": 403, "text/html": 403, "image/x-icon": 403,
                   "application/pdf": 403, "image/jpeg, text/html": 400, "image/": 400,
                   "image/jpeg; q": 400}
        for content_type, expected in refused.items():
            status, _, body = self.put("types/bad.img", jpeg_bytes(100), content_type)
            self.assertEqual(status, expected, f"{content_type}: {body}")
            self.assertIn(content_type.split(",")[0].split(";")[0], error_message(body))
        self.assertIsNone(self.stored("types/bad.img"))


class AnonymousMultipartTest(AnonymousTestBase):
    extra_env = {"IMGFLOW_ANONYMOUS_MULTIPART_LIMIT": "2"}

    def big_photo(self, name, side):
        return noise_jpeg(os.path.join(self.tmp, name), side)

    def aws(self, *args):
        return subprocess.run([AWS, "--endpoint-url", self.server.endpoint, *args,
                               "--no-sign-request"], env=self.server.client_env(),
                              capture_output=True, text=True, timeout=300)

    def test_awscli_uploads_a_photo_over_the_multipart_threshold_anonymously(self):
        path = self.big_photo("big.jpg", 3000)
        size = os.path.getsize(path)
        self.assertGreater(size, 8 * 1024 * 1024)  # awscli's multipart threshold
        self.assertLess(size, MAX_BYTES)
        before = self.server.pending_events()
        done = self.aws("s3", "cp", path, "s3://uploads/cli/big.jpg", "--only-show-errors")
        self.assertEqual(done.returncode, 0, done.stderr)
        head = self.admin().head_object(Bucket="uploads", Key="cli/big.jpg")
        self.assertEqual(head["ContentLength"], size)
        self.assertEqual(head["ContentType"], "image/jpeg")
        self.assertTrue(head["ETag"].endswith('-2"'), head["ETag"])  # two 8 MiB parts
        with open(path, "rb") as f:
            self.assertEqual(self.stored("cli/big.jpg"), f.read())
        self.assertEqual(self.server.pending_events(), before + 1)
        # The same command for a second file of that name cannot replace the first.
        again = self.aws("s3", "cp", path, "s3://uploads/cli/big.jpg", "--only-show-errors")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("PreconditionFailed", again.stderr)

    def test_the_size_limit_holds_over_all_parts(self):
        path = self.big_photo("huge.jpg", 3800)
        self.assertGreater(os.path.getsize(path), MAX_BYTES)
        done = self.aws("s3", "cp", path, "s3://uploads/cli/huge.jpg", "--only-show-errors")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("EntityTooLarge", done.stderr)
        self.assertIsNone(self.stored("cli/huge.jpg"))
        # awscli aborts what it started, so nothing is left in progress.
        uploads = self.admin().list_multipart_uploads(Bucket="uploads", Prefix="cli/huge")
        self.assertEqual(uploads.get("Uploads", []), [])

    def test_content_type_is_checked_when_the_upload_is_created(self):
        s3 = self.anonymous_client()
        with self.assertRaises(ClientError) as refused:
            s3.create_multipart_upload(Bucket="uploads", Key="mp/page.html", ContentType="text/html")
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")

    def test_uploads_in_progress_are_capped_per_client_address(self):
        s3 = self.anonymous_client()
        first = s3.create_multipart_upload(Bucket="uploads", Key="cap/a.jpg", ContentType="image/jpeg")
        s3.create_multipart_upload(Bucket="uploads", Key="cap/b.jpg", ContentType="image/jpeg")
        with self.assertRaises(ClientError) as third:
            s3.create_multipart_upload(Bucket="uploads", Key="cap/c.jpg", ContentType="image/jpeg")
        self.assertEqual(third.exception.response["Error"]["Code"], "SlowDown")
        self.assertEqual(third.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        # Finishing (here: aborting) one makes room for the next.
        s3.abort_multipart_upload(Bucket="uploads", Key="cap/a.jpg", UploadId=first["UploadId"])
        third = s3.create_multipart_upload(Bucket="uploads", Key="cap/c.jpg",
                                           ContentType="image/jpeg")
        part = s3.upload_part(Bucket="uploads", Key="cap/c.jpg", UploadId=third["UploadId"],
                              PartNumber=1, Body=jpeg_bytes(1000))
        done = s3.complete_multipart_upload(
            Bucket="uploads", Key="cap/c.jpg", UploadId=third["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        # A retry after a lost response succeeds again, with the same ETag.
        again = s3.complete_multipart_upload(
            Bucket="uploads", Key="cap/c.jpg", UploadId=third["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        self.assertEqual(again["ETag"], done["ETag"])
        for upload in self.admin().list_multipart_uploads(Bucket="uploads",
                                                          Prefix="cap/").get("Uploads", []):
            self.admin().abort_multipart_upload(Bucket="uploads", Key=upload["Key"],
                                                UploadId=upload["UploadId"])


class UnsignedStreamingTest(AnonymousTestBase):
    def framed(self, data, trailer_value, chunk=64 * 1024):
        """An aws-chunked body as the S3 spec frames STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks
        of "<hex size>\\r\\n<data>\\r\\n", a zero chunk, the trailer, an empty line."""
        out = b""
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        return out + b"0\r\nx-amz-checksum-crc32:" + trailer_value + b"\r\n\r\n"

    def crc32_b64(self, data):
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))

    def streaming_headers(self, data, body):
        return {"Content-Type": "image/jpeg", "Content-Encoding": "aws-chunked",
                "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": "x-amz-checksum-crc32", "Content-Length": str(len(body))}

    def test_unsigned_trailer_upload_is_decoded_and_its_checksum_checked(self):
        data = jpeg_bytes(300_000)
        body = self.framed(data, self.crc32_b64(data))
        status, _, response = self.put("stream/good.jpg", body,
                                       headers=self.streaming_headers(data, body))
        self.assertEqual(status, 200, response)
        self.assertEqual(self.stored("stream/good.jpg"), data)

        wrong = self.framed(data, self.crc32_b64(data + b"x"))
        status, _, response = self.put("stream/bad.jpg", wrong,
                                       headers=self.streaming_headers(data, wrong))
        self.assertEqual(status, 400, response)
        self.assertEqual(error_code(response), "BadDigest")
        self.assertIsNone(self.stored("stream/bad.jpg"))

    def test_boto3_trailer_checksum_body_is_accepted(self):
        # botocore 1.29 frames a body with a trailing checksum (AwsChunkedWrapper) only over TLS;
        # the loopback test server speaks plain HTTP, so this hook chooses the trailer as it
        # would for https. The body on the wire is botocore's own framing.
        s3 = self.anonymous_client()

        def use_trailer(params, **_):
            algorithm = params["context"].get("checksum", {}).get("request_algorithm")
            if isinstance(algorithm, dict):
                algorithm["in"] = "trailer"

        s3.meta.events.register("before-call.s3.PutObject", use_trailer)
        data = jpeg_bytes(200_000)
        s3.put_object(Bucket="uploads", Key="stream/boto3.jpg", Body=data,
                      ContentType="image/jpeg", ChecksumAlgorithm="CRC32")
        self.assertEqual(self.stored("stream/boto3.jpg"), data)

    def test_signed_chunks_without_a_signature_are_refused(self):
        data = b"\xff\xd8\xff data"
        body = b"%x;chunk-signature=%s\r\n" % (len(data), b"0" * 64) + data + b"\r\n"
        status, _, response = self.put(
            "stream/unsigned-signed.jpg", body,
            headers={"Content-Encoding": "aws-chunked",
                     "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     "x-amz-decoded-content-length": str(len(data))})
        self.assertEqual(status, 400, response)
        self.assertEqual(error_code(response), "InvalidRequest")


class PresignedOnlyTest(AnonymousTestBase):
    extra_env = {"IMGFLOW_ANONYMOUS_UPLOADS": "off"}

    def test_anonymous_uploads_can_be_turned_off(self):
        status, _, body = self.put("off/cat.jpg", jpeg_bytes(100))
        self.assertEqual(status, 403, body)
        self.assertEqual(error_code(body), "AccessDenied")
        self.assertIn("presigned", error_message(body))
        url = self.admin().generate_presigned_url(
            "put_object", Params={"Bucket": "uploads", "Key": "off/cat.jpg"}, ExpiresIn=300)
        status, _, body = self.raw("PUT", url[len(self.server.endpoint):], jpeg_bytes(100),
                                   {"Content-Type": "image/jpeg"})
        self.assertEqual(status, 200, body)


class ReadmeCommandTest(AnonymousTestBase):
    workers = 1

    def test_readme_upload_of_a_big_photo_is_processed(self):
        path = noise_jpeg(os.path.join(self.tmp, "photo.jpg"), 3000)
        self.assertGreater(os.path.getsize(path), 8 * 1024 * 1024)
        done = subprocess.run(
            [AWS, "s3", "cp", path, "s3://uploads/", "--endpoint-url", self.server.endpoint,
             "--no-sign-request", "--only-show-errors"],
            env=self.server.client_env(), capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr)
        # The output layout names a directory after the source ("photo/" or "photo.jpg/"):
        # wait for its manifest, which is written last.
        admin = self.admin()
        deadline = time.time() + 180  # generous: the sanitizer build decodes slowly
        keys = []
        while time.time() < deadline and not any(k.endswith("/manifest.json") for k in keys):
            time.sleep(0.5)
            listed = admin.list_objects_v2(Bucket="processed", Prefix="photo")
            keys = [o["Key"] for o in listed.get("Contents", [])]
        self.assertEqual(len(keys), 2, keys)
        self.assertTrue(any(k.endswith("/thumb.webp") for k in keys), keys)


if __name__ == "__main__":
    unittest.main(verbosity=2)
