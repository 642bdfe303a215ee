/**
 * The command line: the only file that knows commander. It turns the flag tables
 * (commands/flags.ts) into options, calls one function per command (loaded lazily), and is the
 * single exit point: GanErrors print one line and exit with their code; the stack only with
 * --verbose or DEBUG.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, describeError, GanError, InterruptedError } from './util/errors';
import { applyPreset, type TrainConfig } from './config';
import { guardOutput } from './commands/output';
import {
  CLASSIFIER_FLAGS, COMMON_FLAGS, DOCTOR_FLAGS, EVAL_FLAGS, EXPORT_FLAGS, REPORT_FLAGS, SAMPLE_FLAGS, SERVE_FLAGS, flagParser, trainFlags, type FlagSpec,
} from './commands/flags';

function addFlags(cmd: Command, specs: FlagSpec[]): Command {
  for (const spec of specs) {
    const opt = new Option(spec.flags, spec.description);
    const parse = flagParser(spec);
    if (parse) opt.argParser(parse as (value: string, previous: unknown) => unknown);
    if (spec.default !== undefined) opt.default(spec.default);
    if (spec.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
  return cmd;
}

/** The settings the user gave on the command line (undefined where a flag was not given). */
export function settingOverrides(specs: FlagSpec[], o: Record<string, unknown>): Partial<TrainConfig> {
  return Object.fromEntries(specs.flatMap((f) => (f.setting ? [[f.setting, o[new Option(f.flags).attributeName()]]] : [])));
}

let verbose = !!process.env.DEBUG;

/** The whole command line; exported for the tests that read its flags. */
export function buildProgram(): Command {
  const program = new Command('gan')
    .description('Train generative adversarial networks on MNIST with TensorFlow.js, and sample from them')
    // Usage errors are thrown to main() (not printed and exited by commander), so that they
    // print in the same one-line form as every other error.
    .exitOverride()
    .configureOutput({ outputError: () => {} });

  const train = trainFlags();
  addFlags(program.command('train').description('train a GAN (MLP or DCGAN, optionally conditional); writes checkpoints, grids and metrics to the run directory'), [...train, ...COMMON_FLAGS]).action(async (o) => {
    verbose ||= !!o.verbose;
    const { trainCommand } = await import('./commands/train.js');
    await trainCommand({
      overrides: applyPreset(settingOverrides(train, o), o.preset),
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

  addFlags(program.command('report').description('write report.html, plots/ (PNG and SVG) and timeline.gif into a run directory'), REPORT_FLAGS).action(async (o) => {
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

  addFlags(program.command('doctor').description('what this machine can run: Node, CPU, the native addon, each backend (tfjs-node-gpu with CUDA, WebGPU, wasm, cpu), and the fix for each missing piece'), DOCTOR_FLAGS).action(async (o) => {
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
