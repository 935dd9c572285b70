/**
 * Reads ONNX Runtime's profiles (sessions created with enableProfiling, see SessionOptions.profileDir)
 * and sums kernel time by op type and by execution provider, for `bench:engine --profile` and for
 * the WebGPU placement test (which provider ran each node). The trace format is Chrome's: events
 * with cat 'Node' and a name ending in '_kernel_time' carry args.op_name and args.provider.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface TraceEvent {
  cat: string;
  name: string;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

export interface ProfileSummary {
  /** Kernel microseconds and call counts by op type. */
  byOp: Map<string, { us: number; calls: number }>;
  /** Node name -> provider that ran it (last seen). */
  nodeProviders: Map<string, string>;
  /** Sum of the sessions' own run time (ORT's model_run events), microseconds, and run count. */
  runUs: number;
  runs: number;
}

/** Summarises every profile file in `dir` whose name starts with `prefix`. */
export function summariseProfiles(dir: string, prefix = ''): ProfileSummary {
  const out: ProfileSummary = { byOp: new Map(), nodeProviders: new Map(), runUs: 0, runs: 0 };
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(prefix) || !f.endsWith('.json')) continue;
    const events = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as TraceEvent[];
    for (const ev of events) {
      if (ev.cat === 'Session' && ev.name === 'model_run') {
        out.runUs += ev.dur ?? 0;
        out.runs++;
      }
      if (ev.cat !== 'Node' || !ev.name.endsWith('_kernel_time')) continue;
      const op = ev.args?.op_name ?? '?';
      const e = out.byOp.get(op) ?? { us: 0, calls: 0 };
      e.us += ev.dur ?? 0;
      e.calls++;
      out.byOp.set(op, e);
      if (ev.args?.provider) out.nodeProviders.set(ev.name.slice(0, -'_kernel_time'.length), ev.args.provider);
    }
  }
  return out;
}
