import type { Vm } from "../core/ports.ts";
import { ConsoleScanner } from "./console-watch.ts";

/** What made the guest count as ready (docs/guest-contract.md). */
export type ReadySignal = "phone-home" | "console" | "agent";

export interface ReadinessResult {
  /** What said the guest is ready; null when nothing did before the deadline. */
  via: ReadySignal | null;
  /** The QEMU guest agent answered at some point. */
  agentUp: boolean;
  /** The console said the password was set (the tiny guest's milestone). */
  passwordLine: boolean;
}

const pollMs = 500;
const agentEveryMs = 3000;
// The tiny guest's milestone, and the line EC2Config and EC2Launch print on a Windows console when the guest is up.
const readyLine = /imagesmith-guest: ready|Windows is Ready to use/;
const passwordLine = /imagesmith-guest: password set/;

/**
 * Waits for a guest to be ready, by whatever it can say: a phone-home on its
 * endpoint (cloud-init's phone_home, our tiny guest), the ready milestone on
 * its serial console, or its QEMU guest agent answering. While the launch
 * expects a phone-home (a fresh instance whose seed asks for one), the agent
 * alone is not enough: cloud-init has not installed keys or passwords yet.
 * Never waits past the deadline.
 */
export async function watchReadiness(options: {
  vm: Vm;
  consoleLog: string;
  offset: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Reads the instance afresh: whether it phoned home meanwhile. */
  phonedHome: () => boolean;
  expectsPhoneHome: boolean;
}): Promise<ReadinessResult> {
  const deadline = Date.now() + options.timeoutMs;
  const console = new ConsoleScanner(options.consoleLog, options.offset);
  let agentUp = false;
  let nextAgentPing = Date.now() + agentEveryMs;
  const done = async (via: ReadySignal | null): Promise<ReadinessResult> => ({ via, agentUp, passwordLine: await console.has(passwordLine) });
  while (!options.signal.aborted && Date.now() < deadline) {
    if (options.phonedHome()) return done("phone-home");
    if (await console.has(readyLine)) return done("console");
    if (Date.now() >= nextAgentPing) {
      agentUp = agentUp || (await options.vm.agentAnswers());
      nextAgentPing = Date.now() + agentEveryMs;
      if (agentUp && !options.expectsPhoneHome) return done("agent");
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return done(null);
}
