/**
 * A model folder for the questions that need no weights (`info`, the fit check, Manage Models): the
 * checkpoint when it has weights, else config.json alone, so a model can be sized before its
 * weights are downloaded. Every other problem (no folder, no or bad config.json, a broken
 * safetensors header) is Checkpoint.open's own error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint.ts';
import { isEngineInputError } from '../errors.ts';
import type { ConfigOnly } from './info.ts';

export type ModelSource = Checkpoint | ConfigOnly;

export function openModelFolder(dir: string): ModelSource {
  try {
    return Checkpoint.open(dir);
  } catch (e) {
    // Checkpoint.open reads and checks config.json before it looks for weights, so here it is valid.
    if (!isEngineInputError(e) || !e.problem.startsWith('no model weights') || e.problem.includes('(found ')) throw e;
    const configPath = path.join(path.resolve(dir), 'config.json');
    return { config: JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>, configPath };
  }
}

export function closeModelFolder(src: ModelSource): void {
  if (src instanceof Checkpoint) src.close();
}
