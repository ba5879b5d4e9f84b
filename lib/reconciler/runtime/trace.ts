/** TEMPORARY (profiling issue 20): ANVIL_TRACE=1 logs timings of the claim path. */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const TRACE = process.env.ANVIL_TRACE === '1';
export function trace(msg: string): void {
  if (TRACE) process.stderr.write(`TRACE ${Date.now()} ${msg}\n`);
}
if (TRACE) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  setInterval(() => {
    trace(`eld p50=${(h.percentile(50) / 1e6).toFixed(1)} p99=${(h.percentile(99) / 1e6).toFixed(1)} max=${(h.max / 1e6).toFixed(1)}`);
    h.reset();
  }, 1000).unref();
}
