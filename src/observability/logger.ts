import { pino, type Logger as PinoLogger } from 'pino';

/** The slice of pino the platform uses, so tests can pass pino({ level: 'silent' }). */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

export function createLogger(level: string): PinoLogger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
