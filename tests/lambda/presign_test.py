"""The upload-URL endpoint (`imgflow lambda` with IMGFLOW_MODE=presign) end to end: the function
runs against a Runtime API emulator and answers function-URL events; the URLs it hands out are
used, with curl and urllib, against `imgflow serve` (its S3 through AWS_ENDPOINT_URL_S3, with
anonymous uploads off, so only a valid signature gets a byte in), whose workers then process
what arrived. The unpackaged binary is enough here: lambda_test.py covers the package."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "gateway"))
from gateway_support import ServerProcess, multipart_form  # noqa: E402
from runtime_api_emulator import RuntimeApiEmulator  # noqa: E402

JPEG = os.path.join(ROOT, "samples", "landscape.jpg")
ADMIN = ("IFPRESIGNADMIN000000", "presignadminsecretpresignadminsecret0000")


def url_event(method, body, base64_body=False):
    """A function-URL invocation (payload format 2.0) as Lambda builds it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.eu-west-1.on.aws"},
        "requestContext": {"accountId": "anonymous", "apiId": "abc", "domainName":
                           "abc.lambda-url.eu-west-1.on.aws", "http": {
                               "method": method, "path": "/", "protocol": "HTTP/1.1",
                               "sourceIp": "203.0.113.7", "userAgent": "curl/8"},
                           "requestId": "r", "routeKey": "$default", "stage": "$default",
                           "time": "06/Dec/2026:12:00:00 +0000", "timeEpoch": 1796558400000},
        "body": base64.b64encode(text.encode()).decode() if base64_body else text,
        "isBase64Encoded": base64_body})


