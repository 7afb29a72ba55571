"""`imgflow serve` as an operator sees it: graceful shutdown, restarts, credentials, usage."""

import os
import signal
import socket
import stat
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


def client(server, key, region="us-east-1"):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def port_of(server):
    return int(server.endpoint.rsplit(":", 1)[1])


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.server = ServerProcess(BINARY)
        os.environ.update(self.server.client_env())

    def tearDown(self):
        if self.server.proc and self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait()
        self.server.cleanup()

    def test_sigterm_lets_an_in_flight_upload_finish_and_restart_keeps_it(self):
        self.server.start()
        self.assertIn("listening on http://127.0.0.1:", self.server.banner)
        self.assertIn("aws s3 cp photo.jpg s3://uploads/ --endpoint-url", self.server.banner)
        creds = os.path.join(self.server.data_dir, "credentials")
        self.assertEqual(stat.S_IMODE(os.stat(creds).st_mode), 0o600)
        body = os.urandom(200_000)
        with socket.create_connection(("127.0.0.1", port_of(self.server))) as sock:
            sock.sendall(b"PUT /uploads/inflight.jpg HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: image/jpeg\r\nContent-Length: 200000\r\n\r\n" + body[:100_000])
            # In flight once the server holds it: this connection and the scrape's own.
            self.wait_until(lambda: self.server.metric("imgflow_http_connections") >= 2)
            self.server.proc.send_signal(15)
            self.wait_for_log("shutting down")
            self.assertIsNone(self.server.proc.poll(), "exited with a request in flight")
            sock.sendall(body[100_000:])
            sock.settimeout(10)
            response = sock.recv(4096)
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response)
        self.assertIn(b"x-amz-request-id: ", response.lower().replace(b"X-Amz", b"x-amz"))
        self.assertEqual(self.server.proc.wait(timeout=30), 0)
        self.server.log.close()

        # Second start on the same data dir: the secrets are not printed again, data survived.
        admin = self.server.admin
        self.server.admin = self.server.function = None
        self.server.start()
        self.assertNotIn(admin[1], self.server.banner)
        self.assertEqual(self.server.admin, admin)
        s3 = client(self.server, admin)
        self.assertEqual(s3.get_object(Bucket="uploads", Key="inflight.jpg")["Body"].read(), body)
        self.assertEqual(self.server.stop(), 0)

    def test_idle_keep_alive_connections_do_not_block_shutdown(self):
        self.server.start()
        with socket.create_connection(("127.0.0.1", port_of(self.server))) as sock:
            sock.sendall(b"GET /_imgflow/health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            self.assertTrue(sock.recv(4096).startswith(b"HTTP/1.1 200"))
            started = time.monotonic()
            self.assertEqual(self.server.stop(), 0)
            self.assertLess(time.monotonic() - started, 5)

    def test_admin_credentials_from_the_environment(self):
        key = ("IFENVADMIN0000000000", "envsecretenvsecretenvsecretenvsecret0000")
        self.server.extra_env = {"IMGFLOW_ACCESS_KEY_ID": key[0], "IMGFLOW_SECRET_ACCESS_KEY": key[1]}
        self.server.start()
        self.assertNotIn(key[1], self.server.banner)
        with open(os.path.join(self.server.data_dir, "credentials")) as f:
            stored = f.read()
        self.assertNotIn(key[1], stored)
        # Only what is in force is written: no generated admin pair that the server refuses.
        self.assertNotIn("admin_", stored)
        self.assertIn("function_access_key_id=", stored)
        s3 = client(self.server, key)
        self.assertIn("uploads", [b["Name"] for b in s3.list_buckets()["Buckets"]])
        self.assertEqual(self.server.stop(), 0)

    def test_files_on_disk_are_private_and_secrets_stay_off_a_piped_stdout(self):
        self.server.start()
        # stdout is a pipe here, as under journald or docker: the banner names the file only.
        self.assertNotIn("AWS_SECRET_ACCESS_KEY=", self.server.banner)
        self.assertIn("generated into", self.server.banner)
        self.assertNotIn(self.server.admin[1], self.server.banner)
        s3 = client(self.server, self.server.admin)
        s3.put_object(Bucket="uploads", Key="private.jpg", Body=b"\xff\xd8\xff" + b"x" * 1000,
                      ContentType="image/jpeg")
        data = self.server.data_dir
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o700)
        for name in ("credentials", "endpoint", "imgflow.db", "LOCK"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode), 0o600, name)
        checked = 0
        for root, dirs, files in os.walk(data):
            for d in dirs:
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode), 0o700, d)
            for f in files:
                mode = stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode)
                self.assertEqual(mode & 0o077, 0, os.path.join(root, f))
                checked += 1
        self.assertGreater(checked, 4)
        self.assertEqual(self.server.stop(), 0)

    def test_a_data_dir_open_to_others_is_warned_about(self):
        os.makedirs(self.server.data_dir, mode=0o755)
        os.chmod(self.server.data_dir, 0o755)
        self.server.start()
        self.assertEqual(self.server.stop(), 0)
        with open(self.server.log_path) as f:
            log = f.read()
        self.assertIn("data dir is open to other users", log)
        self.assertIn("chmod -R go-rwx", log)

    def wait_for(self, s3, key, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return s3.get_object(Bucket="processed", Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                time.sleep(0.1)
        self.fail(f"{key} never appeared")

    def test_sighup_reloads_a_good_recipe_and_keeps_the_old_one_for_a_bad_one(self):
        recipe = os.path.join(self.server.tmp, "imgflow.yaml")
        with open(recipe, "w") as f:
            f.write("variants:\n  - name: first\n    width: 64\n")
        self.server.extra_env = {"IMGFLOW_CONFIG": recipe}
        self.server.workers = 1
        self.server.start()
        s3 = client(self.server, self.server.admin)
        with open(os.path.join(SAMPLES, "logo.png"), "rb") as f:
            png = f.read()
        s3.put_object(Bucket="uploads", Key="a.png", Body=png)
        self.wait_for(s3, "a.png/first.png")

        # A good recipe is swapped in; a broken one leaves the running one in force.
        for key, text, logged, made in (
                ("b.png", "variants:\n  - name: second\n    width: 32\n", "recipe reloaded",
                 "b.png/second.png"),
                ("c.png", "variants:\n  - name: third\n    fit: covr\n",
                 "recipe not reloaded; the running one stays", "c.png/second.png")):
            with open(recipe, "w") as f:
                f.write(text)
            self.server.proc.send_signal(signal.SIGHUP)
            self.wait_for_log(logged)
            self.assertIsNone(self.server.proc.poll(), "SIGHUP must not end the server")
            s3.put_object(Bucket="uploads", Key=key, Body=png)
            self.wait_for(s3, made)

        # Webhooks are read at start: a reload that adds one says it is not in force.
        with open(recipe, "w") as f:
            f.write("variants:\n  - name: fourth\n    width: 32\nnotify:\n  webhooks:\n"
                    "    - url: http://127.0.0.1:9/hook\n      secret_env: HOOK_SECRET\n")
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_for_log("notify: section not reloaded")
        s3.put_object(Bucket="uploads", Key="d.png", Body=png)
        self.wait_for(s3, "d.png/fourth.png")
        self.assertEqual(self.server.stop(), 0)

    def wait_until(self, condition, timeout=30):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("the server never reached the state the test waits for")
            time.sleep(0.02)

    def wait_for_log(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.server.log_path) as f:
                if text in f.read():
                    return
            time.sleep(0.05)
        self.fail(f"the log never said {text!r}")

    def test_clients_configured_for_another_region_work_unless_a_region_is_enforced(self):
        self.server.start()
        names = [b["Name"] for b in client(self.server, self.server.admin, "eu-west-1")
                 .list_buckets()["Buckets"]]
        self.assertIn("uploads", names)
        self.assertEqual(self.server.stop(), 0)
        self.server.log.close()

        self.server.extra_env = {"IMGFLOW_REGION": "eu-west-1"}
        self.server.start()
        with self.assertRaises(Exception) as refused:
            client(self.server, self.server.admin, "us-east-1").list_buckets()
        self.assertIn("eu-west-1", str(refused.exception))
        names = [b["Name"] for b in client(self.server, self.server.admin, "eu-west-1")
                 .list_buckets()["Buckets"]]
        self.assertIn("uploads", names)
        self.assertEqual(self.server.stop(), 0)

    def test_listen_accepts_a_host_name(self):
        env = self.server.client_env()
        proc = subprocess.Popen([BINARY, "serve", "--listen", "localhost:0", "--data-dir",
                                 self.server.data_dir], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = proc.stdout.readline() + proc.stdout.readline()
            self.assertRegex(line, r"listening on http://(127\.0\.0\.1|\[::1\]):\d+")
        finally:
            proc.send_signal(15)
            self.assertEqual(proc.wait(timeout=30), 0)

    def test_cors_preflight_for_configured_origins(self):
        self.server.extra_env = {"IMGFLOW_CORS_ORIGINS": "https://app.example,https://b.example"}
        self.server.start()
        port = port_of(self.server)

        def preflight(origin):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(f"OPTIONS /uploads/x.jpg HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n"
                             "Access-Control-Request-Method: PUT\r\n\r\n".encode())
                sock.settimeout(5)
                return sock.recv(4096).decode()

        allowed = preflight("https://b.example")
        self.assertTrue(allowed.startswith("HTTP/1.1 200"), allowed)
        self.assertIn("Access-Control-Allow-Origin: https://b.example", allowed)
        self.assertTrue(preflight("https://evil.example").startswith("HTTP/1.1 403"))
        self.assertEqual(self.server.stop(), 0)

    def test_bad_usage_exits_with_2(self):
        for args in (["--listen", "nonsense"], ["--config", "/nonexistent.yaml"], ["--bogus"]):
            p = subprocess.run([BINARY, "serve", "--data-dir", self.server.data_dir, *args],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
        env = dict(os.environ, IMGFLOW_ACCESS_KEY_ID="only-half")
        env.pop("IMGFLOW_SECRET_ACCESS_KEY", None)
        p = subprocess.run([BINARY, "serve", "--data-dir", self.server.data_dir, "--listen",
                            "127.0.0.1:0"], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_listen_and_data_dir_from_the_environment(self):
        env = self.server.client_env()
        env.update({"IMGFLOW_LISTEN": "127.0.0.1:0", "IMGFLOW_DATA_DIR": self.server.data_dir})
        proc = subprocess.Popen([BINARY, "serve"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = proc.stdout.readline() + proc.stdout.readline()
            self.assertIn("listening on http://127.0.0.1:", line)
            self.assertTrue(os.path.exists(os.path.join(self.server.data_dir, "credentials")))
        finally:
            proc.send_signal(15)
            self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
