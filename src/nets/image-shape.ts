/** The image a config's networks make and see: its side and its channels. */
import type { ModelConfig } from '../config/settings';

/** 1 for gray images, 3 for rgb (channels last, as tfjs lays out NHWC). */
export function imageChannels(m: Pick<ModelConfig, 'color'>): number {
  return m.color === 'rgb' ? 3 : 1;
}