def http(method, url, data=None, headers=None):
    """(status, body) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def function_env(api, server, **overrides):
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "imgflow-upload-test",
        "AWS_ACCESS_KEY_ID": ADMIN[0],
        "AWS_SECRET_ACCESS_KEY": ADMIN[1],
        "AWS_ENDPOINT_URL_S3": server.endpoint,
        "IMGFLOW_MODE": "presign",
        "IMGFLOW_SOURCE_BUCKET": "uploads",
        "IMGFLOW_SOURCE_PREFIX": "incoming/",
    })
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class PresignEndpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-presign-test-")
        os.makedirs(os.path.join(cls.tmp, "s3"))
        cls.server = ServerProcess(
            os.environ["IMGFLOW_BINARY"], tmp=os.path.join(cls.tmp, "s3"), workers=1,
            extra_env={"IMGFLOW_ACCESS_KEY_ID": ADMIN[0], "IMGFLOW_SECRET_ACCESS_KEY": ADMIN[1],
                       "IMGFLOW_ANONYMOUS_UPLOADS": "off"})
        cls.server.start()
        cls.admin = boto3.client(
            "s3", endpoint_url=cls.server.endpoint, region_name="eu-west-1",
            aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1],
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        cls.api = RuntimeApiEmulator()
        cls.stderr_path = os.path.join(cls.tmp, "function.log")
        cls.function = subprocess.Popen(
            [os.environ["IMGFLOW_BINARY"], "lambda"], env=function_env(cls.api, cls.server),
            stdout=subprocess.DEVNULL, stderr=open(cls.stderr_path, "w"))
        with open(JPEG, "rb") as f:
            cls.jpeg = f.read()

    @classmethod
    def tearDownClass(cls):
        if cls.function.poll() is None:
            cls.function.kill()
            cls.function.wait()
        cls.api.close()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ask(self, body, method="POST", base64_body=False):
        """The function URL's answer: (statusCode, headers, decoded JSON body)."""
        answer = self.api.wait_answer(self.api.invoke(url_event(method, body, base64_body)))
        self.assertEqual(answer.kind, "response", answer.body)
        response = answer.json()
        return response["statusCode"], response["headers"], json.loads(response["body"])

    def grant(self, content_type="image/jpeg", size=None, **extra):
        status, headers, body = self.ask(
            dict(content_type=content_type, size=size or len(self.jpeg), **extra))
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        return body

    def wait_for(self, bucket, key, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                return self.admin.head_object(Bucket=bucket, Key=key)
            except self.admin.exceptions.ClientError:
                time.sleep(0.2)
        self.fail("%s/%s never appeared" % (bucket, key))

    def test_a_put_to_the_url_uploads_under_the_chosen_key_and_is_processed(self):
        grant = self.grant(filename="holiday.JPEG")
        key = grant["key"]
        self.assertRegex(key, r"^incoming/[0-9a-f]{32}\.jpeg$")
        self.assertEqual(grant["method"], "PUT")
        self.assertEqual(grant["expires_in"], 300)
        self.assertEqual(grant["headers"], {"content-type": "image/jpeg"})
        self.assertIn("X-Amz-Expires=300", grant["url"])
        # As the deploy README shows it: curl with the headers the answer names.
        put = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
             "-H", "content-type: image/jpeg", "--upload-file", JPEG, grant["url"]],
            capture_output=True, text=True, check=True)
        self.assertEqual(put.stdout, "200", put.stderr)
        head = self.admin.head_object(Bucket="uploads", Key=key)
        self.assertEqual(head["ContentLength"], len(self.jpeg))
        self.assertEqual(head["ContentType"], "image/jpeg")
        manifest = self.wait_for("processed", key + "/manifest.json")
        self.assertGreater(manifest["ContentLength"], 0)
        body = json.loads(self.admin.get_object(
            Bucket="processed", Key=key + "/manifest.json")["Body"].read())
        self.assertEqual(body["source"]["key"], key)

    def test_a_put_with_another_content_type_or_key_is_refused(self):
        grant = self.grant()
        status, body = http("PUT", grant["url"], b"<html></html>", {"Content-Type": "text/html"})
        self.assertEqual(status, 403, body)
        self.assertIn(b"SignatureDoesNotMatch", body)
        elsewhere = grant["url"].replace(grant["key"], "incoming/mine.jpg")
        status, body = http("PUT", elsewhere, self.jpeg, {"Content-Type": "image/jpeg"})
        self.assertEqual(status, 403, body)
        listed = self.admin.list_objects_v2(Bucket="uploads", Prefix=grant["key"])
        self.assertEqual(listed.get("KeyCount", 0), 0)
        self.assertNotIn("Contents", self.admin.list_objects_v2(Bucket="uploads",
                                                                 Prefix="incoming/mine"))

    def test_the_post_form_enforces_the_size(self):
        grant = self.grant(size=len(self.jpeg))
        post = grant["post"]
        self.assertEqual(post["url"], self.server.endpoint + "/uploads")
        self.assertEqual(post["fields"]["key"], grant["key"])
        form, form_type = multipart_form(post["fields"], "big.jpg", self.jpeg + b"\0" * 10,
                                         "image/jpeg")
        status, body = http("POST", post["url"], form, {"Content-Type": form_type})
        self.assertEqual(status, 400, body)
        self.assertIn(b"EntityTooLarge", body)
        self.assertNotIn("Contents", self.admin.list_objects_v2(Bucket="uploads",
                                                                 Prefix=grant["key"]))
        form, form_type = multipart_form(post["fields"], "photo.jpg", self.jpeg, "image/jpeg")
        status, body = http("POST", post["url"], form, {"Content-Type": form_type})
        self.assertEqual(status, 204, body)
        self.assertEqual(self.admin.head_object(Bucket="uploads", Key=grant["key"])["ContentLength"],
                         len(self.jpeg))

    def test_client_mistakes_are_http_answers_not_function_errors(self):
        status, _, body = self.ask({"content_type": "text/html", "size": 10})
        self.assertEqual(status, 400)
        self.assertIn("text/html", body["error"])
        status, _, body = self.ask({"content_type": "image/png", "size": 60 << 20})
        self.assertEqual(status, 413)
        self.assertIn("max_input_bytes", body["error"])
        status, headers, body = self.ask("", method="GET")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")
        status, _, body = self.ask({"content_type": "image/webp", "size": 5}, base64_body=True)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["key"].endswith(".webp"))

    def test_an_event_that_is_not_a_request_is_a_function_error(self):
        answer = self.api.wait_answer(self.api.invoke(json.dumps({"Records": []})))
        self.assertEqual(answer.kind, "error")
        self.assertEqual(answer.json()["errorType"], "Imgflow.Permanent")

    def test_zz_one_log_line_per_request_without_secrets(self):
        self.grant(content_type="image/gif", size=77)
        deadline = time.time() + 10
        lines = []
        while time.time() < deadline:
            with open(self.stderr_path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            if any(line.get("content_type") == "image/gif" for line in lines):
                break
            time.sleep(0.05)
        granted = [line for line in lines if line.get("content_type") == "image/gif"]
        self.assertEqual(len(granted), 1, lines)
        self.assertEqual(granted[0]["outcome"], "granted")
        self.assertEqual(granted[0]["size"], 77)
        self.assertTrue(granted[0]["key"].startswith("incoming/"))
        with open(self.stderr_path) as f:
            text = f.read()
        self.assertNotIn(ADMIN[1], text)
        self.assertNotIn("Signature", text)


class PresignInitTest(unittest.TestCase):
    def start(self, **overrides):
        api = RuntimeApiEmulator()
        self.addCleanup(api.close)

        class NoServer:
            endpoint = "http://127.0.0.1:9"
        proc = subprocess.run([os.environ["IMGFLOW_BINARY"], "lambda"],
                              env=function_env(api, NoServer, **overrides),
                              capture_output=True, text=True, timeout=60)
        return proc, api.wait_init_error().json()

    def test_an_unknown_mode_is_an_init_error(self):
        proc, error = self.start(IMGFLOW_MODE="presigned")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(error["errorType"], "Imgflow.Config")
        self.assertIn("IMGFLOW_MODE", error["errorMessage"])

    def test_presign_mode_needs_the_source_bucket(self):
        proc, error = self.start(IMGFLOW_SOURCE_BUCKET=None)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("IMGFLOW_SOURCE_BUCKET", error["errorMessage"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
