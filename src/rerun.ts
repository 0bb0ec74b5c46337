/**
 * rerun.ts — "run again if busy" (top level, so that any folder may use it): a task that runs one at a time; a
 * call while it runs makes it run once more right after (however many calls came meanwhile),
 * so a burst of triggers (watch events, SIGHUP, the scan timer, flush requests) costs at most
 * one more run, and none is lost. The task may ask for another run itself (it returns true).
 * Used by the daemon's queue scan and incoming/ pickup (runner/daemon.ts) and the SMTP
 * listener's delivery kick (smtpin/listener.ts).
 */

export interface Rerun {
  /** Run the task now, or once more after the run in progress (then resolves at once). */
  (): Promise<void>;
  /** A run is in progress. */
  readonly busy: boolean;
}

/**
 * `task` must not reject (it logs its own errors); `stopped` ends the repeats (and makes a
 * call do nothing).
 */
export function rerunIfBusy(task: () => Promise<boolean | void>, stopped: () => boolean = () => false): Rerun {
  let busy = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (stopped()) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        if ((await task()) === true) again = true;
      } while (again && !stopped());
    } finally {
      busy = false;
    }
  };
  return Object.defineProperty(run, 'busy', { get: () => busy }) as Rerun;
}
