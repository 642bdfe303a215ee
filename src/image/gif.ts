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

/** Encodes frames of width x height gray bytes (row-major) as one animated GIF. */
export function grayGif(frames: Uint8Array[], width: number, height: number, opts: GifOptions): Uint8Array {
  if (frames.length === 0) throw new Error('grayGif: no frames');
  const gif = GIFEncoder();
  frames.forEach((frame, i) => {
    if (frame.length !== width * height) throw new Error(`grayGif: frame ${i} holds ${frame.length} pixels, not ${width}x${height}`);
    const last = i === frames.length - 1;
    gif.writeFrame(frame, width, height, {
      // The first frame's palette becomes the global colour table; later frames use it.
      palette: i === 0 ? GRAY_PALETTE : undefined,
      delay: last && opts.lastDelayMs !== undefined ? opts.lastDelayMs : opts.delayMs,
      repeat: opts.loop === false ? -1 : 0,
    });
  });
  gif.finish();
  return gif.bytes();
}
