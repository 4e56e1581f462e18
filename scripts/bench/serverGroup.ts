import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_API_KEYS } from './driveAction';
import { cpuSeconds, peakRssMb } from './processStats';

/** Output kept per server: enough to show why it died, bounded for servers that log a lot. */
const OUTPUT_LIMIT = 64 * 1024;
const STOP_GRACE_MS = 15_000;

/** One `node --import tsx src/server.ts` child of the benchmark. */
export interface BenchServer {
  name: string;
  child: ChildProcess;
  /** The last 64 KB it printed, stdout and stderr interleaved. */
  output(): string;
  running(): boolean;
  peakRssMb(): number;
  cpuSeconds(): number;
}

export class ServerExitedError extends Error {}

/**
 * The server processes of one platform run. Every child is stopped by `stopAll` (SIGTERM, then
 * SIGKILL after 15 s), and, as a last resort, SIGKILLed when the benchmark process exits or is
 * interrupted, so a failed or interrupted run leaves no orphan consuming the queue.
 */
export class ServerGroup {
  private readonly servers: BenchServer[] = [];
  private interrupted = false;
  private readonly killOnExit = () => this.killAll('SIGKILL');
  private readonly onSignal = () => {
    // The first Ctrl-C stops the servers: the run then fails on "exited early" and cleans up.
    if (!this.servers.some((s) => s.running())) process.exit(130);
    this.interrupted = true;
    this.killAll('SIGTERM');
  };

  /** `logDir`: also write each server's whole output to `<logDir>/<name>.log`. */
  constructor(private readonly logDir: string | null = null) {
    process.on('exit', this.killOnExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  start(name: string, env: Record<string, string>, args: string[]): BenchServer {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts', ...args], {
      env: { ...process.env, API_KEYS: BENCH_API_KEYS, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 2 * OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    if (this.logDir) {
      const file = fs.createWriteStream(path.join(this.logDir, `${name.replaceAll(' ', '-')}.log`));
      child.stdout!.pipe(file, { end: false });
      child.stderr!.pipe(file, { end: false });
      child.once('exit', () => file.end());
    }
    const running = () => child.exitCode === null && child.signalCode === null;
    const server: BenchServer = {
      name,
      child,
      output: () => output.slice(-OUTPUT_LIMIT),
      running,
      // Read from /proc, which only exists while the process does: 0 once it is gone.
      peakRssMb: () => (running() ? peakRssMb(child.pid!) : 0),
      cpuSeconds: () => (running() ? cpuSeconds(child.pid!) : 0),
    };
    this.servers.push(server);
    return server;
  }

  /** Throws, with the server's output, if any server of the group has exited. */
  assertRunning(): void {
    const gone = this.servers.find((s) => !s.running());
    if (!gone) return;
    if (this.interrupted) throw new Error('interrupted: the servers were stopped');
    const how = gone.child.signalCode ?? `code ${gone.child.exitCode}`;
    throw new ServerExitedError(`${gone.name} exited early (${how}); its output:\n${gone.output() || '(none)'}`);
  }

  /** Waits until `server` printed `text` (say, its "started" log line), failing if any server exits. */
  async waitForOutput(server: BenchServer, text: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!server.output().includes(text)) {
      this.assertRunning();
      if (Date.now() > deadline) throw new Error(`${server.name} did not print ${JSON.stringify(text)} in ${timeoutMs / 1000} s; its output:\n${server.output()}`);
      await sleep(100);
    }
  }

  /** Waits until GET `${base}/health` answers 200, failing if any server exits. */
  async waitForHealth(base: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.assertRunning();
      try {
        if ((await fetch(`${base}/health`)).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the API did not answer /health in ${timeoutMs / 1000} s`);
      await sleep(100);
    }
  }

  /** SIGTERM (the servers drain their in-flight batches), then SIGKILL what is left after 15 s. */
  async stopAll(): Promise<void> {
    const exits = this.servers.map((s) =>
      s.running() ? new Promise<void>((resolve) => s.child.once('exit', () => resolve())) : Promise.resolve(),
    );
    this.killAll('SIGTERM');
    const timer = setTimeout(() => this.killAll('SIGKILL'), STOP_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(timer);
    process.off('exit', this.killOnExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const s of this.servers) if (s.running()) s.child.kill(signal);
  }
}
