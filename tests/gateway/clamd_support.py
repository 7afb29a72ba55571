"""A real clamd for the end-to-end scan tests: Debian's clamav-daemon started in the foreground
with its own clamd.conf and a signature database this module writes (a marker body signature and
EICAR's hash), on a Unix socket of its own: never the system's daemon, never the network.
tests/support/clamd_daemon.h is the same for the C++ tests."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLAMD = "/usr/sbin/clamd"
MARKER = b"IMGFLOW-SCAN-TEST-MARKER-7f3a"
MARKER_SIGNATURE = "Imgflow.Test.Marker"
EICAR_SIGNATURE = "Eicar-Test-Signature"


def eicar():
    """The EICAR test file, assembled at run time so that no source file carries it whole."""
    return (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" +
            b"TEST-FILE!$H+H*")


class Clamd:
    def __init__(self, stream_max_bytes=1 << 20):
        if not os.access(CLAMD, os.X_OK):
            raise RuntimeError(CLAMD + " is not installed: the scan tests need Debian's "
                               "clamav-daemon (scripts/install-deps)")
        self.dir = tempfile.mkdtemp(prefix="imgflow-clamd-")
        self.socket_path = os.path.join(self.dir, "clamd.sock")
        self.proc = None
        database = os.path.join(self.dir, "db")
        os.mkdir(database)
        with open(os.path.join(database, "imgflow-test.ndb"), "w") as f:
            f.write(f"{MARKER_SIGNATURE}:0:*:{MARKER.hex()}\n")
        with open(os.path.join(database, "eicar.hdb"), "w") as f:
            f.write(f"44d88612fea8a8f36de82e1278abb02f:68:{EICAR_SIGNATURE}\n")
        limit = str(stream_max_bytes)
        with open(os.path.join(self.dir, "clamd.conf"), "w") as f:
            f.write(f"Foreground yes\nLocalSocket {self.socket_path}\n"
                    f"DatabaseDirectory {database}\nStreamMaxLength {limit}\n"
                    f"MaxFileSize {limit}\nMaxScanSize {limit}\nAlertExceedsMax yes\n"
                    f"LogFile {os.path.join(self.dir, 'clamd.log')}\n")

    @property
    def address(self):
        return "unix:" + self.socket_path

    def start(self, timeout=60):
        """Starts clamd and waits, bounded, until it answers PING."""
        self.out = open(os.path.join(self.dir, "clamd.out"), "ab")
        self.proc = subprocess.Popen(
            [CLAMD, "--foreground", "--config-file=" + os.path.join(self.dir, "clamd.conf")],
            stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                raise RuntimeError("clamd exited at start: " + self.log())
            if time.monotonic() > deadline:
                raise RuntimeError("clamd did not answer PING: " + self.log())
            time.sleep(0.05)
        return self

    def ping(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(self.socket_path)
                s.sendall(b"zPING\0")
                return s.recv(16) == b"PONG\0"
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.out.close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def log(self):
        text = ""
        for name in ("clamd.out", "clamd.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def with_comment(jpeg, comment):
    """The JPEG with a COM segment holding `comment` right after SOI: still a valid image, so
    only a scanner can tell."""
    assert jpeg[:2] == b"\xff\xd8"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]
