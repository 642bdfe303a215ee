/** Small wording helpers for the lines the commands print. */

/** "1 epoch", "2 epochs": a count with its noun in the number it needs. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
