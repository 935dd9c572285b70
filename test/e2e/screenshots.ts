/**
 * Where the end-to-end tests put the README's screenshots: under .cache/e2e/screenshots/ (ignored
 * by git), so `npm test` leaves a clean clone clean; into the tracked docs/screenshots/ only on
 * request, with SWITCHYARD_UPDATE_SCREENSHOTS=1 (`npm run screenshots`).
 */
import path from 'node:path';

export const UPDATE_SCREENSHOTS_ENV = 'SWITCHYARD_UPDATE_SCREENSHOTS';

/** The tracked folder the README shows, relative to the repository. */
export const TRACKED_SCREENSHOTS = path.join('docs', 'screenshots');

export function screenshotDir(repo: string, env: NodeJS.ProcessEnv = process.env): string {
  return env[UPDATE_SCREENSHOTS_ENV] === '1' ? path.join(repo, TRACKED_SCREENSHOTS) : path.join(repo, '.cache', 'e2e', 'screenshots');
}
