/**
 * Where the package's own files are, in one place, so that moving a module never breaks a path.
 * This file compiles to dist/src/util/paths.js; the package root is three folders up.
 */
import * as os from 'node:os';
import * as path from 'node:path';

/** The package root: package.json, bin/, src/ (the page's HTML and CSS) and dist/ live here. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The compiled program (tsconfig.json's outDir). */
export const DIST_DIR = path.join(PACKAGE_ROOT, 'dist');
/** The native addon built by src/native/build.js at install time. */
export const ADDON_PATH = path.join(PACKAGE_ROOT, 'src', 'native', 'build', 'Release', 'gemm.node');
/** The page of `gan export --web`: its static files, and its code compiled by tsconfig.web.json. */
export const WEB_SOURCE_DIR = path.join(PACKAGE_ROOT, 'src', 'web');
export const WEB_APP_DIR = path.join(DIST_DIR, 'web');
/** The backend probe's script, run in a child process (src/backends/probe.ts). */
export const PROBE_SCRIPT = path.join(DIST_DIR, 'src', 'backends', 'probe.js');

/**
 * The per-user cache folder (the evaluation classifier, decoded datasets, the backend
 * calibrations): $GAN_CACHE_DIR if set, else $XDG_CACHE_HOME/gan, else ~/.cache/gan. Per user,
 * not per folder.
 */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GAN_CACHE_DIR) return env.GAN_CACHE_DIR;
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(cache, 'gan');
}
