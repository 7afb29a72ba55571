#!/usr/bin/python3
"""Checks one tool's J1 output and prints {"files": N, "bytes": B} as JSON; exits 1 on any fault.

    j1_check.py --out DIR [--reference DIR] SRC...

Expects exactly DIR/<source name>/{large,medium,thumb}.jpg for every source (the name with its
extension, as imgflow writes it, or without, as the peers do) (other files, such as a
manifest, are allowed but not counted; any other .jpg is a fault). Each variant must be a baseline
or progressive JPEG, RGB 4:2:0 (or one-channel grey when the picture is all grey), with the IJG quality-80 quantisation tables, the right dimensions
(fit inside 1600 / 800 with no enlargement, 200x200 cover) and no metadata (no EXIF, XMP, ICC,
Photoshop or comment segments). With --reference (another tool's output of the same sources), each
image must also look like the reference: PSNR over the whole image >= 28 dB (catches a wrong crop
or resize) and, for watermarked variants, >= 25 dB in the watermark's box (catches a missing or
misplaced mark; without the mark that box scores ~14 dB here).
"""
import argparse
import json
import math
import os
import sys

from PIL import Image, ImageChops, ImageStat

VARIANTS = {  # name: (box width, box height, fit, watermarked)
    "large": (1600, 1600, "inside", True),
    "medium": (800, 800, "inside", True),
    "thumb": (200, 200, "cover", False),
}
WM_MARGIN, WM_SCALE, WM_ASPECT = 16, 0.2, 4.0  # the mark is 400x100
MIN_PSNR_ALL, MIN_PSNR_MARK = 28.0, 25.0

# The IJG (Annex K) tables in natural order, and libjpeg's quality scaling.
STD_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
            14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
            18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
STD_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
              24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32
METADATA_MARKERS = {"APP1", "APP2", "APP13", "COM"}


def ijg_table(std, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (q * scale + 50) // 100)) for q in std]


Q80 = (ijg_table(STD_LUMA, 80), ijg_table(STD_CHROMA, 80))


def expected_size(src_w, src_h, box_w, box_h, fit):
    if fit == "cover":
        return box_w, box_h
    s = min(box_w / src_w, box_h / src_h, 1.0)
    return round(src_w * s), round(src_h * s)


def psnr(a, b, box=None):
    if box:
        a, b = a.crop(box), b.crop(box)
    stat = ImageStat.Stat(ImageChops.difference(a, b))
    mse = sum(stat.sum2) / (3 * a.width * a.height)
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def check_file(path, src_size, variant, reference):
    faults = []
    box_w, box_h, fit, marked = VARIANTS[variant]
    want_w, want_h = expected_size(*src_size, box_w, box_h, fit)
    with Image.open(path) as im:
        if im.format != "JPEG":
            return [f"{path}: format {im.format}, want JPEG"]
        w, h = im.size
        # Tools round the derived side differently; one pixel either way is the same image.
        if abs(w - want_w) > 1 or abs(h - want_h) > 1 or (w != want_w and h != want_h):
            faults.append(f"{path}: {w}x{h}, want {want_w}x{want_h}")
        # ImageMagick writes a one-channel JPEG when every pixel is grey (ColdRipple is); that is
        # the same picture, so L passes, with the luma table only.
        grey = im.mode == "L"
        if im.mode not in ("RGB", "L"):
            faults.append(f"{path}: mode {im.mode}, want RGB (or L for an all-grey picture)")
        meta = sorted({m for m, _ in im.applist if m in METADATA_MARKERS})
        if meta or im.info.get("exif") or im.info.get("icc_profile"):
            faults.append(f"{path}: metadata not stripped ({', '.join(meta) or 'exif/icc'})")
        tables = im.quantization
        want_tables = Q80[:1] if grey else Q80
        if [list(t) for t in tables.values()] != [list(t) for t in want_tables]:
            faults.append(f"{path}: quantisation tables are not IJG quality 80")
        sampling = [(h_, v_) for _, h_, v_, _ in im.layer]
        if not grey and sampling != [(2, 2), (1, 1), (1, 1)]:
            faults.append(f"{path}: chroma sampling {sampling}, want 4:2:0")
        if reference and not faults:
            ref_path = os.path.join(reference, *path.split(os.sep)[-2:])
            with Image.open(ref_path) as ref_im:
                a, b = im.convert("RGB"), ref_im.convert("RGB")
            if a.size != b.size:
                b = b.resize(a.size)
            p_all = psnr(a, b)
            if p_all < MIN_PSNR_ALL:
                faults.append(f"{path}: PSNR {p_all:.1f} dB against {ref_path}, want >= {MIN_PSNR_ALL}")
            if marked:
                mw = round(w * WM_SCALE)
                mh = round(mw / WM_ASPECT)
                box = (w - mw - WM_MARGIN, h - mh - WM_MARGIN, w - WM_MARGIN, h - WM_MARGIN)
                p_mark = psnr(a, b, box)
                if p_mark < MIN_PSNR_MARK:
                    faults.append(f"{path}: watermark box PSNR {p_mark:.1f} dB against {ref_path}, "
                                  f"want >= {MIN_PSNR_MARK} (mark missing or misplaced?)")
    return faults


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference")
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args()

    expected = {}
    for src in args.sources:
        with Image.open(src) as im:
            size = im.size
        # imgflow names the folder after the whole file name (photo.jpg/), the peers after its
        # stem (photo/).
        name = os.path.basename(src)
        if not os.path.isdir(os.path.join(args.out, name)):
            name = os.path.splitext(name)[0]
        for variant in VARIANTS:
            expected[os.path.join(args.out, name, variant + ".jpg")] = (size, variant)

    found = set()
    for dirpath, _, files in os.walk(args.out):
        for f in files:
            if f.lower().endswith((".jpg", ".jpeg")):
                found.add(os.path.join(dirpath, f))

    faults = [f"missing: {p}" for p in sorted(set(expected) - found)]
    faults += [f"unexpected: {p}" for p in sorted(found - set(expected))]
    total = 0
    for path in sorted(set(expected) & found):
        size, variant = expected[path]
        faults += check_file(path, size, variant, args.reference)
        total += os.path.getsize(path)

    if faults:
        for f in faults:
            print("j1_check: " + f, file=sys.stderr)
        print(f"j1_check: {args.out}: {len(faults)} fault(s)", file=sys.stderr)
        return 1
    print(json.dumps({"files": len(expected), "bytes": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
