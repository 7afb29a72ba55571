"""Lambda cold start of the packaged function, against `imgflow version`, side by side.

exec -> ready: for the package, from spawning the bootstrap (at /var/task, in an empty root) to
its first GET /runtime/invocation/next at a Runtime API emulator; the same for `imgflow lambda`
run on the host's own libraries and fonts; for `imgflow version`, from spawning it to its exit. Two ways to start the package are measured:
  interpreter  bootstrap is the imgflow binary with its ELF interpreter set to the bundled
               loader (what scripts/package-lambda builds);
  shell        bootstrap is a /bin/sh script that execs the bundled loader on the binary (as
               aws-lambda-cpp's packager does); the shell and its libraries are bound from the
               host, as Amazon Linux has them.
Runs interleave (A, B, C, A, B, C, ...) so drift on a shared machine hits all three alike.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


class FirstNext:
    """An emulator that records when /next is first asked for, then never answers."""

    def __init__(self):
        self.asked = threading.Event()
        self.at = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if outer.at is None:
                    outer.at = time.perf_counter()
                    outer.asked.set()
                time.sleep(3600)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        self.at = None
        self.asked.clear()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]


def unpack(zip_path, dest):
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(dest)
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(os.path.join(dest, info.filename), mode)


def sandbox(task, extra_binds, env):
    args = ["bwrap", "--unshare-all", "--share-net", "--die-with-parent", "--clearenv",
            "--bind", task, "/var/task", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in extra_binds:
        args += ["--ro-bind", path, path]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + ["/var/task/bootstrap"]


def time_to_next(args, emulator):
    emulator.reset()
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not emulator.asked.wait(30):
        proc.kill()
        raise RuntimeError("the bootstrap never asked for an event: " + " ".join(args))
    took = emulator.at - start
    proc.kill()
    proc.wait()
    return took


def time_to_exit(args):
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zip", required=True)
    parser.add_argument("--binary", required=True, help="the imgflow binary, for version")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="imgflow-lambda-init-")
    try:
        interp = os.path.join(tmp, "interpreter")
        unpack(args.zip, interp)
        shell = os.path.join(tmp, "shell")
        unpack(args.zip, shell)
        # The same binary, unmodified, started through the loader by a shell script.
        loader = next(f for f in os.listdir(os.path.join(shell, "lib")) if f.startswith("ld-linux"))
        os.rename(os.path.join(shell, "bootstrap"), os.path.join(shell, "imgflow"))
        subprocess.run(["patchelf", "--remove-rpath", os.path.join(shell, "imgflow")], check=True)
        with open(os.path.join(shell, "bootstrap"), "w") as f:
            # Run through the loader, /proc/self/exe names the loader, not the program, so the
            # program cannot find what is packaged beside it: the shell says where the fonts are.
            f.write("#!/bin/sh\nexport FONTCONFIG_FILE=/var/task/fonts/fonts.conf\n"
                    "exec /var/task/lib/%s --library-path /var/task/lib "
                    "/var/task/imgflow lambda\n" % loader)
        os.chmod(os.path.join(shell, "bootstrap"), 0o755)

        emulator = FirstNext()
        env = {"AWS_LAMBDA_RUNTIME_API": emulator.address, "AWS_REGION": "eu-west-1",
               "IMGFLOW_DESTINATION_BUCKET": "out", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
               "AWS_SECRET_ACCESS_KEY": "secret", "LD_LIBRARY_PATH":
               "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
               "/var/task/lib:/opt/lib"}
        host_shell = ["/bin", "/usr/bin", "/lib", "/lib64", "/usr/lib"]
        runs = {"imgflow version": [], "imgflow lambda (unpackaged)": [],
                "package (interpreter)": [], "package (shell)": []}
        version = [args.binary, "version"]
        # The same loop on the host's own libraries and fonts: what the package adds is the
        # difference to this, since the loop does more than `version` (recipe check, curl).
        unpackaged = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()
                                      if kv[0] != "LD_LIBRARY_PATH"] + [args.binary, "lambda"]
        for _ in range(3):  # warm the page cache for all of them
            time_to_exit(version)
            time_to_next(unpackaged, emulator)
            time_to_next(sandbox(interp, [], env), emulator)
            time_to_next(sandbox(shell, host_shell, env), emulator)
        for _ in range(args.runs):
            runs["imgflow version"].append(time_to_exit(version))
            runs["imgflow lambda (unpackaged)"].append(time_to_next(unpackaged, emulator))
            runs["package (interpreter)"].append(time_to_next(sandbox(interp, [], env), emulator))
            runs["package (shell)"].append(time_to_next(sandbox(shell, host_shell, env), emulator))
        # bwrap's own start, to tell the sandbox's cost from the package's.
        empty = [time_to_exit(["bwrap", "--bind", interp, "/var/task", "--proc", "/proc",
                               "--dev", "/dev", "/var/task/lib/" + loader, "--help"])
                 for _ in range(args.runs)]
        base = statistics.median(runs["imgflow version"])
        loop = statistics.median(runs["imgflow lambda (unpackaged)"])
        print("| start | median ms | min ms | vs imgflow version | vs unpackaged lambda |")
        print("|---|---|---|---|---|")
        for name, samples in runs.items():
            med = statistics.median(samples)
            print("| %s | %.1f | %.1f | %.2fx | %.2fx |" % (name, med * 1000,
                                                           min(samples) * 1000, med / base,
                                                           med / loop))
        print("| (bwrap + loader alone) | %.1f | %.1f | |" % (statistics.median(empty) * 1000,
                                                             min(empty) * 1000))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
