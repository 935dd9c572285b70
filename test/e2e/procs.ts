/**
 * Process bookkeeping for the end-to-end harness (Linux /proc): stop whole process groups, and as a
 * last resort find every process that carries this run's marker in its environment. code-server,
 * its extension host, the engine the extension spawns and chromium all inherit the marker, so a
 * sweep by marker reaches them even when one left its process group.
 */
import fs from 'node:fs';

/** Environment variable whose value names one e2e run; every process the run starts inherits it. */
export const RUN_MARKER = 'SWITCHYARD_E2E_RUN';

export interface Proc {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  comm: string;
}

function readProc(pid: number): Proc | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const [state, ppid, pgrp] = stat.slice(close + 2).split(' ');
    return { pid, ppid: Number(ppid), pgrp: Number(pgrp), state, comm: stat.slice(stat.indexOf('(') + 1, close) };
  } catch {
    return null; // gone meanwhile
  }
}

export function listProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** True while `pid` exists and is not a zombie (a zombie has exited; only its parent's reaping is left). */
export function isAlive(pid: number): boolean {
  const p = readProc(pid);
  return p !== null && p.state !== 'Z' && p.state !== 'X';
}

function groupMembers(pgid: number): Proc[] {
  return listProcs().filter((p) => p.pgrp === pgid && p.state !== 'Z' && p.state !== 'X');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the process group, wait up to `graceMs` for it to go, then SIGKILL what is left. */
export async function killGroup(pgid: number, graceMs = 5000): Promise<void> {
  if (!(pgid > 1)) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return; // no such group
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end && groupMembers(pgid).length > 0) await sleep(100);
  if (groupMembers(pgid).length > 0) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    const killEnd = Date.now() + 3000;
    while (Date.now() < killEnd && groupMembers(pgid).length > 0) await sleep(50);
  }
}

/** This process's group (its own helpers, such as tsx's esbuild service, live there and go with it). */
export function ownGroup(): number {
  return readProc(process.pid)?.pgrp ?? -1;
}

/**
 * Live processes whose environment holds RUN_MARKER=`runId`, except this process, its ancestors
 * and members of `spareGroup`.
 */
export function markedProcs(runId: string, spareGroup = -1): Proc[] {
  const needle = Buffer.from(`\0${RUN_MARKER}=${runId}\0`);
  const needleFirst = Buffer.from(`${RUN_MARKER}=${runId}\0`);
  const excluded = new Set<number>();
  for (let p = readProc(process.pid); p && p.pid > 1 && !excluded.has(p.pid); p = readProc(p.ppid)) excluded.add(p.pid);
  return listProcs().filter((p) => {
    if (excluded.has(p.pid) || p.pgrp === spareGroup || p.state === 'Z' || p.state === 'X') return false;
    try {
      const env = fs.readFileSync(`/proc/${p.pid}/environ`);
      return env.includes(needle) || env.subarray(0, needleFirst.length).equals(needleFirst);
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

/** SIGKILLs every live process carrying this run's marker; returns what it found. */
export async function sweepMarked(runId: string, spareGroup = -1): Promise<Proc[]> {
  const found = markedProcs(runId, spareGroup);
  for (const p of found) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const end = Date.now() + 3000;
  while (Date.now() < end && found.some((p) => isAlive(p.pid))) await sleep(50);
  return found;
}
