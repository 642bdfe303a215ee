/**
 * What a config asks of memory, from its network specs alone (nothing is allocated), and the
 * budget it must fit: the ranges of the size settings follow from memory, not from their types.
 * A 3 x 65536 generator (17 GB of weights per copy) is refused in one line before a tensor
 * exists, whether it comes from flags or from a stored config.
 */
import * as os from 'node:os';
import type { TrainConfig } from '../config/settings';
import { ganSpec } from './index';
import { paramSpecs, shapes, type NetworkSpec } from './spec';

const FLOAT = 4;
/** The embedded wasm backend's heap: every tensor it holds lives in at most 4 GiB. */
export const WASM_HEAP_BYTES = 4294901760;

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const params = (net: NetworkSpec) => paramSpecs(net).reduce((n, p) => n + prod(p.shape), 0);
/** Floats of every layer's output for one sample: what a forward pass keeps for the backward one. */
const activations = (net: NetworkSpec) => shapes(net).reduce((n, s) => n + prod(s), 0);

export interface MemoryNeed {
  /** Bytes training holds at its peak, estimated. */
  bytes: number;
  /** Parameters of both networks. */
  parameters: number;
}

/**
 * Training's memory, estimated from above: per parameter its weight, gradient, Adam's two
 * moments and the update's temporary (5 floats), an EMA copy of G and historical averages of
 * both nets when on; per image of a step, the layer outputs of G and D kept for backward passes
 * (the D step runs G once and D on two batches; the G step G and D once more), doubled for
 * their gradients; the replay ring; and `images` training images on the device.
 */
export function trainingMemory(config: TrainConfig, images = 0): MemoryNeed {
  const spec = ganSpec(config);
  const g = params(spec.generator);
  const d = params(spec.discriminator);
  const perParam = (g + d) * 5 + (config.ema > 0 ? g : 0) + (config.historicalAveraging > 0 ? g + d : 0);
  const perImage = 2 * (2 * activations(spec.generator) + 3 * activations(spec.discriminator));
  const imageFloats = spec.workSize * spec.workSize * spec.imageChannels;
  const floats = perParam + config.batchSize * perImage + config.replay * config.batchSize * imageFloats + images * imageFloats;
  return { bytes: floats * FLOAT, parameters: g + d };
}

/** What a backend can hold: the machine's memory, and on wasm (and auto, which may pick it) its heap. */
export function memoryBudget(backend = 'auto'): { bytes: number; what: string } {
  const machine = { bytes: Math.floor(os.totalmem() * 0.8), what: "80% of this machine's memory" };
  if (!['auto', 'wasm', 'cpu'].includes(backend) || machine.bytes <= WASM_HEAP_BYTES) return machine;
  return { bytes: WASM_HEAP_BYTES, what: "the wasm backend's heap" };
}

const gib = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`);

/** Why the config cannot be trained within the budget, in words; undefined when it fits. */
export function memoryProblem(config: TrainConfig, budget = memoryBudget(), images = 0): string | undefined {
  const need = trainingMemory(config, images);
  if (need.bytes <= budget.bytes) return undefined;
  return `training these networks (${(need.parameters / 1e6).toFixed(1)} million parameters, batch ${config.batchSize}) needs about ${gib(need.bytes)}, more than ${gib(budget.bytes)} (${budget.what})`;
}
