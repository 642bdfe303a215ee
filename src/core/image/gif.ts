/**
 * Animated grayscale GIFs (the training timeline, latent walks) with gifenc. A GIF holds 256
 * colours; with a palette of the 256 gray levels, palette index = gray value, so 8-bit gray
 * frames are stored exactly: no quantisation, no dithering. Pure: tested without a backend.
 */
import { GIFEncoder } from 'gifenc';

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
