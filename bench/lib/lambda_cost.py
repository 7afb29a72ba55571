"""CPU time per source image with the default recipe, and what it costs on Lambda per million.

CPU time is measured, not assumed: `imgflow process --jobs 1` of N photos and of one photo, the
difference divided by N-1, so the process start-up and the recipe check are not counted (a warm
Lambda pays them once per environment, not per image). user+sys of the process and all its
threads, from wait4(). Runs interleave so a busy machine slows both alike; the median is kept.

Lambda's duration is modelled from it: below 1769 MB a function gets that fraction of one vCPU,
so the same CPU work takes 1769/M times longer; above, the model assumes no gain from the second
vCPU (libvips threads help some; this errs towards a higher cost). Time waiting for S3 is not in
it: each 100 ms of it is listed apart. Prices are AWS's published us-east-1 list prices (see
PRICES); arm64 is assumed to need the same CPU time (not measured here).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# AWS list prices, us-east-1, USD (https://aws.amazon.com/lambda/pricing/, /s3/pricing/).
PRICES = {
    "lambda_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "lambda_request": 0.20 / 1e6,
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,  # GET, HEAD and the rest
}
# What the handler asks S3 for one new source with the default recipe (three variants):
# HEAD source, GET manifest (absent), GET source, HEAD source again after rendering;
# PUT of each variant and of the manifest.
S3_GETS_PER_SOURCE = 4
S3_PUTS_PER_SOURCE = 4
FULL_VCPU_MB = 1769
MEMORY_SIZES_MB = [1024, 1536, 1769, 2048, 3008]


def cpu_seconds(imgflow, files, out):
    """user+sys of one `imgflow process --jobs 1 FILES`, from the kernel's accounting."""
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(
        [imgflow, "process", "--jobs", "1", "--quiet", "--out", out, *files],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"lambda_cost: imgflow process failed: {proc.stderr.read().decode()}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def per_image(imgflow, one, many, runs, work):
    """Median over runs of (CPU(many) - CPU(one)) / (len(many) - 1), and the peak RSS seen."""
    samples, peak = [], 0.0
    for _ in range(runs):
        cpu_one, rss_one = cpu_seconds(imgflow, [one], os.path.join(work, "one"))
        cpu_many, rss_many = cpu_seconds(imgflow, many, os.path.join(work, "many"))
        samples.append((cpu_many - cpu_one) / (len(many) - 1))
        peak = max(peak, rss_one, rss_many)
    return statistics.median(samples), peak


def lambda_cost_per_million(cpu, memory_mb, arch):
    duration = cpu * max(1.0, FULL_VCPU_MB / memory_mb)
    gb_seconds = memory_mb / 1024 * duration
    return 1e6 * (gb_seconds * PRICES["lambda_gb_second"][arch] + PRICES["lambda_request"]), duration


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgflow", required=True)
    parser.add_argument("--photos", nargs="+", required=True, help="the 2560x1600 J1 photos")
    parser.add_argument("--twelve", required=True, help="the 4000x3000 photo")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if len(args.photos) < 2:
        sys.exit("lambda_cost: --photos needs at least two files")

    with tempfile.TemporaryDirectory(prefix="imgflow-cost-") as work:
        # Three copies of the 12 MP photo under different names: three sources, three outputs.
        twelves = []
        for i in range(3):
            path = os.path.join(work, f"twelve-{i}.jpg")
            shutil.copyfile(args.twelve, path)
            twelves.append(path)
        photo_cpu, photo_rss = per_image(args.imgflow, args.photos[0], args.photos, args.runs, work)
        twelve_cpu, twelve_rss = per_image(args.imgflow, twelves[0], twelves, args.runs, work)

    s3 = 1e6 * (S3_PUTS_PER_SOURCE * PRICES["s3_put"] + S3_GETS_PER_SOURCE * PRICES["s3_get"])
    io_per_100ms = {arch: 1e6 * 0.1 * PRICES["lambda_gb_second"][arch] for arch in ("x86_64", "arm64")}
    print(f"CPU per source, default recipe ({args.runs} runs, median): "
          f"2560x1600 JPEG {photo_cpu * 1000:.0f} ms (peak RSS {photo_rss:.0f} MiB), "
          f"4000x3000 JPEG {twelve_cpu * 1000:.0f} ms (peak RSS {twelve_rss:.0f} MiB)")
    print()
    print("| memory MB | arch | est. duration, 2560x1600 | $ per 1M, 2560x1600 | "
          "est. duration, 12 MP | $ per 1M, 12 MP |")
    print("|---:|---|---:|---:|---:|---:|")
    for memory in MEMORY_SIZES_MB:
        for arch in ("x86_64", "arm64"):
            photo_cost, photo_s = lambda_cost_per_million(photo_cpu, memory, arch)
            twelve_cost, twelve_s = lambda_cost_per_million(twelve_cpu, memory, arch)
            print(f"| {memory} | {arch} | {photo_s * 1000:.0f} ms | {photo_cost:.2f} | "
                  f"{twelve_s * 1000:.0f} ms | {twelve_cost:.2f} |")
    print()
    print(f"S3 requests per 1M sources ({S3_PUTS_PER_SOURCE} PUT + {S3_GETS_PER_SOURCE} GET/HEAD each): "
          f"${s3:.2f}, whatever the memory size.")
    print("Each 100 ms spent waiting for S3 adds, per 1M sources and per GB of memory: "
          f"x86_64 ${io_per_100ms['x86_64']:.2f}, arm64 ${io_per_100ms['arm64']:.2f}.")


if __name__ == "__main__":
    main()
