#!/usr/bin/python3
"""Turns bench/run-j1's raw results into the markdown report (stdout).

    j1_report.py --raw j1-*.jsonl --env j1-*.env --startup j1-*-startup.json

Per tool and input set: the median over the timed runs of CPU seconds (user + sys) per source
image, wall seconds, peak RSS and output bytes, each median taken separately; the CPU range over
the runs; and each peer's ratio to imgflow (peer / imgflow: above 1 means imgflow uses less).
"""
import argparse
import json
import statistics
from collections import defaultdict

TOOLS = [("imgflow", "imgflow"), ("sharp", "sharp"), ("pillow", "Pillow"), ("magick", "ImageMagick")]
SETS = [("photos", "8 photos, 2560x1600 JPEG"), ("12mp", "1 camera-size image, 4000x3000 JPEG (12 MP)")]


def ratio(peer, base):
    return "pending" if base is None else f"{peer / base:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("--startup", required=True)
    args = ap.parse_args()

    env = dict(line.rstrip("\n").split("=", 1) for line in open(args.env) if "=" in line)
    rows = defaultdict(list)
    for line in open(args.raw):
        r = json.loads(line)
        rows[(r["set"], r["tool"])].append(r)

    out = []
    out.append(f"Machine: {env['nproc']} CPUs ({env['cpu']}), {env['mem']}, {env['os']}, Linux {env['kernel']}.")
    out.append("")
    out.append(f"- imgflow: {env.get('imgflow', 'pending')}, system libvips {env['libvips']}")
    out.append(f"- sharp {env['sharp']}")
    out.append(f"- Pillow {env['pillow']}")
    out.append(f"- {env['magick']}")
    out.append("")
    for set_key, set_name in SETS:
        med = {}
        for tool, _ in TOOLS:
            rs = rows.get((set_key, tool))
            if not rs:
                continue
            n = rs[0]["sources"]
            cpu = [(r["user"] + r["sys"]) / n for r in rs]
            med[tool] = {
                "cpu": statistics.median(cpu),
                "cpu_lo": min(cpu),
                "cpu_hi": max(cpu),
                "wall": statistics.median(r["wall"] for r in rs),
                "rss": statistics.median(r["maxrss_kib"] for r in rs) / 1024,
                "bytes": statistics.median(r["check"]["bytes"] for r in rs),
                "files": rs[0]["check"]["files"],
                "runs": len(rs),
            }
        runs = {m["runs"] for m in med.values()}
        out.append(f"**{set_name}** — median of {'/'.join(map(str, sorted(runs)))} runs; "
                   "ratios are peer / imgflow (above 1: imgflow uses less)")
        out.append("")
        out.append("| tool | CPU s per image (min–max) | wall s | peak RSS MiB | output KiB | CPU ratio | RSS ratio | bytes ratio |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        base = med.get("imgflow")
        for tool, label in TOOLS:
            m = med.get(tool)
            if m is None:
                out.append(f"| {label} | pending | pending | pending | pending | | | |")
                continue
            if tool == "imgflow":
                ratios = ["1.00", "1.00", "1.00"]
            else:
                ratios = [ratio(m["cpu"], base and base["cpu"]), ratio(m["rss"], base and base["rss"]),
                          ratio(m["bytes"], base and base["bytes"])]
            out.append(f"| {label} | {m['cpu']:.3f} ({m['cpu_lo']:.3f}–{m['cpu_hi']:.3f}) | {m['wall']:.2f} | "
                       f"{m['rss']:.0f} | {m['bytes'] / 1024:.0f} | " + " | ".join(ratios) + " |")
        out.append("")

    startup = json.load(open(args.startup))
    if startup.get("results"):
        r = startup["results"][0]
        t = [x * 1000 for x in r["times"]]
        out.append(f"imgflow exec → ready (`imgflow version`, {len(t)} runs"
                   f"{', hyperfine ' + env['hyperfine'].split()[-1] if env.get('hyperfine', 'none') != 'none' else ''}): "
                   f"mean {statistics.mean(t):.1f} ms, median {statistics.median(t):.1f} ms, "
                   f"min {min(t):.1f} ms, max {max(t):.1f} ms.")
    else:
        out.append("imgflow exec → ready (`imgflow version`): pending.")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
