#!/usr/bin/env bash
# J1 with ImageMagick 6, written the way shell users write it: one `convert` per variant, reading
# the JPEG with -define jpeg:size=WxH (libjpeg DCT shrink-on-load), -resize, the watermark scaled
# and -composite'd with -compose dissolve at 60%, -strip -quality 80. -sampling-factor 4:2:0 because
# ImageMagick otherwise copies the source's chroma subsampling (4:4:4 for half of these photos),
# while the other tools write 4:2:0 at quality 80; -quiet hides warnings about the sources' XMP.
#   bench/peers/magick_j1.sh --out DIR --watermark PNG SRC...
# Writes DIR/<source name>/{large,medium,thumb}.jpg.
set -euo pipefail

# Debian's ImageMagick 6 binaries, by full path: not whatever `convert` comes first on PATH.
CONVERT=${CONVERT:-/usr/bin/convert}
IDENTIFY=${IDENTIFY:-/usr/bin/identify}
MARGIN=16 SCALE_PCT=20 OPACITY_PCT=60 QUALITY=80

out='' watermark=''
sources=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --watermark) watermark=$2; shift 2 ;;
    *) sources+=("$1"); shift ;;
  esac
done
if [[ -z $out || -z $watermark || ${#sources[@]} -eq 0 ]]; then
  echo "usage: magick_j1.sh --out DIR --watermark PNG SRC..." >&2
  exit 2
fi

# fit=inside size of a WxH source in a BxB box, rounded as -resize rounds it.
inside() { # w h box_w box_h -> "ow oh"
  local w=$1 h=$2 bw=$3 bh=$4
  if ((w <= bw && h <= bh)); then echo "$w $h"; return; fi
  if ((w * bh >= h * bw)); then
    echo "$bw $(((h * bw * 2 + w) / (2 * w)))"
  else
    echo "$(((w * bh * 2 + h) / (2 * h))) $bh"
  fi
}

# Fit inside BOXxBOX, watermark bottom-right.
marked() { # src out box
  local src=$1 dst=$2 box=$3 ow
  read -r ow _ < <(inside "$w" "$h" "$box" "$box")
  local mark_w=$(((ow * SCALE_PCT + 50) / 100))
  "$CONVERT" -quiet -define jpeg:size="${box}x${box}" "$src" -resize "${box}x${box}>" \
    \( "$watermark" -resize "${mark_w}x" \) \
    -gravity southeast -geometry "+${MARGIN}+${MARGIN}" \
    -compose dissolve -define compose:args="$OPACITY_PCT" -composite \
    -strip -sampling-factor 4:2:0 -quality "$QUALITY" "$dst"
}

for src in "${sources[@]}"; do
  name=$(basename "${src%.*}")
  mkdir -p "$out/$name"
  read -r w h < <("$IDENTIFY" -quiet -ping -format '%w %h\n' "$src")
  marked "$src" "$out/$name/large.jpg" 1600
  marked "$src" "$out/$name/medium.jpg" 800
  # Cover 200x200: fill the box, crop the centre.
  if ((w * 200 >= h * 200)); then cw=$(((w * 200 * 2 + h) / (2 * h))) ch=200; else cw=200 ch=$(((h * 200 * 2 + w) / (2 * w))); fi
  "$CONVERT" -quiet -define jpeg:size="${cw}x${ch}" "$src" -resize '200x200^' \
    -gravity center -extent 200x200 \
    -strip -sampling-factor 4:2:0 -quality "$QUALITY" "$out/$name/thumb.jpg"
done
