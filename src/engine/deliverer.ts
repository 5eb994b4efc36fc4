/**
 * Answer posts, kept apart from scans: a finished scan hands its answer here and its scan slot goes to the next
 * bounty at once. Posts run with their own bound (DEFAULTS.answerPostsInFlight) and a bound per receiver origin
 * (DEFAULTS.answerPostsPerOrigin), so a receiver that hangs or fails holds a few post slots of its own and delays only
 * the answers going to it: the answers to every other origin go out beside it (docs/protocol.md §11). Each post
 * still retries with backoff until the bounty's expiration (deliver.ts); what waits here for a slot waits at most
 * until that expiration too.
 */
import type { AnswerPost, AnswerPoster, AnswerPostResult, DeliverOptions } from './deliver.js';

/** A counting semaphore whose waiters give up at a deadline or when a signal fires. */
class Slots {
  #free: number;
  readonly #size: number;
  readonly #waiting: { grant(): void }[] = [];
  constructor(size: number) {
    this.#free = size;
    this.#size = size;
  }
  /** No slot taken and nobody waiting. */
  get unused(): boolean {
    return this.#free === this.#size && this.#waiting.length === 0;
  }
  /** Resolves true with a slot, or false if `until` (epoch ms) passes or `signal` fires first. */
  take(until: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter = {
        grant: () => {
          done();
          resolve(true);
        },
      };
      const giveUp = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at === -1) return;
        this.#waiting.splice(at, 1);
        done();
        resolve(false);
      };
      const timer = setTimeout(giveUp, Math.max(0, until - Date.now()));
      signal?.addEventListener('abort', giveUp, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
      };
      this.#waiting.push(waiter);
    });
  }
  give(): void {
    const next = this.#waiting.shift();
    if (next) next.grant();
    else this.#free++;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/**
 * `post` behind a bound on posts in flight, overall and per origin. A post that cannot get a slot before the
 * bounty's expiration (or before `request.signal` fires) is not sent: the result says why.
 */
export function boundedPoster(post: AnswerPoster, limits: { inFlight: number; perOrigin: number }): AnswerPoster {
  const all = new Slots(limits.inFlight);
  const origins = new Map<string, Slots>();
  return async (request: AnswerPost, options?: DeliverOptions): Promise<AnswerPostResult> => {
    const origin = originOf(request.url);
    let mine = origins.get(origin);
    if (!mine) origins.set(origin, (mine = new Slots(limits.perOrigin)));
    const until = request.expiration.getTime();
    // The origin's slot first: answers to a receiver that holds all of its slots wait without taking the shared ones.
    if (!(await mine.take(until, request.signal))) return refused(request, `every slot for ${origin} stayed busy`);
    try {
      if (!(await all.take(until, request.signal))) return refused(request, 'every answer slot stayed busy');
      try {
        return await post(request, options);
      } finally {
        all.give();
      }
    } finally {
      mine.give();
      if (mine.unused) origins.delete(origin);
    }
  };
}

function refused(request: AnswerPost, why: string): AnswerPostResult {
  const error = request.signal?.aborted ? 'cut by the shutdown' : `expired before delivery: ${why} (answers to one receiver are bounded)`;
  return { ok: false, status: null, attempts: 0, error };
}
