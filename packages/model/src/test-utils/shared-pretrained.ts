import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The offline copies of the registry backbones: `../shared/pretrained` beside the repository
 * root (a fresh clone in CI has a copy of `shared` as its sibling).
 */
export const SHARED_PRETRAINED = path.resolve(fileURLToPath(new URL('../../../../', import.meta.url)), '../shared/pretrained');

/** Folder of each registry entry's offline copy, by entry name. */
export const SHARED_COPIES: Record<string, string> = {
  'mobilenet-v1-0.25': path.join(SHARED_PRETRAINED, 'mobilenet-v1-0.25-224'),
  'mobilenet-v2-0.35': path.join(SHARED_PRETRAINED, 'mobilenet-v2-0.35-224-notop'),
};

/** Whether the offline copies are there; tests that need them skip, saying so, when not. */
export const HAS_SHARED_PRETRAINED = existsSync(SHARED_PRETRAINED);

/** Suffix for the title of a suite skipped for want of the copies. */
export const SHARED_SKIP_REASON = HAS_SHARED_PRETRAINED ? '' : ` (skipped: no offline backbones at ${SHARED_PRETRAINED})`;
