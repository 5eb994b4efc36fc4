import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '../../../src/simulator/run.js';
import { useEngines } from '../../helpers/engines.js';

// A bounty that expires in 2121 (the Python reference's own fixture) is sent by the suite, the replay and the load
// tools; any timer armed with `expiration − now` overflows 2^31−1 ms and Node prints a TimeoutOverflowWarning into
// whatever output runs it (`npm test` printed two). Every deadline goes through util/timers.ts's setDeadline; the
// fixture engines that keep the overflow bug on purpose reproduce it without handing Node the delay.
const SECRET = 'qwertyuiop';
const engines = useEngines(SECRET);
const FAR = { artifact: 'eicar', expect: 'any', set: { expiration: '2121-01-01T00:00:00Z' } } as const;

let warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

describe('a bounty that expires in 2121 arms no overflowing timer', () => {
  it.each([
    ["the project's own engine", () => engines.own()],
    ['the fixture engine that answers after the expiration', () => engines.fixture({ lateMs: 500 })],
    ['the fixture engine whose scan deadline overflows', () => engines.fixture({ timerOverflow: true })],
  ])('%s', async (_name, start) => {
    const report = await testEngine({ url: await start(), secret: SECRET, bounty: FAR });
    expect(report.cases[0].answer).toBeDefined();
    // Warnings are emitted on the next tick: let them arrive before looking.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });
});
