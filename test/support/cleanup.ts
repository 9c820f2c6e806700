// A test's teardown: every step runs even when an earlier one throws (a
// daemon that will not stop must not leave its cgroups and servers behind),
// and the failures are reported together at the end.

export type CleanupStep = () => Promise<unknown> | unknown;

export async function runCleanup(steps: readonly CleanupStep[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, `cleanup failed: ${errors.map(String).join('; ')}`);
}
