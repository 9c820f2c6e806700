// Line charts as PNG files, with nothing but node:zlib: an RGB canvas,
// lines, rectangles and a 5×7 bitmap font, encoded as PNG (RFC 2083: IHDR,
// one zlib-deflated IDAT of filter-0 rows, IEND). Enough for the soak's
// plots without a browser, a plotting service or a native dependency.
import { deflateSync } from 'node:zlib';

// 5×7 glyphs, one row per number, the high bit of 5 on the left.
const GLYPHS = {
  ' ': [0, 0, 0, 0, 0, 0, 0], '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14], '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14], '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8], '8': [14, 17, 17, 14, 17, 17, 14], '9': [14, 17, 17, 15, 1, 2, 12], '.': [0, 0, 0, 0, 0, 12, 12],
  '-': [0, 0, 0, 31, 0, 0, 0], '+': [0, 4, 4, 31, 4, 4, 0], '%': [24, 25, 2, 4, 8, 19, 3], '/': [0, 1, 2, 4, 8, 16, 0],
  ':': [0, 12, 12, 0, 12, 12, 0], '(': [2, 4, 8, 8, 8, 4, 2], ')': [8, 4, 2, 2, 2, 4, 8], ',': [0, 0, 0, 0, 12, 4, 8],
  '=': [0, 0, 31, 0, 31, 0, 0], '<': [2, 4, 8, 16, 8, 4, 2], '>': [8, 4, 2, 1, 2, 4, 8], '_': [0, 0, 0, 0, 0, 0, 31],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14], D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16], G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14], J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14], P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17], S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14], V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
};

export class Canvas {
  constructor(width, height, background = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.pixels = Buffer.alloc(width * height * 3);
    this.rect(0, 0, width, height, background);
  }

  set(x, y, [r, g, b]) {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.pixels[i] = r;
    this.pixels[i + 1] = g;
    this.pixels[i + 2] = b;
  }

  rect(x, y, w, h, color) {
    for (let j = Math.max(0, Math.round(y)); j < Math.min(this.height, Math.round(y + h)); j++)
      for (let i = Math.max(0, Math.round(x)); i < Math.min(this.width, Math.round(x + w)); i++) this.set(i, j, color);
  }

  /** A line `width` pixels thick (a square brush along Bresenham's line). */
  line(x0, y0, x1, y1, color, width = 1) {
    if (![x0, y0, x1, y1].every(Number.isFinite)) return; // NaN would never reach its end
    x0 = Math.round(x0);
    y0 = Math.round(y0);
    x1 = Math.round(x1);
    y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    const half = Math.floor((width - 1) / 2);
    for (;;) {
      for (let a = -half; a < width - half; a++) for (let b = -half; b < width - half; b++) this.set(x0 + a, y0 + b, color);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  /** Text in the 5×7 font (upper case), `scale` pixels per dot; returns its width. */
  text(x, y, s, color, scale = 2) {
    let cx = x;
    for (const ch of String(s).toUpperCase()) {
      const glyph = GLYPHS[ch] ?? GLYPHS[' '];
      for (let row = 0; row < 7; row++)
        for (let col = 0; col < 5; col++) if (glyph[row] & (16 >> col)) this.rect(cx + col * scale, y + row * scale, scale, scale, color);
      cx += 6 * scale;
    }
    return cx - x;
  }

  static textWidth(s, scale = 2) {
    return String(s).length * 6 * scale;
  }

  png() {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) this.pixels.copy(raw, y * (this.width * 3 + 1) + 1, y * this.width * 3, (y + 1) * this.width * 3);
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header[8] = 8; // bit depth
    header[9] = 2; // colour type: RGB
    return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** 1, 2 or 5 times a power of ten: a tick step giving about `count` ticks over span. */
function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const fmt = (v, step) => (step >= 1 ? String(Math.round(v)) : v.toFixed(Math.min(3, Math.ceil(-Math.log10(step)))));

/**
 * A line chart as a PNG buffer.
 * @param {object} c
 * @param {string} c.title
 * @param {string} c.xLabel
 * @param {Array<{name: string, color: number[], points: Array<[number, number]>, width?: number}>} c.lines
 * @param {Array<{y: number, color: number[], label: string}>} [c.limits] horizontal reference lines
 * @param {Array<{from: number, to: number, color: number[], label: string}>} [c.bands] shaded x ranges
 * @param {number} [c.yMin] lower end of the y axis (default 0)
 */
export function lineChart({ title, xLabel, lines, limits = [], bands = [], yMin = 0, width = 900, height = 320 }) {
  const canvas = new Canvas(width, height);
  const ink = [40, 40, 40];
  const grid = [225, 225, 225];
  const left = 80;
  const right = width - 20;
  const top = 40;
  const bottom = height - 50;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = [...lines.flatMap((l) => l.points.map((p) => p[1])), ...limits.map((l) => l.y)].filter(Number.isFinite);
  const xMin = Math.min(...xs, ...bands.map((b) => b.from));
  const xMax = Math.max(...xs, ...bands.map((b) => b.to), xMin + 1e-9);
  let yMax = Math.max(...ys, yMin + 1e-9);
  const yStep = niceStep(yMax - yMin, 5);
  yMax = Math.ceil((yMax * 1.05) / yStep) * yStep;
  const X = (x) => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const Y = (y) => bottom - ((Math.max(yMin, Math.min(yMax, y)) - yMin) / (yMax - yMin)) * (bottom - top);

  for (const b of bands) canvas.rect(X(b.from), top, X(b.to) - X(b.from), bottom - top, b.color);
  for (const b of bands) canvas.text(X(b.from) + 4, top + 4, b.label, [120, 120, 120], 1.5);
  for (let y = yMin; y <= yMax + yStep / 2; y += yStep) {
    canvas.line(left, Y(y), right, Y(y), grid);
    const label = fmt(y, yStep);
    canvas.text(left - 8 - Canvas.textWidth(label, 1.5), Y(y) - 5, label, ink, 1.5);
  }
  const xStep = niceStep(xMax - xMin, 10);
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) {
    canvas.line(X(x), bottom, X(x), bottom + 5, ink);
    const label = fmt(x, xStep);
    canvas.text(X(x) - Canvas.textWidth(label, 1.5) / 2, bottom + 9, label, ink, 1.5);
  }
  canvas.line(left, top, left, bottom, ink);
  canvas.line(left, bottom, right, bottom, ink);
  canvas.text(left, 10, title, ink, 2);
  canvas.text((left + right) / 2 - Canvas.textWidth(xLabel, 1.5) / 2, height - 20, xLabel, ink, 1.5);

  for (const l of limits.filter((l) => Number.isFinite(l.y))) {
    for (let x = left; x < right; x += 12) canvas.line(x, Y(l.y), Math.min(right, x + 6), Y(l.y), l.color, 2);
    canvas.text(right - Canvas.textWidth(l.label, 1.5) - 4, Y(l.y) - 14, l.label, l.color, 1.5);
  }
  for (const l of lines) {
    let prev;
    for (const [x, y] of l.points) {
      if (!Number.isFinite(y)) {
        prev = undefined;
        continue;
      }
      if (prev !== undefined) canvas.line(X(prev[0]), Y(prev[1]), X(x), Y(y), l.color, l.width ?? 2);
      prev = [x, y];
    }
  }
  // Legend, top right.
  let lx = right;
  for (const l of [...lines].reverse()) {
    const w = Canvas.textWidth(l.name, 1.5);
    lx -= w + 30;
    canvas.rect(lx, 17, 16, 4, l.color);
    canvas.text(lx + 20, 13, l.name, ink, 1.5);
  }
  return canvas.png();
}
