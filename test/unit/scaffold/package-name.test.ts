import { describe, expect, it } from 'vitest';
import { checkPackageName, suggestPackageName } from '../../../src/scaffold/package-name.js';

describe('checkPackageName', () => {
  it.each(['my-engine', 'acme.engine_2', '@acme/engine', 'a'])('accepts %s', (name) => {
    expect(checkPackageName(name)).toEqual({ valid: true, problems: [], suggestion: name });
  });

  it.each([
    ['My-Engine', 'must be lowercase', 'my-engine'],
    ['.hidden', 'must not start with a dot or an underscore', 'hidden'],
    ['_private', 'must not start with a dot or an underscore', 'private'],
    ['my engine', 'URL-safe', 'my-engine'],
    ['engine!', 'URL-safe', 'engine'],
    ['', 'must not be empty', 'my-engine'],
    [' spaced', 'must not start or end with spaces', 'spaced'],
    ['http', 'core module', 'http-engine'],
    ['node_modules', 'reserved', 'node_modules-engine'],
    ['x'.repeat(215), 'at most 214 characters (it has 215)', 'x'.repeat(214)],
  ])('rejects %j (%s) and suggests %j', (name, problem, suggestion) => {
    const check = checkPackageName(name);
    expect(check.valid).toBe(false);
    expect(check.problems.join('; ')).toContain(problem);
    expect(check.suggestion).toBe(suggestion);
    expect(checkPackageName(check.suggestion).valid).toBe(true);
  });

  it('checks both halves of a scoped name', () => {
    expect(checkPackageName('@acme/_engine').problems).toContain('must not start with a dot or an underscore after the scope');
    expect(checkPackageName('@acme/en gine').valid).toBe(false);
    expect(checkPackageName('@acme/en gine').suggestion).toBe('@acme/en-gine');
  });
});

describe('suggestPackageName', () => {
  it('turns folder names into valid package names', () => {
    expect(suggestPackageName('My Cool Engine!')).toBe('my-cool-engine');
    expect(suggestPackageName('Déjà vu')).toBe('deja-vu');
    expect(suggestPackageName('...')).toBe('my-engine');
    expect(suggestPackageName('__x__')).toBe('x__');
  });
});
