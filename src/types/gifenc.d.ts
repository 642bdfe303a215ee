/** The part of gifenc (which ships no types) that src/core/image/gif.ts uses. */
declare module 'gifenc' {
  interface FrameOptions {
    palette?: number[][];
    delay?: number;
    repeat?: number;
    transparent?: boolean;
    dispose?: number;
    first?: boolean;
  }
  interface Encoder {
    writeHeader(): void;
    writeFrame(index: Uint8Array, width: number, height: number, opts?: FrameOptions): void;
    finish(): void;
    bytes(): Uint8Array;
  }
  export function quantize(rgba: Uint8Array, maxColors: number, opts?: { format?: string }): number[][];
  export function applyPalette(rgba: Uint8Array, palette: number[][], format?: string): Uint8Array;
  export function GIFEncoder(opts?: { auto?: boolean; initialCapacity?: number }): Encoder;
}
