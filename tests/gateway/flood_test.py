"""One hostile client against `imgflow serve`: a flood of idle and slowloris connections while
ordinary clients keep uploading and the monitor keeps checking health. Each must be answered
within a second. Loopback only: clients are told apart by source address, and all of
127.0.0.0/8 is loopback. Bounded in sockets, connection attempts and time (about 45 s)."""

import errno
import http.client
import os
import selectors
import socket
import sys
import threading
import time
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(__file__))
from gateway_support import ServerProcess  # noqa: E402

PHASE_SECONDS = 8            # each flood phase
ANSWER_WITHIN = 1.0          # seconds, for every ordinary request during the flood
FLOOD_SOCKETS = 200          # sockets each flood tries to keep open
MAX_ATTEMPTS = 4000          # connection attempts per flood, at most
ATTEMPTS_PER_SECOND = 100    # the flood's reconnect pace, so it does not eat the two CPUs
TRICKLE_EVERY = 0.5          # seconds between the slowloris sockets' single bytes
LIMITS = {                   # small limits, so the flood reaches them quickly
    "IMGFLOW_MAX_CONNECTIONS": "64",
    "IMGFLOW_RESERVED_CONNECTIONS": "8",
    "IMGFLOW_MAX_CONNECTIONS_PER_IP": "14",
    "IMGFLOW_HEADER_TIMEOUT": "2",
}


class Flood(threading.Thread):
    """Keeps up to `count` connections open from `sources`, taking turns at `kinds`: "idle"
    (silent), "header" (a request header a byte at a time, never finished) and "body" (a
    declared 100 kB body a byte at a time). Whatever the server answers is read and dropped; a
    socket it closes is reopened if `reopen`, else each socket is opened once."""

    def __init__(self, port, sources, count=FLOOD_SOCKETS, kinds=("idle", "header", "body"),
                 reopen=True):
        super().__init__(daemon=True)
        self.port, self.sources, self.count, self.kinds = port, sources, count, kinds
        self.reopen = reopen
        self.max_attempts = MAX_ATTEMPTS if reopen else count
        self.stopping = threading.Event()
        self.attempts = self.closed_by_server = 0
        self.selector = selectors.DefaultSelector()
        self.sockets = {}  # socket -> [kind, bytes still to trickle]

    def run(self):
        try:
            started = next_trickle = time.monotonic()
            while not self.stopping.is_set():
                self.open_some(started)
                for key, _ in self.selector.select(timeout=0.05):
                    self.read_or_drop(key.fileobj)
                if time.monotonic() >= next_trickle:
                    next_trickle += TRICKLE_EVERY
                    self.trickle()
        finally:
            for sock in list(self.sockets):
                self.drop(sock)
            self.selector.close()

    def open_some(self, started):
        # A flood that reopens is paced; one that does not opens all its sockets at once.
        paced = int((time.monotonic() - started) * ATTEMPTS_PER_SECOND) + 1
        allowed = min(self.max_attempts, paced if self.reopen else self.count)
        while len(self.sockets) < self.count and self.attempts < allowed:
            kind = self.kinds[self.attempts % len(self.kinds)]
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.sources[self.attempts % len(self.sources)], 0))
            sock.setblocking(False)
            self.attempts += 1
            if sock.connect_ex(("127.0.0.1", self.port)) not in (0, errno.EINPROGRESS):
                sock.close()
                continue
            n = self.attempts
            if kind == "header":
                pending = (f"PUT /uploads/slow{n}.jpg HTTP/1.1\r\nHost: x\r\n"
                           f"Content-Type: image/jpeg\r\nX-Pad: {'a' * 200}").encode()
            elif kind == "body":
                pending = (f"PUT /uploads/slow{n}.jpg HTTP/1.1\r\nHost: x\r\n"
                           f"Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n").encode()
            else:
                pending = b""
            self.sockets[sock] = [kind, pending]
            self.selector.register(sock, selectors.EVENT_READ)

    def trickle(self):
        for sock, state in list(self.sockets.items()):
            kind, pending = state
            if kind == "idle":
                continue
            # A body socket sends its header whole, then the body a byte at a time; a header
            # socket sends its header a byte at a time and then pads it, never ending it.
            chunk = pending if kind == "body" and pending else pending[:1] or b"a"
            try:
                sent = sock.send(chunk)
            except BlockingIOError:
                continue
            except OSError:
                self.drop(sock)
                continue
            state[1] = pending[sent:]

    def read_or_drop(self, sock):
        try:
            if sock.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.closed_by_server += 1
        self.drop(sock)

    def drop(self, sock):
        if sock in self.sockets:
            del self.sockets[sock]
            self.selector.unregister(sock)
            sock.close()


