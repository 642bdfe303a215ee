/**
 * Animated GIFs (the training timeline, latent walks) with gifenc. A GIF holds 256 colours;
 * with a palette of the 256 gray levels, palette index = gray value, so 8-bit gray frames are
 * stored exactly: no quantisation, no dithering. Colour frames get a palette of their own
 * (gifenc's quantize, 256 colours per frame, no dithering). Pure: tested without a backend.
 */
import { GIFEncoder, applyPalette, quantize } from 'gifenc';

/** Palette entry i is the gray level i. */
export const GRAY_PALETTE: number[][] = Array.from({ length: 256 }, (_, i) => [i, i, i]);

export interface GifOptions {
  /** Time each frame shows, in milliseconds (GIF stores hundredths of a second). */
  delayMs: number;
  /** Hold the last frame this long instead (the final state of a timeline); default delayMs. */
  lastDelayMs?: number;
  /** Repeat forever (the default), or play once. */
  loop?: boolean;
}

/**
 * One frame's bytes in a GIF: with `first`, the header, the global gray palette and the loop
 * extension come before it. A GIF is then its frames' chunks in order and a trailer byte, so a
 * growing animation (the timeline) re-encodes only its new frames.
 */
export function grayGifChunk(
  frame: Uint8Array,
  width: number,
  height: number,
  opts: { first: boolean; delayMs: number; loop?: boolean },
): Uint8Array {
  if (frame.length !== width * height) throw new Error(`grayGif: a frame holds ${frame.length} pixels, not ${width}x${height}`);
  const gif = GIFEncoder({ auto: false });
  if (opts.first) gif.writeHeader();
  gif.writeFrame(frame, width, height, {
    first: opts.first,
    // Only the first frame carries the palette: it becomes the global colour table.
    palette: opts.first ? GRAY_PALETTE : undefined,
    delay: opts.delayMs,
    repeat: opts.loop === false ? -1 : 0,
  });
  return gif.bytes();
}

const GIF_TRAILER = 0x3b;

/** A GIF from its frames' chunks (the first made with `first: true`). */
export function joinGifChunks(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0) + 1);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  out[off] = GIF_TRAILER;
  return out;
}

/** Encodes frames of width x height gray bytes (row-major) as one animated GIF. */
export function grayGif(frames: Uint8Array[], width: number, height: number, opts: GifOptions): Uint8Array {
  if (frames.length === 0) throw new Error('grayGif: no frames');
  return joinGifChunks(
    frames.map((frame, i) =>
      grayGifChunk(frame, width, height, {
        first: i === 0,
        delayMs: i === frames.length - 1 && opts.lastDelayMs !== undefined ? opts.lastDelayMs : opts.delayMs,
        loop: opts.loop,
      }),
    ),
  );
}

/**
 * One colour frame's bytes in a GIF (width x height x 3 bytes, rgb): its own 256-colour palette
 * (the first frame's is the global table, later ones local), so colours are not averaged across
 * frames. With `first`, the header and loop extension come before it, as grayGifChunk.
 */
export function rgbGifChunk(
  frame: Uint8Array,
  width: number,
  height: number,
  opts: { first: boolean; delayMs: number; loop?: boolean },
): Uint8Array {
  if (frame.length !== width * height * 3) throw new Error(`rgbGif: a frame holds ${frame.length} bytes, not ${width}x${height}x3`);
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[4 * i] = frame[3 * i];
    rgba[4 * i + 1] = frame[3 * i + 1];
    rgba[4 * i + 2] = frame[3 * i + 2];
    rgba[4 * i + 3] = 255;
  }
  const palette = quantize(rgba, 256);
  const index = applyPalette(rgba, palette);
  const gif = GIFEncoder({ auto: false });
  if (opts.first) gif.writeHeader();
  gif.writeFrame(index, width, height, { first: opts.first, palette, delay: opts.delayMs, repeat: opts.loop === false ? -1 : 0 });
  return gif.bytes();
}

/** One frame of `channels` bytes per pixel (1 gray, 3 rgb) in a GIF: grayGifChunk or rgbGifChunk. */
export function imageGifChunk(
  frame: Uint8Array,
  width: number,
  height: number,
  channels: number,
  opts: { first: boolean; delayMs: number; loop?: boolean },
): Uint8Array {
  return channels === 3 ? rgbGifChunk(frame, width, height, opts) : grayGifChunk(frame, width, height, opts);
}

/** Encodes frames of width x height pixels of `channels` bytes (1 gray, 3 rgb) as one animated GIF. */
export function imageGif(frames: Uint8Array[], width: number, height: number, channels: number, opts: GifOptions): Uint8Array {
  if (channels !== 3) return grayGif(frames, width, height, opts);
  if (frames.length === 0) throw new Error('rgbGif: no frames');
  return joinGifChunks(
    frames.map((frame, i) =>
      rgbGifChunk(frame, width, height, {
        first: i === 0,
        delayMs: i === frames.length - 1 && opts.lastDelayMs !== undefined ? opts.lastDelayMs : opts.delayMs,
        loop: opts.loop,
      }),
    ),
  );
}
