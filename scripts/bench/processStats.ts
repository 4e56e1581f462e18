import fs from 'node:fs';

/** High-water mark of a process's resident memory, from the kernel (read it before the process exits). */
export function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** user + system CPU of a process, all threads, from the kernel (clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds of every process whose command line matches `pattern` (say, FerretDB and the
 * PostgreSQL backends serving it). A process that exits between two readings drops out of the
 * sum, so compare readings of long-lived processes only.
 */
export function cpuSecondsOfMatching(pattern: RegExp): number {
  // This process and its parents (npm, sh) carry the pattern in their own command lines.
  const ancestors = new Set<number>();
  for (let pid = process.pid; pid > 1 && !ancestors.has(pid); pid = parentOf(pid)) ancestors.add(pid);
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || ancestors.has(Number(entry))) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (cmdline !== '' && pattern.test(cmdline)) total += cpuSeconds(Number(entry));
    } catch {
      // the process exited meanwhile
    }
  }
  return total;
}

function parentOf(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
}
