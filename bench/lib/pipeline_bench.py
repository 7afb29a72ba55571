"""The end-to-end pipeline benchmark: `imgflow serve` against `imgflow process` on the same
images and recipe, on this machine. Driven by bench/run-pipeline; prints a markdown report.

  throughput  N uploads as fast as two clients can send them, until the last manifest is
              stored, against `imgflow process --jobs <cores>` on the same N files.
  latency     one upload at a time at light load: acknowledgement (the PUT's access-log line)
              to manifest stored (the function's log line), both from the server's own clock.
  soak        a burst of many small uploads: the server's RSS sampled throughout, and the queue.

Uploads are anonymous PUTs (the browser path) over keep-alive connections from this process;
the client's CPU shares the machine with the server, as a real uploader on the same box would.
"""

import argparse
import calendar
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request


def log(message):
    print(f"  {message}", file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary, recipe, data_dir, log_path, workers=None):
        os.makedirs(data_dir, exist_ok=True)
        # The clients are one address as fast as they can go: the per-address limits are off.
        args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                "--config", recipe, "--max-connections-per-ip", "0",
                "--requests-per-second-per-ip", "0"]
        if workers is not None:
            args += ["--workers", str(workers)]
        self.log_path = log_path
        self.log = open(log_path, "w")
        env = dict(os.environ, IMGFLOW_ACCESS_KEY_ID="AKIDPIPELINEBENCH001",
                   IMGFLOW_SECRET_ACCESS_KEY="pipeline-bench-secret-0123456789abcdefgh")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=env)
        for line in self.proc.stdout:
            m = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
        else:
            raise RuntimeError("imgflow serve did not start; see " + log_path)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def metrics(self):
        url = f"http://{self.host}:{self.port}/_imgflow/metrics"
        with urllib.request.urlopen(url) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def processed(self):
        return int(self.metrics().get('imgflow_records_total{outcome="processed"}', 0))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.log.close()
        if code != 0:
            raise RuntimeError(f"imgflow serve exited with {code}; see {self.log_path}")


class Uploader:
    """Anonymous PUTs over one keep-alive connection."""

    def __init__(self, server):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=120)

    def put(self, key, body):
        path = "/uploads/" + urllib.parse.quote(key)
        self.conn.request("PUT", path, body=body, headers={"Content-Type": "image/jpeg"})
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"PUT {key}: HTTP {response.status}")


