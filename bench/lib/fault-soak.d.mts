// Types of fault-soak.mjs, for test/fault-soak.test.ts.
export declare const FAULTS: readonly ['none', 'reset', 'half-close', 'stall', 'truncate'];
export type Fault = (typeof FAULTS)[number];
export declare function seededRandom(seed: number): () => number;

export interface FaultSoakResult {
  clients: number;
  messages: number;
  seed: number;
  faults: Record<Fault, number>;
  outcome: { complete: number; failed: number; incompleteWithoutError: number; outOfOrder: number };
  serverOrder: { inOrder: number; outOfOrder: number };
  serverAlive: boolean;
  problems: string[];
  elapsedMs: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  heapGrowthMiB: number;
  peakRssMiB: number;
}

export declare function runFaultSoak(
  lib: { serve: unknown; WebSocketStream: unknown },
  options?: { clients?: number; messages?: number; size?: number; seed?: number; gc?: () => void; timeoutMs?: number },
): Promise<FaultSoakResult>;
