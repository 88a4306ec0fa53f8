/**
 * Imports go one way (ARCHITECTURE.md): workers/ is the edge and wires nothing into the layers
 * below it, so consumers, Durable Objects, lib and schema never import from workers/, and lib
 * and schema never import consumers. Code two of them share lives in lib/. Read from the source
 * text, so a new file is covered without listing it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';

const IMPORT_FROM = /^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm;

function sourceFiles(folder: string): string[] {
  return readdirSync(join(REPO_ROOT, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** `file -> imported top-level folder` for every relative import of the files in `folders` that lands in one of `forbidden`. */
function importsInto(folders: readonly string[], forbidden: readonly string[]): string[] {
  return folders.flatMap((folder) =>
    sourceFiles(folder).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(IMPORT_FROM)].flatMap(([, specifier]) => {
        if (!specifier?.startsWith('.')) return [];
        const target = relative(REPO_ROOT, resolve(file, '..', specifier)).split(sep)[0] ?? '';
        return forbidden.includes(target) ? [`${relative(REPO_ROOT, file)} -> ${specifier}`] : [];
      }),
    ),
  );
}

it('finds the imports it checks (the pattern is not blind)', () => {
  expect(importsInto(['consumers'], ['lib']).length).toBeGreaterThan(10);
});

it('consumers, Durable Objects, lib and schema never import workers/', () => {
  expect(importsInto(['consumers', 'durable-objects', 'lib', 'schema'], ['workers'])).toEqual([]);
});

it('lib and schema never import consumers/', () => {
  expect(importsInto(['lib', 'schema'], ['consumers'])).toEqual([]);
});