def upload_all(server, items, clients=2):
    """Uploads (key, bytes) items from `clients` threads; returns when all are acknowledged."""
    chunks = [items[i::clients] for i in range(clients)]
    errors = []

    def run(chunk):
        try:
            uploader = Uploader(server)
            for key, body in chunk:
                uploader.put(key, body)
        except Exception as e:  # reported below; a benchmark with a failed upload is void
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def wait_processed(server, count, timeout, poll=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.processed() >= count:
            return time.time()
        time.sleep(poll)
    raise RuntimeError(f"only {server.processed()} of {count} processed after {timeout} s")


def read_sources(photos):
    out = []
    for path in photos:
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    return out


def time_process(binary, recipe, files, out_dir, jobs):
    """`imgflow process` over files; returns (wall s, cpu s)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    before = os.times()
    start = time.time()
    subprocess.run([binary, "process", *files, "--config", recipe, "--out", out_dir,
                    "--jobs", str(jobs), "--quiet"], check=True)
    wall = time.time() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system -
                                                          before.children_system)
    return wall, cpu


def throughput(args, sources, work):
    rounds = args.rounds
    files_dir = os.path.join(work, "process-inputs")
    shutil.rmtree(files_dir, ignore_errors=True)
    os.makedirs(files_dir)
    files, items = [], []
    for r in range(rounds):
        for name, body in sources:
            key = f"r{r:02d}-{name}"
            path = os.path.join(files_dir, key)
            os.symlink(os.path.join(args.photos, name), path)
            files.append(path)
            items.append((key, body))
    cores = os.cpu_count()
    log(f"throughput: imgflow process --jobs {cores} on {len(files)} images")
    process_wall, process_cpu = time_process(args.imgflow, args.recipe, files,
                                             os.path.join(work, "process-out"), cores)

    log(f"throughput: imgflow serve, {len(items)} uploads from 2 clients")
    server = Server(args.imgflow, args.recipe, os.path.join(work, "data-throughput"),
                    os.path.join(work, "serve-throughput.log"))
    try:
        upload_all(server, [(f"warmup-{n}", b) for n, b in sources[:2]])
        wait_processed(server, 2, 600)
        cpu_before = server.cpu_seconds()
        start = time.time()
        upload_all(server, items)
        acked = time.time()
        wait_processed(server, 2 + len(items), 3600, poll=0.1)
        serve_cpu = server.cpu_seconds() - cpu_before
    finally:
        server.stop()
    # The end is when the last manifest was stored, by the server's clock (the same clock as
    # time.time() here): polling would add its interval and its own load.
    done = max(t for k, t in manifest_times(server.log_path).items() if k.startswith("r"))
    serve_wall = done - start
    return {
        "images": len(items),
        "process_wall": process_wall,
        "process_cpu": process_cpu,
        "serve_wall": serve_wall,
        "upload_wall": acked - start,
        "serve_cpu": serve_cpu,
    }


def log_entries(path):
    """(UTC seconds, entry) for every JSON line of a server log."""
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            ts = entry.get("ts")
            if ts:
                whole = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
                yield whole + float(ts[19:23]), entry


def manifest_times(path):
    """Per source key: when its manifest was stored."""
    return {e["key"]: t for t, e in log_entries(path)
            if e.get("msg") == "function" and e.get("outcome") == "stored" and
            e.get("variant") == "manifest"}


def log_times(path):
    """Per key: acknowledgement (the PUT's access-log line) to manifest stored, in seconds."""
    acked = {}
    for t, e in log_entries(path):
        if e.get("msg") == "request" and e.get("method") == "PUT":
            acked[urllib.parse.unquote(e["path"].split("/", 2)[2])] = t
    stored = manifest_times(path)
    return {k: stored[k] - acked[k] for k in acked if k in stored}


def latency(args, sources, work):
    photos = [os.path.join(args.photos, name) for name, _ in sources]
    log(f"latency: one image's processing time, imgflow process --jobs 1 on {len(photos)} images")
    wall, _ = time_process(args.imgflow, args.recipe, photos, os.path.join(work, "one-out"), 1)
    per_image = wall / len(photos)

    samples = args.latency_samples
    log(f"latency: {samples} uploads one at a time")
    server = Server(args.imgflow, args.recipe, os.path.join(work, "data-latency"),
                    os.path.join(work, "serve-latency.log"))
    try:
        uploader = Uploader(server)
        uploader.put("warmup.jpg", sources[0][1])
        wait_processed(server, 1, 600, poll=0.005)
        for i in range(samples):
            name, body = sources[i % len(sources)]
            uploader.put(f"l{i:03d}-{name}", body)
            wait_processed(server, 2 + i, 600, poll=0.005)
            time.sleep(0.2)  # light load: the next upload finds the workers idle
    finally:
        server.stop()
    times = sorted(v for k, v in log_times(server.log_path).items() if k.startswith("l"))
    if len(times) != samples:
        raise RuntimeError(f"found {len(times)} of {samples} latencies in {server.log_path}")
    return {
        "per_image": per_image,
        "samples": samples,
        "p50": statistics.median(times),
        "p99": times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))],
        "max": times[-1],
    }