class Probe:
    """An ordinary client: one request per fresh connection, timed from connect to answer."""

    def __init__(self, port):
        self.port = port
        self.failures = []
        self.answered = 0
        self.slowest = 0.0

    def request(self, what, method, path, body=None, headers=None, expect=(200,)):
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5,
                                              source_address=("127.0.0.1", 0))
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            text = response.read()
            conn.close()
            status = response.status
        except OSError as e:
            status, text = None, repr(e).encode()
        self.record(what, started, status, text, expect)

    def record(self, what, started, status, text, expect=(200,)):
        elapsed = time.monotonic() - started
        self.answered += 1
        self.slowest = max(self.slowest, elapsed)
        if status not in expect or elapsed > ANSWER_WITHIN:
            self.failures.append(f"{what}: {status} after {elapsed:.2f} s: {text[:200]!r}")


def metric_samples(server, name):
    """{labels: value} for every sample of `name` on /_imgflow/metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=5)
    conn.request("GET", "/_imgflow/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line[len(name):].rsplit(" ", 1)
            samples[labels] = float(value)
    return samples


def port_of(server):
    return int(server.endpoint.rsplit(":", 1)[1])


class FloodTest(unittest.TestCase):
    def setUp(self):
        self.server = None
        self.flood = None

    def start_server(self, limits):
        self.server = ServerProcess(os.environ["IMGFLOW_BINARY"], extra_env=limits).start()
        self.port = port_of(self.server)

    def tearDown(self):
        if self.flood:
            self.flood.stopping.set()
            self.flood.join(timeout=30)
        if self.server and self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait()
        if self.server:
            self.server.cleanup()

    def run_flood(self, flood, ordinary_traffic, rounds=None):
        """Runs `flood` for PHASE_SECONDS (or `rounds` rounds) of `ordinary_traffic(n)` every
        0.2 s."""
        self.flood = flood
        self.flood.start()
        time.sleep(1)  # the flood takes what it can before the ordinary clients start
        deadline = time.monotonic() + PHASE_SECONDS
        n = 0
        while (n < rounds) if rounds else (time.monotonic() < deadline):
            ordinary_traffic(n)
            n += 1
            time.sleep(0.2)
        self.flood.stopping.set()
        self.flood.join(timeout=30)
        self.assertFalse(self.flood.is_alive(), "the flood did not stop")
        return self.flood

    def assert_all_answered(self, probe):
        if probe.failures:
            self.fail(f"{len(probe.failures)} of {probe.answered} failed:\n" +
                      "\n".join(probe.failures[:20]))

    def assert_log_is_not_flooded(self, limit_hits):
        with open(self.server.log_path) as f:
            reached = sum('"msg":"limit reached"' in line for line in f)
        self.assertGreater(limit_hits, 100, "the flood never reached a limit")
        self.assertLessEqual(reached, 30, f"{reached} 'limit reached' lines for {limit_hits} hits")

    def test_the_reported_floods_with_default_limits_leave_health_checks_answered(self):
        # As reported: 128 sockets that send nothing, then 200 slowloris connections, all from
        # the health checker's own address, against the limits imgflow serve picks by itself.
        self.start_server({})
        for count, kind in ((128, "idle"), (200, "header")):
            probe = Probe(self.port)
            flood = self.run_flood(
                Flood(self.port, ["127.0.0.1"], count=count, kinds=(kind,), reopen=False),
                lambda n: probe.request("health", "GET", "/_imgflow/health"), rounds=34)
            print(f"{count} {kind} sockets: {probe.answered} health checks, slowest "
                  f"{probe.slowest:.3f} s", flush=True)
            self.assert_all_answered(probe)
        self.assertEqual(self.server.stop(), 0)

    def test_one_address_flooding_leaves_uploads_and_health_checks_answered(self):
        self.start_server(LIMITS)
        probe = Probe(self.port)

        def ordinary(n):
            probe.request("health", "GET", "/_imgflow/health")
            probe.request("upload", "PUT", f"/uploads/ok-{n}.jpg", body=b"\xff\xd8" + os.urandom(20000),
                          headers={"Content-Type": "image/jpeg"})

        flood = self.run_flood(Flood(self.port, ["127.0.0.2"]), ordinary)
        print(f"one address: {flood.attempts} connection attempts, {flood.closed_by_server} ended "
              f"by the server; {probe.answered} ordinary requests, slowest {probe.slowest:.3f} s",
              flush=True)
        self.assert_all_answered(probe)
        refused = metric_samples(self.server, "imgflow_http_connections_refused_total")
        expired = metric_samples(self.server, "imgflow_http_deadlines_expired_total")
        self.assertGreater(refused.get('{reason="per_ip"}', 0), 0, refused)
        self.assertGreater(expired.get('{phase="header"}', 0), 0, expired)
        self.assert_log_is_not_flooded(sum(refused.values()) + sum(expired.values()))
        self.assertEqual(self.server.stop(), 0)

    def test_many_addresses_filling_the_server_leave_the_reserve_to_probes_and_signed_callers(self):
        self.start_server(LIMITS)
        probe = Probe(self.port)
        admin = boto3.client("s3", endpoint_url=self.server.endpoint, region_name="us-east-1",
                             aws_access_key_id=self.server.admin[0],
                             aws_secret_access_key=self.server.admin[1],
                             config=Config(s3={"addressing_style": "path"},
                                           signature_version="s3v4",
                                           retries={"max_attempts": 1},
                                           connect_timeout=5, read_timeout=5))

        def ordinary(n):
            probe.request("health", "GET", "/_imgflow/health")
            probe.request("ready", "GET", "/_imgflow/ready")
            # A presigned URL on a fresh connection, and the SDK on the one it keeps.
            url = admin.generate_presigned_url(
                "put_object", Params={"Bucket": "uploads", "Key": f"presigned-{n}.jpg"})
            probe.request("presigned upload", "PUT", url[len(self.server.endpoint):],
                          body=b"\xff\xd8 presigned")
            started = time.monotonic()
            try:
                admin.put_object(Bucket="uploads", Key=f"signed-{n}.jpg", Body=b"\xff\xd8 signed",
                                 ContentType="image/jpeg")
                status = 200
            except Exception as e:  # noqa: BLE001: any failure is what the test reports
                status = repr(e)
            probe.record("signed upload", started, status, b"")
            # Anonymous uploads have no claim on the reserve: a prompt SlowDown is the answer.
            probe.request("anonymous upload", "PUT", f"/uploads/anon-{n}.jpg", body=b"\xff\xd8 x",
                          headers={"Content-Type": "image/jpeg"}, expect=(200, 503))

        # Eight addresses at fourteen each fill the 56 shared connections and press on the reserve.
        flood = self.run_flood(Flood(self.port, [f"127.0.0.{i}" for i in range(2, 10)]), ordinary)
        print(f"eight addresses: {flood.attempts} connection attempts, {flood.closed_by_server} "
              f"ended by the server; {probe.answered} ordinary requests, slowest "
              f"{probe.slowest:.3f} s", flush=True)
        self.assert_all_answered(probe)
        refused = metric_samples(self.server, "imgflow_http_requests_refused_total")
        self.assertGreater(refused.get('{reason="reserved"}', 0), 0, refused)
        self.assertEqual(self.server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
