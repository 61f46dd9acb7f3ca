/**
 * A readers-writer lock for one process: captures share it, garbage
 * collection takes it alone, so gc never sweeps a chunk a capture has just
 * written or deduplicated against but not yet named in a manifest.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: (() => void)[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.wait();
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer || this.readers > 0) await this.wait();
    this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private wake(): void {
    for (const resolve of this.queue.splice(0)) resolve();
  }
}
