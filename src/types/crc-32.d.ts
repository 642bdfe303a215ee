/** crc-32's CRC-32C module: the package types its CRC-32 entry point only, with the same API. */
declare module 'crc-32/crc32c' {
  /** The CRC of the bytes as a signed 32-bit integer (`>>> 0` for the unsigned value). */
  export function buf(data: number[] | Uint8Array, seed?: number): number;
}
