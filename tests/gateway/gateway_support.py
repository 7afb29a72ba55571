"""Starts `imgflow serve` on a free port in a temporary data dir for real-client tests."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request


class ServerProcess:
    def __init__(self, binary, tmp=None, extra_env=None, workers=0, args=(), ssl_context=None):
        self.binary = binary
        self.workers = workers
        self.args = list(args)
        self.ssl_context = ssl_context  # for HTTPS: trusts the server's certificate
        self.extra_env = extra_env or {}
        self.tmp = tmp or tempfile.mkdtemp(prefix="imgflow-gateway-test-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "serve.log")
        self.proc = None
        self.endpoint = None
        self.admin = None
        self.function = None

    def start(self):
        self.log = open(self.log_path, "a")
        env = self.client_env()
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            # Workers off: these tests watch the outbox, which the workers would drain.
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--workers", str(self.workers)] + self.args,
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.banner = ""
        banner = []
        for line in self.proc.stdout:
            banner.append(line)
            m = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", line)
            if m:
                self.endpoint = m.group(1)
            m = re.search(r"(admin|function)\s+AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", line)
            if m:
                setattr(self, m.group(1), (m.group(2), m.group(3)))
            if line.strip().startswith("try"):
                break
        self.banner = "".join(banner)
        if not (self.admin and self.function):
            self.read_credentials_file()
        if not (self.endpoint and self.admin and self.function):
            raise RuntimeError("imgflow serve did not print its banner:\n" + "".join(banner))
        return self

    def read_credentials_file(self):
        values = {}
        with open(os.path.join(self.data_dir, "credentials")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    values[k] = v
        if "admin_access_key_id" in values:
            self.admin = self.admin or (values["admin_access_key_id"],
                                        values["admin_secret_access_key"])
        elif "IMGFLOW_ACCESS_KEY_ID" in self.extra_env:  # an admin from the environment
            self.admin = (self.extra_env["IMGFLOW_ACCESS_KEY_ID"],
                          self.extra_env["IMGFLOW_SECRET_ACCESS_KEY"])
        self.function = (values["function_access_key_id"], values["function_secret_access_key"])

    def stop(self):
        """SIGTERM, then the exit code (0 for a clean shutdown)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client_env(self, key=None):
        """An environment in which AWS clients reach nothing but this server."""
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("AWS_"):
                del env[name]
        env.update({
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.path.join(self.tmp, "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.tmp, "aws-credentials"),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_PAGER": "",
        })
        if key:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = key
        return env

    def metric(self, name):
        with urllib.request.urlopen(self.endpoint + "/_imgflow/metrics",
                                    context=self.ssl_context) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def pending_events(self):
        return int(self.metric("imgflow_queue_depth"))


def multipart_form(fields, file_name, file_bytes, file_type):
    """A multipart/form-data body as a browser builds it: fields first, then the file."""
    boundary = "----imgflowtest" + os.urandom(8).hex()
    out = b""
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f'{value}\r\n').encode()
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{file_name}"\r\nContent-Type: {file_type}\r\n\r\n').encode()
    out += file_bytes + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
