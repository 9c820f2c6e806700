// Random numbers that are the same sequence every run (xorshift32), so a
// failing randomized test reproduces from its seed.

/** A function giving whole numbers in [0, n), from a non-zero seed. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed | 0 || 1;
  return (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}
