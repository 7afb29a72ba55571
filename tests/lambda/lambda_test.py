"""The packaged function, as Lambda runs it: build/lambda/function-<arch>.zip unpacked at
/var/task inside an empty root (bubblewrap: nothing from the host but the bundle, /tmp, /proc and
/dev), its bootstrap run against a Runtime API emulator, with `imgflow serve` as its S3 through
AWS_ENDPOINT_URL_S3 and temporary credentials of the function role (with a session token)."""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zipfile

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "gateway"))
from gateway_support import ServerProcess  # noqa: E402
from runtime_api_emulator import RuntimeApiEmulator  # noqa: E402

SAMPLES = os.path.join(ROOT, "samples")
# What Lambda sets for a provided.al2023 function: its /lib64 (AL2023's older glibc, absent
# here) comes before the bundle's lib/, which the bootstrap's RPATH must win over.
LAMBDA_LIBRARY_PATH = ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                       "/var/task:/var/task/lib:/opt/lib")
SESSION_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDGltZ2Zsb3ctdGVzdA=="


def package():
    """The zip: IMGFLOW_LAMBDA_ZIP if given, else built by scripts/package-lambda."""
    given = os.environ.get("IMGFLOW_LAMBDA_ZIP")
    if given:
        return given
    arch = "arm64" if os.uname().machine == "aarch64" else "x86_64"
    subprocess.run([os.path.join(ROOT, "scripts", "package-lambda")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, "build", "lambda", "function-%s.zip" % arch)


def unpack(zip_path, dest):
    """Unzips as Lambda does, keeping the mode bits (zipfile alone drops them)."""
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(dest)
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(os.path.join(dest, info.filename), mode)


def s3_key(key):
    """A key as S3 event notifications carry it: form-URL-encoded."""
    return urllib.parse.quote_plus(key, safe="/")


class SnsReceiver:
    """Takes SNS Publish requests on 127.0.0.1 and checks each one's SigV4 signature itself."""

    def __init__(self, credentials):
        self.credentials = credentials
        self.published = []  # (form fields, signature ok)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = receiver.signature_ok(self.command, self.path, self.headers, body)
                fields = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                receiver.published.append((fields, ok))
                self.send_response(200 if ok else 403)
                self.end_headers()
                self.wfile.write(b"<PublishResponse><PublishResult><MessageId>1</MessageId>"
                                 b"</PublishResult></PublishResponse>")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def signature_ok(self, method, path, headers, body):
        """SigV4 as AWS documents it, written out here rather than trusting either signer."""
        auth = headers["Authorization"]
        scope = auth.split("Credential=")[1].split(",")[0].split("/", 1)[1]
        signed = auth.split("SignedHeaders=")[1].split(",")[0]
        canonical = "\n".join([method, path, ""] +
                              ["%s:%s" % (h, " ".join(headers[h].split())) for h in signed.split(";")] +
                              ["", signed, hashlib.sha256(body).hexdigest()])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["X-Amz-Date"], scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.credentials[1]).encode()
        for part in scope.split("/")[:4]:
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return (scope.endswith("/eu-west-1/sns/aws4_request") and
                headers.get("X-Amz-Security-Token") == SESSION_TOKEN and
                hmac.compare_digest(expected, auth.split("Signature=")[1]))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def s3_event(records):
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-12-06T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0",
               "bucket": {"name": bucket, "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": s3_key(key), "size": size, "eTag": etag,
                          "sequencer": "0055AED6DCD90281E5"}}}
        for bucket, key, size, etag in records]})


class LambdaPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgflow-lambda-test-")
        cls.task = os.path.join(cls.tmp, "task")
        unpack(package(), cls.task)

        # The S3 side: imgflow serve, with temporary credentials for the function role.
        cls.server = ServerProcess(os.environ["IMGFLOW_BINARY"], tmp=os.path.join(cls.tmp, "s3"))
        os.makedirs(cls.server.data_dir, mode=0o700)
        cls.function = ("IFFUNCTIONTESTKEY000", "functionsecretfunctionsecretfunction0000")
        admin = ("IFADMINTESTKEY000000", "adminsecretadminsecretadminsecretadmin00")
        path = os.path.join(cls.server.data_dir, "credentials")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("admin_access_key_id=%s\nadmin_secret_access_key=%s\n" % admin)
            f.write("function_access_key_id=%s\nfunction_secret_access_key=%s\n" % cls.function)
            f.write("function_session_token=%s\n" % SESSION_TOKEN)
        cls.server.start()
        cls.admin = boto3.client(
            "s3", endpoint_url=cls.server.endpoint, region_name="eu-west-1",
            aws_access_key_id=admin[0], aws_secret_access_key=admin[1],
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        cls.api = RuntimeApiEmulator()
        cls.runtime = None
        cls.runs = 0

    @classmethod
    def tearDownClass(cls):
        cls.stop_runtime()
        cls.api.close()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start_runtime(cls, **overrides):
        cls.runtime = cls.launch(cls.api, **overrides)
        cls.stdout_path, cls.stderr_path = cls.runtime.log_paths

    @classmethod
    def launch(cls, api, **overrides):
        """The bootstrap in an empty root, as Lambda runs it, with the function's environment."""
        env = {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_REGION": "eu-west-1",
            "AWS_LAMBDA_FUNCTION_NAME": "imgflow-test",
            "AWS_ACCESS_KEY_ID": cls.function[0],
            "AWS_SECRET_ACCESS_KEY": cls.function[1],
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_ENDPOINT_URL_S3": cls.server.endpoint,
            "IMGFLOW_DESTINATION_BUCKET": "processed",
            "IMGFLOW_DESTINATION_PREFIX": "out",
            "LD_LIBRARY_PATH": LAMBDA_LIBRARY_PATH,
            "LAMBDA_TASK_ROOT": "/var/task",
        }
        env.update(overrides)
        args = ["bwrap", "--unshare-all", "--share-net", "--die-with-parent", "--clearenv",
                "--bind", cls.task, "/var/task", "--proc", "/proc", "--dev", "/dev",
                "--tmpfs", "/tmp", "--chdir", "/var/task"]
        for name, value in env.items():
            if value is not None:
                args += ["--setenv", name, value]
        cls.runs += 1
        stdout_path = os.path.join(cls.tmp, "stdout-%d.log" % cls.runs)
        stderr_path = os.path.join(cls.tmp, "stderr-%d.log" % cls.runs)
        process = subprocess.Popen(args + ["/var/task/bootstrap"], stdout=open(stdout_path, "w"),
                                   stderr=open(stderr_path, "w"))
        process.log_paths = (stdout_path, stderr_path)
        return process

    @classmethod
    def stop_runtime(cls):
        if cls.runtime and cls.runtime.poll() is None:
            cls.runtime.kill()
            cls.runtime.wait()
        cls.runtime = None

    def setUp(self):
        if self.runtime is None or self.runtime.poll() is not None:
            type(self).start_runtime()

    def upload(self, key, sample):
        with open(os.path.join(SAMPLES, sample), "rb") as f:
            body = f.read()
        put = self.admin.put_object(Bucket="uploads", Key=key, Body=body)
        return ("uploads", key, len(body), put["ETag"].strip('"'))

    def manifest(self, key):
        body = self.admin.get_object(Bucket="processed", Key="out/%s/manifest.json" % key)
        return json.loads(body["Body"].read())

    def test_an_event_with_several_records_writes_each_set(self):
        keys = ["album/summer trip/IMG 0001.jpg", "album/caf\u00e9+cr\u00e8me.png"]
        records = [self.upload(keys[0], "landscape.jpg"), self.upload(keys[1], "logo.png")]
        answer = self.api.wait_answer(self.api.invoke(s3_event(records)))
        self.assertEqual(answer.kind, "response", answer.body)
        body = answer.json()
        self.assertEqual(body["processed"], 2)
        self.assertEqual([r["key"] for r in body["records"]], keys)
        for key in keys:
            manifest = self.manifest(key)
            self.assertEqual(manifest["source"]["key"], key)
            self.assertEqual([v["name"] for v in manifest["variants"]],
                             ["large", "medium", "thumb"])
            for variant in manifest["variants"]:
                head = self.admin.head_object(Bucket="processed", Key=variant["key"])
                self.assertEqual(head["ContentLength"], variant["bytes"])
                self.assertTrue(variant["key"].startswith("out/" + key + "/"))

    def test_a_test_event_is_answered_and_does_nothing(self):
        event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                            "Time": "2026-12-06T12:00:00.000Z", "Bucket": "uploads",
                            "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkw"})
        answer = self.api.wait_answer(self.api.invoke(event))
        self.assertEqual(answer.kind, "response", answer.body)
        self.assertEqual(answer.json()["records"], [])

    def test_a_hostile_image_is_an_error_with_the_schema_and_writes_nothing(self):
        put = self.admin.put_object(Bucket="uploads", Key="hostile.jpg",
                                    Body=b"\xff\xd8\xff\xe0" + b"\x00" * 64)
        record = ("uploads", "hostile.jpg", 68, put["ETag"].strip('"'))
        answer = self.api.wait_answer(self.api.invoke(s3_event([record])))
        self.assertEqual(answer.kind, "error")
        error = answer.json()
        self.assertEqual(set(error), {"errorMessage", "errorType", "stackTrace"})
        self.assertEqual(error["errorType"], "Imgflow.Permanent")
        self.assertEqual(answer.headers.get("Lambda-Runtime-Function-Error-Type"),
                         "Imgflow.Permanent")
        self.assertIn("hostile.jpg", error["errorMessage"])
        listed = self.admin.list_objects_v2(Bucket="processed", Prefix="out/hostile.jpg/")
        self.assertEqual(listed.get("KeyCount", 0), 0)

    def test_logs_are_json_lines_and_metrics_are_emf(self):
        record = self.upload("logged.jpg", "landscape.jpg")
        self.assertEqual(self.api.wait_answer(self.api.invoke(s3_event([record]))).kind,
                         "response")
        # The EMF lines are written just after the answer: wait for them, not for a guess.
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.stdout_path) as f:
                if "imgflow_stage_duration_seconds" in f.read():
                    break
            time.sleep(0.05)
        with open(self.stderr_path) as f:
            logs = [json.loads(line) for line in f if line.strip()]
        self.assertTrue(logs)
        for line in logs:
            self.assertIn(line["level"], ("DEBUG", "INFO", "WARN", "ERROR"))
            self.assertRegex(line["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn("message", line)
        self.assertTrue(any(line.get("key") == "logged.jpg" and line.get("requestId")
                            for line in logs))
        with open(self.stdout_path) as f:
            emf = [json.loads(line) for line in f if line.strip()]
        names = set()
        for line in emf:
            directive = line["_aws"]["CloudWatchMetrics"][0]
            self.assertEqual(directive["Namespace"], "imgflow")
            self.assertEqual(line["FunctionName"], "imgflow-test")
            for metric in directive["Metrics"]:
                self.assertIn(metric["Name"], line)
                names.add(metric["Name"])
        self.assertIn("imgflow_stage_duration_seconds", names)
        self.assertIn("imgflow_output_bytes_total", names)

    def test_zy_notifications_are_published_to_the_topic(self):
        receiver = SnsReceiver(self.function)
        topic = "arn:aws:sns:eu-west-1:123456789012:imgflow-notifications-test"
        # A runtime of its own, on an emulator of its own: the shared one keeps its runtime.
        api = RuntimeApiEmulator()
        runtime = self.launch(api, IMGFLOW_NOTIFY_TOPIC_ARN=topic, AWS_ENDPOINT_URL_SNS=receiver.url)
        try:
            record = self.upload("notified/IMG 0002.jpg", "landscape.jpg")
            answer = api.wait_answer(api.invoke(s3_event([record])))
            self.assertEqual(answer.kind, "response", answer.body)
            garbage = b"\xff\xd8\xff\xe0 not a jpeg"
            put = self.admin.put_object(Bucket="uploads", Key="notified/broken.jpg", Body=garbage)
            broken = ("uploads", "notified/broken.jpg", len(garbage), put["ETag"].strip('"'))
            self.assertEqual(api.wait_answer(api.invoke(s3_event([broken]))).kind, "error")
        finally:
            runtime.kill()
            runtime.wait()
            api.close()
            receiver.close()
        self.assertEqual([ok for _, ok in receiver.published], [True, True])
        (processed, _), (failed, _) = receiver.published
        for fields in (processed, failed):
            self.assertEqual(fields["Action"], "Publish")
            self.assertEqual(fields["TopicArn"], topic)
            self.assertEqual(fields["MessageAttributes.entry.1.Name"], "type")
        message = json.loads(processed["Message"])
        self.assertEqual(processed["MessageAttributes.entry.1.Value.StringValue"], "processed")
        self.assertEqual(message["source"]["key"], "notified/IMG 0002.jpg")
        self.assertEqual(message["source"]["etag"], record[3])
        self.assertEqual(message["manifest"], {"bucket": "processed",
                                               "key": "out/notified/IMG 0002.jpg/manifest.json"})
        self.assertEqual(len(message["variants"]), 3)
        message = json.loads(failed["Message"])
        self.assertEqual(failed["MessageAttributes.entry.1.Value.StringValue"], "failed")
        self.assertEqual((message["type"], message["reason"]), ("failed", "permanent"))
        self.assertEqual(message["source"]["etag"], broken[3])

    def test_zz_a_deadline_too_short_is_reported_before_it_passes(self):
        record = self.upload("slow.jpg", "landscape.jpg")
        request_id = self.api.invoke(s3_event([record]), timeout_ms=1100)
        deadline_ms = int(time.time() * 1000) + 1100
        answer = self.api.wait_answer(request_id)
        answered_ms = int(time.time() * 1000)
        self.assertEqual(answer.kind, "error")
        self.assertIn(answer.json()["errorType"],
                      ("Imgflow.DeadlineExceeded",))  # 100 ms of budget: never enough
        self.assertLess(answered_ms, deadline_ms)
        self.assertEqual(self.runtime.wait(timeout=30), 1, "the runtime must exit to be reset")


class LambdaInitTest(unittest.TestCase):
    def test_a_missing_setting_is_an_init_error_that_names_it(self):
        tmp = tempfile.mkdtemp(prefix="imgflow-lambda-init-")
        api = RuntimeApiEmulator()
        try:
            task = os.path.join(tmp, "task")
            unpack(package(), task)
            proc = subprocess.run(
                ["bwrap", "--unshare-all", "--share-net", "--die-with-parent", "--clearenv",
                 "--bind", task, "/var/task", "--proc", "/proc", "--dev", "/dev", "--tmpfs",
                 "/tmp", "--setenv", "AWS_LAMBDA_RUNTIME_API", api.address, "--setenv",
                 "AWS_REGION", "eu-west-1", "/var/task/bootstrap"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            error = api.wait_init_error().json()
            self.assertEqual(error["errorType"], "Imgflow.Config")
            self.assertIn("IMGFLOW_DESTINATION_BUCKET", error["errorMessage"])
        finally:
            api.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
