/**
 * The loading notification (extension/engine/load-progress.ts) against a recorded withProgress
 * (fake-progress-vscode.ts, mapped to the bare 'vscode' import by a resolve hook).
 */
import assert from 'node:assert/strict';
import { mapVscodeTo } from '../../helpers/vscode-stand-in.ts';
import { describe, it } from 'node:test';

const FAKE = new URL('./fake-progress-vscode.ts', import.meta.url).href;
mapVscodeTo(FAKE);
const { shown } = (await import(FAKE)) as typeof import('./fake-progress-vscode.ts');
const { LoadProgress } = await import('../../../extension/engine/load-progress.ts');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loading = (percent: number, message = 'building') => ({ kind: 'loading' as const, percent, message });
const ready = { kind: 'ready', info: {}, pid: 1 } as never;

describe('load progress notification', () => {
  it('a quick load (from the build cache) shows nothing', async () => {
    shown.length = 0;
    const lp = new LoadProgress(() => assert.fail('not cancelled'), () => 'tiny');
    lp.update({ kind: 'starting' });
    lp.update(loading(50));
    lp.update(ready);
    await sleep(1200);
    assert.equal(shown.length, 0);
    lp.dispose();
  });

  it('a slow load: one cancellable notification whose increments follow the percentage, closed when ready', async () => {
    shown.length = 0;
    const lp = new LoadProgress(() => assert.fail('not cancelled'), () => 'DeepSeek-Coder-V2-Lite');
    lp.update({ kind: 'starting' });
    lp.update(loading(10, 'reading'));
    await sleep(1100);
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!.title, 'Switchyard: loading DeepSeek-Coder-V2-Lite');
    assert.equal(shown[0]!.cancellable, true);
    lp.update(loading(40, 'quantising'));
    lp.update(loading(35, 'quantising')); // never backwards
    lp.update(loading(90, 'creating session'));
    const inc = shown[0]!.reports.reduce((n, r) => n + (r.increment ?? 0), 0);
    assert.equal(inc, 90);
    assert.equal(shown[0]!.reports.at(-1)!.message, '90% — creating session');
    lp.update(ready);
    await sleep(0);
    assert.equal(shown[0]!.done, true);
    lp.dispose();
  });

  it('Cancel stops the load', async () => {
    shown.length = 0;
    let cancelled = 0;
    const lp = new LoadProgress(() => cancelled++, () => 'tiny');
    lp.update(loading(5));
    await sleep(1100);
    shown[0]!.cancel();
    await sleep(0);
    assert.equal(cancelled, 1);
    assert.equal(shown[0]!.done, true);
    lp.update({ kind: 'error', problem: { kind: 'cancelled', message: 'loading the model was cancelled' } });
    assert.equal(shown.length, 1, 'no second notification');
    lp.dispose();
  });
});
