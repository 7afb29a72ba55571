#!/usr/bin/env node
// J1 with sharp, written the way sharp users write it: one pipeline per variant, sources one at a
// time, sharp's defaults otherwise (its concurrency, its JPEG encoder settings, metadata dropped).
//   node bench/peers/sharp_j1.js --out DIR --watermark PNG SRC...
// Writes DIR/<source name>/{large,medium,thumb}.jpg.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');

const VARIANTS = [
  { name: 'large', width: 1600, height: 1600, fit: 'inside', watermark: true },
  { name: 'medium', width: 800, height: 800, fit: 'inside', watermark: true },
  { name: 'thumb', width: 200, height: 200, fit: 'cover', watermark: false },
];
const WM = { margin: 16, scale: 0.2, opacity: 0.6 };
const QUALITY = 80;

function parseArgs(argv) {
  const args = { out: null, watermark: null, sources: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') args.out = argv[++i];
    else if (argv[i] === '--watermark') args.watermark = argv[++i];
    else args.sources.push(argv[i]);
  }
  if (!args.out || !args.watermark || args.sources.length === 0) {
    console.error('usage: sharp_j1.js --out DIR --watermark PNG SRC...');
    process.exit(2);
  }
  return args;
}

// Output size of fit=inside (no enlargement), as sharp computes it.
function insideSize(w, h, boxW, boxH) {
  const s = Math.min(boxW / w, boxH / h, 1);
  return [Math.round(w * s), Math.round(h * s)];
}

async function variant(src, meta, v, watermark, outFile) {
  let pipeline = sharp(src).resize(v.width, v.height, { fit: v.fit, position: 'centre', withoutEnlargement: true });
  if (v.watermark) {
    const [ow, oh] = insideSize(meta.width, meta.height, v.width, v.height);
    const mark = await sharp(watermark)
      .resize(Math.round(ow * WM.scale))
      .ensureAlpha()
      .linear([1, 1, 1, WM.opacity], [0, 0, 0, 0])
      .png()
      .toBuffer({ resolveWithObject: true });
    pipeline = pipeline.composite([{
      input: mark.data,
      left: ow - mark.info.width - WM.margin,
      top: oh - mark.info.height - WM.margin,
    }]);
  }
  await pipeline.jpeg({ quality: QUALITY }).toFile(outFile);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const watermark = fs.readFileSync(args.watermark);
  for (const src of args.sources) {
    const dir = path.join(args.out, path.parse(src).name);
    fs.mkdirSync(dir, { recursive: true });
    const meta = await sharp(src).metadata();
    await Promise.all(VARIANTS.map((v) => variant(src, meta, v, watermark, path.join(dir, `${v.name}.jpg`))));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
