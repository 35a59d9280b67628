import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

export class PathEscapeError extends Error {
  constructor(root: string, target: string, options?: ErrorOptions) {
    super(`Refusing to touch ${target}: it is outside the mail root ${root}`, options);
    this.name = 'PathEscapeError';
  }
}

/**
 * Joins `parts` under `root` and proves the result is still inside it. Inputs are validated before they get here;
 * this is the second wall, so a validation bug cannot turn into reading or writing someone else's files.
 */
export function resolveInside(root: string, ...parts: string[]): string {
  const base = resolve(root);
  const target = resolve(base, ...parts);
  const rel = relative(base, target);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) || target.includes('\u0000')) throw new PathEscapeError(base, target);
  return target;
}

/**
 * Symlinks are the way around {@link resolveInside}: a `new -> /etc` inside a Maildir passes every string check.
 * So before a folder is read or created, the real location of the path, or of its nearest existing ancestor (which
 * is where `mkdir -p` would start writing), must be inside the real root too.
 */
export async function assertRealPathInside(root: string, path: string): Promise<void> {
  const realRoot = await realpathOrUndefined(root);
  // No root yet: nothing below it exists, so nothing can point anywhere.
  if (realRoot === undefined) return;
  for (let current = resolve(path); ; current = dirname(current)) {
    const real = await realpathOrUndefined(current);
    if (real !== undefined) {
      const rel = relative(realRoot, real);
      if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new PathEscapeError(realRoot, real);
      return;
    }
    if (dirname(current) === current) return;
  }
}

async function realpathOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return undefined;
    throw error;
  }
}
