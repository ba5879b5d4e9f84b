/**
 * A V8 .cpuprofile (node --cpu-prof) summed up: self time by function and by where the code
 * lives (Anvil's build/, a package in node_modules, Node's internals, garbage collection).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Wall time the profile covers, and the time in samples that were not idle. */
  seconds: number;
  busySeconds: number;
  /** Top functions by self time: name, file:line, share of busy time (%). */
  topFrames: { function: string; location: string; selfSeconds: number; percent: number }[];
  /** Self time by where the code lives. */
  byOrigin: { origin: string; selfSeconds: number; percent: number }[];
}

const IDLE = new Set(['(idle)', '(program)']);

function originOf(f: CallFrame): string {
  if (f.functionName === '(garbage collector)') return 'garbage collection';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url)?.[1];
  if (pkg) return pkg;
  if (f.url.includes('/build/lib/')) return `anvil ${f.url.replace(/^.*\/build\/lib\//, '').split('/')[0]}`;
  if (f.url.startsWith('node:') || f.url === '') return 'node internals';
  return 'other';
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

export function summarizeProfile(p: CpuProfile, top = 12): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, { frame: CallFrame; us: number }>();
  const origins = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const frame = byId.get(id);
    const us = p.timeDeltas[i + 1] ?? 0; // a sample's time is the delta to the next one
    if (!frame || IDLE.has(frame.functionName)) return;
    busy += us;
    const key = `${frame.functionName}@${frame.url}:${frame.lineNumber}`;
    const e = self.get(key) ?? { frame, us: 0 };
    e.us += us;
    self.set(key, e);
    const o = originOf(frame);
    origins.set(o, (origins.get(o) ?? 0) + us);
  });
  const pct = (us: number) => round((100 * us) / Math.max(busy, 1), 1);
  return {
    seconds: round((p.endTime - p.startTime) / 1e6, 1),
    busySeconds: round(busy / 1e6, 1),
    topFrames: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ frame, us }) => ({
        function: frame.functionName || '(anonymous)',
        location: `${frame.url.replace(/^.*\/(node_modules|build)\//, '$1/').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}`,
        selfSeconds: round(us / 1e6, 2),
        percent: pct(us),
      })),
    byOrigin: [...origins].sort((a, b) => b[1] - a[1]).slice(0, top).map(([origin, us]) => ({ origin, selfSeconds: round(us / 1e6, 2), percent: pct(us) })),
  };
}
