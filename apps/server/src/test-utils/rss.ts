import { readFileSync, writeFileSync } from 'node:fs';

/** True where the kernel reports and resets a process's peak RSS (Linux /proc). */
export function supportsPeakRss(): boolean {
  try {
    writeFileSync(`/proc/${process.pid}/clear_refs`, '5');
    return readStatusKb(process.pid, 'VmHWM') > 0;
  } catch {
    return false;
  }
}

/**
 * Runs `work` and reports how far process `pid`'s peak resident memory rose
 * above its resident memory at the start, in MB. The kernel's high-water mark
 * is reset first, so a short spike between samples is still counted.
 */
export async function peakRssGrowth<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; growthMb: number }> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const start = readStatusKb(pid, 'VmRSS');
  const result = await work();
  const peak = readStatusKb(pid, 'VmHWM');
  return { result, growthMb: (peak - start) / 1024 };
}

function readStatusKb(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]);
}
