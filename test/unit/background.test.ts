import { describe, expect, it } from 'vitest';
import { backgroundSettled, runInBackground } from '../../shared/service/background';

/**
 * Background work starts only on a later turn of the event loop, so the answer its caller returns
 * in this turn is written first, and backgroundSettled waits for work not started yet.
 */
describe('runInBackground', () => {
  it('starts the task after the current turn, and backgroundSettled waits for it', async () => {
    const steps: string[] = [];
    runInBackground('test', async () => {
      steps.push('task');
    });
    steps.push('caller');
    // Microtasks of this turn (a handler's awaits up to its answer) still run before the task.
    for (let i = 0; i < 20; i++) await Promise.resolve();
    steps.push('answered');
    await backgroundSettled();
    expect(steps).toEqual(['caller', 'answered', 'task']);
  });

  it('a failing task is logged, not thrown', async () => {
    runInBackground('test', async () => {
      throw new Error('boom');
    });
    await expect(backgroundSettled()).resolves.toBeUndefined();
  });
});
