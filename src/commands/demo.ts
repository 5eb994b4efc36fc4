/** `polyswarm-engine demo`: a throwaway engine, `test all` against it, what happened, the folder removed. */
import { defineCommand } from './define.js';

export const demo = defineCommand({
  name: 'demo',
  description: 'scaffold a throwaway engine, run it and run the conformance suite against it',
  options: {},
  examples: ['npm run demo', 'npx polyswarm-engine demo'],
  run: () => runDemo(),
});

const out = (text = '') => process.stdout.write(`${text}\n`);

async function runDemo(): Promise<number> {
  const { join } = await import('node:path');
  const { execa } = await import('execa');
  const { createDemoProject } = await import('../scaffold/demo.js');
  const { PACKAGE_ROOT } = await import('../util/package.js');
  const { ExitCode } = await import('../util/errors.js');
  const { formatDuration } = await import('../util/duration.js');
  const { theme } = await import('../util/logger.js');
  const { cliCommand, detectPackageManager } = await import('../util/invocation.js');
  const { runScriptCommand } = await import('../scaffold/install.js');
  const started = Date.now();
  out(theme.bold('polyswarm-engine demo: a throwaway PolySwarm engine, started and checked end to end.'));
  out();
  const project = await createDemoProject();
  // Ctrl-C reaches the child too (same process group); stay alive long enough to remove the folder.
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  try {
    out(`1. Created an engine project from the typescript template in ${project.dir}`);
    out(theme.dim('   src/scan.ts flags the EICAR test file as malicious and everything else as benign;'));
    out(theme.dim('   .env holds a freshly generated WEBHOOK_SECRET.'));
    out('2. Starting it and running the conformance suite against it (polyswarm-engine test all):');
    out();
    const suite = await execa(process.execPath, [join(PACKAGE_ROOT, 'bin', 'polyswarm-engine.js'), 'test', 'all', '--cwd', project.dir], {
      cwd: project.dir,
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    if (interrupted || suite.signal === 'SIGINT') return ExitCode.INTERRUPTED;
    const code = suite.exitCode ?? ExitCode.CHECK_FAILED;
    out();
    out(theme.bold('What just happened'));
    out('  polyswarm-engine played PolySwarm against a real engine on 127.0.0.1: it started the engine, sent it');
    out('  signed webhook events (a ping, bounties with the EICAR test file, a harmless file, a URL, bad signatures…),');
    out('  served the artifacts itself, caught the answers the engine posted back, and checked each one: the');
    out("  verdict, the bid (an integer in wei, within the bounty's rules) and the metadata. Nothing left this machine.");
    out();
    if (code === ExitCode.OK)
      out(
        `${theme.ok('Result: every check passed')} in ${formatDuration(Date.now() - started)}. The engine was stopped and its folder removed.`,
      );
    else
      out(
        `${theme.fail(`Result: the suite failed (exit code ${code})`)}: see the ✗ lines above. The engine was stopped and its folder removed.`,
      );
    out();
    out(theme.bold('Next steps'));
    // Commands as they run where the user stands: `node bin/polyswarm-engine.js` in a clone, npx in a project.
    const pm = detectPackageManager();
    const steps: [string, string][] = [
      [`${cliCommand()} init my-engine`, 'your own engine'],
      [`cd my-engine && ${runScriptCommand(pm, 'dev')}`, 'run it, reloading src/scan.ts on save'],
      [runScriptCommand(pm, 'test:engine'), 'in a second terminal: these same checks'],
    ];
    const width = Math.max(...steps.map(([cmd]) => cmd.length));
    for (const [cmd, why] of steps) out(`  ${theme.accent(cmd.padEnd(width))}   ${theme.dim(`# ${why}`)}`);
    return code;
  } finally {
    process.off('SIGINT', onSigint);
    await project.cleanup();
  }
}
