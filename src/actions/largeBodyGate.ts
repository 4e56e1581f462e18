import type { LargeBodySettings } from '../config';
import { ApiError } from '../errors';

/**
 * What a client refused by the gate is told to wait (s): about the time a million-ID create takes
 * to be parsed, planned and stored on the 2-core machine, after which a slot is likely free.
 */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * Bounds how many large create bodies are held at once (received, waiting for the create thread
 * or being worked on there), which bounds the memory they take: a million IDs are ~20 MB of
 * JSON and a few hundred MB while parsed, hashed and planned. Small bodies are never refused.
 */
export class LargeBodyGate {
  private held = 0;

  constructor(private readonly settings: LargeBodySettings) {}

  /** Whether a body of `bytes` bytes counts against the bound (CREATE_LARGE_BODY_BYTES). */
  isLarge(bytes: number): boolean {
    return bytes >= this.settings.thresholdBytes;
  }

  /** Large bodies held right now. */
  get inUse(): number {
    return this.held;
  }

  /**
   * Takes a slot, or throws 503 SERVER_BUSY with Retry-After when all CREATE_MAX_LARGE_BODIES are
   * taken. Returns the slot's release; calling it more than once releases it once.
   */
  enter(): () => void {
    if (this.held >= this.settings.maxAtOnce) {
      throw new ApiError('SERVER_BUSY', undefined, { maxLargeBodies: this.settings.maxAtOnce, retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS }, {
        'Retry-After': String(BUSY_RETRY_AFTER_SECONDS),
      });
    }
    this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
    };
  }
}
