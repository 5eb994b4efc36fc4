// One scanning thread (see src/scanner.ts): compiles the rule set once when it starts, then scans the bytes it is
// sent, one message at a time, so a long scan never holds up the engine's event loop (its webhooks, its answers).
// Plain JavaScript, because Node runs a worker's file itself: no TypeScript loader is involved here.
import { parentPort, workerData } from 'node:worker_threads';
import { compile } from '@litko/yara-x';

/** @type {import('@litko/yara-x').YaraX | undefined} */
let rules;
try {
  rules = compile(workerData.source, { includeDirectories: [workerData.dir] });
  parentPort.postMessage({ ready: true, warnings: rules.getWarnings().map((w) => w.message) });
} catch (error) {
  parentPort.postMessage({ ready: false, error: error instanceof Error ? error.message : String(error) });
}

parentPort.on('message', ({ id, bytes }) => {
  try {
    if (!rules) throw new Error('the rules did not compile');
    // The bytes arrive as a Uint8Array over the transferred copy: wrap, do not copy again.
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const matches = rules.scan(data).map((m) => ({ rule: m.ruleIdentifier, namespace: m.namespace, tags: m.tags, meta: m.meta }));
    parentPort.postMessage({ id, matches });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