def soak(args, work):
    count = args.soak
    with open(args.soak_image, "rb") as f:
        body = f.read()
    log(f"soak: {count} uploads of {os.path.basename(args.soak_image)} ({len(body)} bytes)")
    server = Server(args.imgflow, args.recipe, os.path.join(work, "data-soak"),
                    os.path.join(work, "serve-soak.log"))
    samples = []  # (seconds since start, processed, RSS KiB, queue depth)
    stop = threading.Event()

    def sample():
        start = time.time()
        while not stop.wait(1.0):
            try:
                m = server.metrics()
                samples.append((time.time() - start,
                                int(m.get('imgflow_records_total{outcome="processed"}', 0)),
                                server.rss_kib(), int(m.get("imgflow_queue_depth", 0))))
            except OSError:
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        start = time.time()
        upload_all(server, [(f"s{i:05d}.jpg", body) for i in range(count)])
        acked = time.time()
        wait_processed(server, count, 7200, poll=0.5)
        done = time.time()
        stop.set()
        sampler.join()
        samples.append((done - start, count, server.rss_kib(), 0))
    finally:
        stop.set()
        server.stop()
    return {"count": count, "upload_wall": acked - start, "wall": done - start,
            "samples": samples}


def rss_at(samples, fraction):
    """RSS when `fraction` of the uploads had been processed."""
    total = samples[-1][1]
    for t, processed, rss, _ in samples:
        if processed >= fraction * total:
            return rss
    return samples[-1][2]


def report(args, t, lat, s):
    lines = []
    add = lines.append
    add("| | imgflow process | imgflow serve (end to end) | ratio |")
    add("|---|---:|---:|---:|")
    pr = t["images"] / t["process_wall"]
    sr = t["images"] / t["serve_wall"]
    add(f"| images per second | {pr:.2f} | {sr:.2f} | {sr / pr:.2f} |")
    add(f"| wall s for {t['images']} images | {t['process_wall']:.1f} | {t['serve_wall']:.1f} | |")
    add(f"| CPU s per image | {t['process_cpu'] / t['images']:.3f} | "
        f"{t['serve_cpu'] / t['images']:.3f} | |")
    add("")
    add(f"Uploads took {t['upload_wall']:.1f} s of the serve run (acknowledged faster than "
        "processed: the rest of the run is the queue draining).")
    add("")
    add(f"Light load, {lat['samples']} uploads one at a time: acknowledgement to manifest "
        f"p50 {lat['p50'] * 1000:.0f} ms, p99 {lat['p99'] * 1000:.0f} ms, max "
        f"{lat['max'] * 1000:.0f} ms; one image alone in `imgflow process --jobs 1` takes "
        f"{lat['per_image'] * 1000:.0f} ms (p99 / one image = {lat['p99'] / lat['per_image']:.2f}).")
    if s:
        add("")
        add(f"Soak, {s['count']} uploads: acknowledged in {s['upload_wall']:.0f} s, all "
            f"processed after {s['wall']:.0f} s; peak queue depth "
            f"{max(q for *_, q in s['samples'])}.")
        add("")
        add("| processed | 10% | 25% | 50% | 75% | 100% | max |")
        add("|---|---:|---:|---:|---:|---:|---:|")
        points = [rss_at(s["samples"], f) / 1024 for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
        peak = max(rss for _, _, rss, _ in s["samples"]) / 1024
        add("| server RSS MiB | " + " | ".join(f"{p:.1f}" for p in points) + f" | {peak:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imgflow", required=True)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--photos", required=True, help="directory of source JPEGs")
    parser.add_argument("--work", required=True)
    parser.add_argument("--rounds", type=int, default=20, help="copies of each photo, throughput")
    parser.add_argument("--latency-samples", type=int, default=40)
    parser.add_argument("--soak", type=int, default=10000, help="uploads; 0 skips the soak")
    parser.add_argument("--soak-image")
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    sources = read_sources(sorted(os.path.join(args.photos, f) for f in os.listdir(args.photos)
                                  if f.endswith(".jpg")))
    t = throughput(args, sources, args.work)
    lat = latency(args, sources, args.work)
    s = soak(args, args.work) if args.soak > 0 else None
    text = report(args, t, lat, s)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        with open(args.out.replace(".md", ".json"), "w") as f:
            json.dump({"throughput": t, "latency": lat, "soak": s}, f)


if __name__ == "__main__":
    main()
