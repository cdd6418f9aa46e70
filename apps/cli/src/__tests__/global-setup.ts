import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Newest modification time of the non-test sources under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '__tests__') newest = Math.max(newest, newestSource(full));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(full).mtimeMs);
    }
  }
  return newest;
}

/**
 * The e2e tests spawn the built CLI. `pnpm test` builds it first (turbo); a
 * bare `vitest` run rebuilds it here when it is missing or older than its sources.
 */
export default function setup(): void {
  const entry = join(cliRoot, 'dist', 'index.js');
  const built = (() => {
    try {
      return statSync(entry).mtimeMs;
    } catch {
      return 0;
    }
  })();
  if (built >= newestSource(join(cliRoot, 'src'))) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: cliRoot, stdio: 'inherit' });
}
