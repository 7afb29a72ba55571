#!/usr/bin/python3
"""J1 with Pillow, written the way Pillow users write it: per variant, open the JPEG, ask the
decoder for a reduced size with Image.draft() (DCT shrink-on-load), finish with a LANCZOS
thumbnail() (fit inside) or ImageOps.fit() (cover), alpha_composite the watermark, save quality=80.
Pillow writes no EXIF or ICC unless asked, so metadata is stripped.

    /usr/bin/python3 bench/peers/pillow_j1.py --out DIR --watermark PNG SRC...

Writes DIR/<source name>/{large,medium,thumb}.jpg.
"""
import argparse
import os
import sys

from PIL import Image, ImageOps

VARIANTS = [
    {"name": "large", "width": 1600, "height": 1600, "fit": "inside", "watermark": True},
    {"name": "medium", "width": 800, "height": 800, "fit": "inside", "watermark": True},
    {"name": "thumb", "width": 200, "height": 200, "fit": "cover", "watermark": False},
]
WM_MARGIN, WM_SCALE, WM_OPACITY = 16, 0.2, 0.6
QUALITY = 80
LANCZOS = Image.Resampling.LANCZOS


def cover_box(w, h, box_w, box_h):
    """Smallest size with the source's aspect that covers box_w x box_h."""
    s = max(box_w / w, box_h / h)
    return max(box_w, round(w * s)), max(box_h, round(h * s))


def make_mark(watermark, out_w):
    mark_w = round(out_w * WM_SCALE)
    mark_h = round(watermark.height * mark_w / watermark.width)
    mark = watermark.resize((mark_w, mark_h), LANCZOS)
    alpha = mark.getchannel("A").point(lambda a: round(a * WM_OPACITY))
    mark.putalpha(alpha)
    return mark


def variant(src, v, watermark, out_file):
    with Image.open(src) as im:
        if v["fit"] == "inside":
            im.draft("RGB", (v["width"], v["height"]))
            im = im.convert("RGB")
            im.thumbnail((v["width"], v["height"]), LANCZOS)
        else:
            im.draft("RGB", cover_box(*im.size, v["width"], v["height"]))
            im = ImageOps.fit(im.convert("RGB"), (v["width"], v["height"]), LANCZOS, centering=(0.5, 0.5))
    if v["watermark"]:
        mark = make_mark(watermark, im.width)
        pos = (im.width - mark.width - WM_MARGIN, im.height - mark.height - WM_MARGIN)
        im = im.convert("RGBA")
        im.alpha_composite(mark, dest=pos)
        im = im.convert("RGB")
    im.info.pop("comment", None)  # Pillow carries the source's JPEG comment over; J1 strips metadata
    im.save(out_file, "JPEG", quality=QUALITY)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--watermark", required=True)
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args()
    with Image.open(args.watermark) as wm:
        watermark = wm.convert("RGBA")
    for src in args.sources:
        out_dir = os.path.join(args.out, os.path.splitext(os.path.basename(src))[0])
        os.makedirs(out_dir, exist_ok=True)
        for v in VARIANTS:
            variant(src, v, watermark, os.path.join(out_dir, v["name"] + ".jpg"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
