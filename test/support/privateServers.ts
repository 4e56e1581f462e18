import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, until } from './serverProcess';

/**
 * A RabbitMQ node and a FerretDB server of a test's own, for tests that stop and restart them:
 * the shared servers of .ci/services.sh serve every other test file (and other people) at the
 * same time, and restarting them would fail those. Both bind 127.0.0.1 only, keep everything in a
 * temp dir, and are removed by `stop()`.
 *
 * Also runnable by hand, to try things against them: `node --import tsx test/support/privateServers.ts`
 * prints their URLs and stops them on Ctrl-C.
 */

const run = promisify(execFile);
const RABBIT_BIN = '/usr/lib/rabbitmq/bin';
const FERRETDB_BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../services/ferretdb/bin/ferretdb');

/** True when this machine can run private nodes (RabbitMQ installed, FerretDB built): tests say why they skip otherwise. */
export function privateServersAvailable(): { ok: true } | { ok: false; why: string } {
  if (!fs.existsSync(path.join(RABBIT_BIN, 'rabbitmq-server'))) return { ok: false, why: `no RabbitMQ server scripts in ${RABBIT_BIN}` };
  if (!fs.existsSync(FERRETDB_BIN)) return { ok: false, why: `no FerretDB binary at ${FERRETDB_BIN} (source .ci/services.sh builds it)` };
  return { ok: true };
}

export interface PrivateRabbit {
  /** amqp://guest:guest@127.0.0.1:<port> */
  url: string;
  /** `rabbitmqctl stop_app`: the node stays up, every connection is closed and the AMQP port refuses new ones. */
  stopApp(): Promise<void>;
  /** `rabbitmqctl start_app`, waiting until the node serves AMQP again. */
  startApp(): Promise<void>;
  /** Stops the node and removes its files. */
  stop(): Promise<void>;
}

/**
 * A RabbitMQ node named `bapfaults-<random>@localhost` on free ports, with its own config (no
 * plugins, loopback listener, guest allowed over loopback), Mnesia and log dirs, and Erlang cookie
 * (HOME is the temp dir), so it neither reads /etc/rabbitmq nor can be reached by the shared node's tools.
 */
export async function startPrivateRabbit(): Promise<PrivateRabbit> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bap-rabbit-'));
  const [amqpPort, distPort] = [await freePort(), await freePort()];
  const node = `bapfaults-${path.basename(dir).slice('bap-rabbit-'.length).toLowerCase()}@localhost`;
  for (const sub of ['home', 'mnesia', 'log', 'conf.d']) fs.mkdirSync(path.join(dir, sub));
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${amqpPort}\nloopback_users = none\n`);
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  const env = {
    ...process.env,
    HOME: path.join(dir, 'home'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_CONFIG_FILES: path.join(dir, 'conf.d'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const ctl = async (...args: string[]) => {
    await run(path.join(RABBIT_BIN, 'rabbitmqctl'), ['-n', node, ...args], { env, timeout: 90_000 });
  };
  const amqpUp = () => until(`RabbitMQ ${node} serving AMQP`, async () => ((await portOpen(amqpPort)) ? true : undefined), 90_000);
  await run(path.join(RABBIT_BIN, 'rabbitmq-server'), ['-detached'], { env, cwd: dir });
  try {
    // await_startup fails at once while the node has not registered with epmd yet: retry until it can wait.
    await until(`RabbitMQ ${node} booted`, async () => {
      await ctl('await_startup', '--timeout', '90');
      return true;
    }, 90_000);
    await amqpUp();
  } catch (error) {
    await ctl('stop').catch(() => undefined);
    throw new Error(`the private RabbitMQ node did not start: ${(error as Error).message}\n${readLogs(path.join(dir, 'log'))}`);
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    stopApp: () => ctl('stop_app'),
    startApp: async () => {
      await ctl('start_app');
      await amqpUp();
    },
    stop: async () => {
      await ctl('stop').catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateFerretDb {
  /** mongodb://127.0.0.1:<port>/ */
  url: string;
  /** Stops the server (SIGTERM, or SIGKILL), keeping its data. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
  /** What it printed since it last started (errors only, at its default log level). */
  output(): string;
}

/** A FerretDB (services/ferretdb) on a free port with the SQLite backend in a temp dir. */
export async function startPrivateFerretDb(): Promise<PrivateFerretDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bap-ferret-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let output = '';
  const start = async () => {
    output = '';
    child = spawn(FERRETDB_BIN, ['--listen', `127.0.0.1:${port}`, '--backend', 'sqlite', '--sqlite-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await until(`FerretDB on ${port}`, async () => ((await portOpen(port)) ? true : undefined), 30_000, () => output);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    kill,
    restart: start,
    stop: async () => {
      await kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
    output: () => output,
  };
}

async function portOpen(port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readLogs(dir: string): string {
  try {
    return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8').slice(-2000)).join('\n');
  } catch {
    return '';
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [rabbit, ferret] = await Promise.all([startPrivateRabbit(), startPrivateFerretDb()]);
  console.log(`RABBITMQ_URL=${rabbit.url}\nMONGODB_URL=${ferret.url}\n(Ctrl-C stops both)`);
  process.once('SIGINT', () => void Promise.all([rabbit.stop(), ferret.stop()]).then(() => process.exit(0)));
}
