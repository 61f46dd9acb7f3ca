import { EventEmitter } from "node:events";
import { notFound } from "../core/errors.ts";
import { newId, type OperationId } from "../core/ids.ts";
import type { Catalog } from "../core/ports.ts";
import type { Operation } from "../core/types.ts";
import { AppError } from "../core/errors.ts";
import { publicMessage } from "../core/public-message.ts";
import type { Logger } from "./context.ts";

/** Asynchronous jobs with progress that clients poll or wait on. */
export class Operations {
  private readonly changes = new EventEmitter();
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly catalog: Catalog,
    private readonly log?: Logger,
  ) {
    this.changes.setMaxListeners(0);
  }

  create(kind: string, targetId: string | null, message: string): Operation {
    const now = new Date().toISOString();
    const op: Operation = {
      id: newId<OperationId>("operation"),
      kind,
      state: "running",
      progress: 0,
      message,
      targetId,
      error: null,
      result: null,
      createdAt: now,
      updatedAt: now,
    };
    this.catalog.operations.insert(op);
    return op;
  }

  get(id: string): Operation {
    const op = this.catalog.operations.get(id);
    if (!op) throw notFound("OPERATION_NOT_FOUND", `Operation ${id} does not exist`);
    return op;
  }

  list(): Operation[] {
    return this.catalog.operations.list();
  }

  /** Records progress; writes at most twice a second per operation. */
  progress(id: string, progress: number, message?: string): void {
    const now = Date.now();
    if (now - (this.lastWrite.get(id) ?? 0) < 500) return;
    this.lastWrite.set(id, now);
    this.save(id, (op) => ({ ...op, progress: Math.min(100, Math.max(op.progress, progress)), message: message ?? op.message }));
  }

  succeed(id: string, message: string, result: Record<string, unknown> | null = null): void {
    this.save(id, (op) => ({ ...op, state: "succeeded", progress: 100, message, result }));
  }

  fail(id: string, err: unknown): void {
    const error = err instanceof AppError ? { code: err.code, message: err.message } : { code: "OPERATION_FAILED", message: publicMessage(err) };
    if (!(err instanceof AppError)) this.log?.error({ operationId: id, err: err instanceof Error ? err.message : String(err) }, "operation failed");
    this.save(id, (op) => ({ ...op, state: "failed", message: error.message, error }));
  }

  /**
   * Runs an operation's job in the background: its end is the operation's end,
   * succeeded with what the job returns, or failed with what it throws.
   */
  runInBackground(id: string, job: () => Promise<{ message: string; result?: Record<string, unknown> }>): void {
    job()
      .then(
        ({ message, result }) => this.succeed(id, message, result ?? null),
        (err: unknown) => this.fail(id, err),
      )
      // Recording the end failed too (the catalog is closing, say): log it.
      .catch((err: unknown) => this.log?.error({ operationId: id, err: err instanceof Error ? err.message : String(err) }, "recording an operation's end failed"));
  }

  /** After a restart: no job is running any more; what was under way failed. */
  recover(): void {
    for (const op of this.list().filter((o) => o.state === "running")) {
      this.fail(op.id, new Error("The daemon stopped while the operation was running"));
    }
  }

  /** Resolves when the operation ends or after timeoutMs, with its latest state. */
  async wait(id: string, timeoutMs: number): Promise<Operation> {
    const op = this.get(id);
    if (op.state !== "running" || timeoutMs <= 0) return op;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.changes.once(`end:${id}`, done);
    });
    return this.get(id);
  }

  private save(id: string, change: (op: Operation) => Operation): void {
    const op = this.get(id);
    const next = { ...change(op), updatedAt: new Date().toISOString() };
    this.catalog.operations.update(next);
    if (next.state !== "running") {
      this.lastWrite.delete(id);
      this.changes.emit(`end:${id}`);
    }
  }
}
