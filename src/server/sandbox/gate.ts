// Keeps a sandbox reset and requests apart: a reset waits for the requests in flight to finish, and requests that
// arrive meanwhile wait for the reset, so no request runs half on the old state and half on the restored one (a key
// verified before the reset writing after it into an organization the reset removed). Only a sandbox has one.

/** Admits requests, or one exclusive section at a time with no request running. */
export interface RequestGate {
  /** Runs a request's work once no exclusive section is running, counting it as in flight meanwhile. */
  pass<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` alone: after the requests in flight have finished, holding new ones until it is done. `fromRequest`:
   * called inside `pass` (the reset's own request), whose slot is given up meanwhile so the section doesn't wait for
   * itself.
   */
  exclusive<T>(work: () => Promise<T>, options: { fromRequest: boolean }): Promise<T>;
}

/** A gate with nothing in flight. */
export function createRequestGate(): RequestGate {
  let inFlight = 0;
  let drained: (() => void) | undefined;
  // Set while an exclusive section runs (or waits for the requests in flight): new requests wait on it.
  let closed: Promise<void> | undefined;
  // Exclusive sections queue here, one at a time.
  let queue: Promise<void> = Promise.resolve();

  const leave = () => {
    inFlight--;
    if (inFlight === 0) {
      drained?.();
    }
  };

  return {
    async pass(work) {
      while (closed !== undefined) {
        await closed;
      }
      inFlight++;
      try {
        return await work();
      } finally {
        leave();
      }
    },

    async exclusive(work, { fromRequest }) {
      if (fromRequest) {
        leave();
      }
      const previous = queue;
      let release = () => {};
      queue = new Promise((done) => {
        release = done;
      });
      await previous;
      let open = () => {};
      closed = new Promise((done) => {
        open = done;
      });
      try {
        if (inFlight > 0) {
          await new Promise<void>((done) => {
            drained = done;
          });
        }
        drained = undefined;
        return await work();
      } finally {
        closed = undefined;
        open();
        release();
        if (fromRequest) {
          inFlight++;
        }
      }
    },
  };
}
