import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** The slice of pino the platform uses, so tests can pass pino({ level: 'silent' }). */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

/**
 * The one log format of every process and thread, the HTTP app's request logs included (server.ts
 * hands this logger to Fastify): JSON lines with `level` (pino's number), `time` (ISO 8601) and
 * `msg`, no pid or hostname. Lines about an action carry `actionId`, lines about a batch also
 * `batchNo` (docs/operations.md). `destination` defaults to stdout; tests pass a stream to read.
 */
export function createLogger(level: string, destination?: DestinationStream): PinoLogger {
  // API keys never reach a log line, whoever logs a request's headers (Fastify's default request log does not).
  const redact = { paths: ['req.headers.authorization', 'headers.authorization', 'authorization'], censor: '***' };
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, redact };
  return destination ? pino(options, destination) : pino(options);
}
