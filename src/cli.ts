/**
 * The command line: the only file that knows commander. It turns the flag tables
 * (commands/flags.ts) into options, calls one function per command (loaded lazily), and is the
 * single exit point: GanErrors print one line and exit with their code; the stack only with
 * --verbose or DEBUG.
 */
import * as path from 'node:path';
import { Command, CommanderError, type OptionValues, Option } from 'commander';
import { ConfigError, describeError, GanError, InterruptedError } from './util/errors';
import { applyPreset, type TrainConfig } from './config';
import { guardOutput } from './commands/output';
import { ganCommand, ganInvocation } from './util/invocation';
import { PACKAGE_ROOT } from './util/paths';
import {
  CLASSIFIER_FLAGS,
  COMMON_FLAGS,
  DOCTOR_FLAGS,
  EVAL_FLAGS,
  EXPORT_FLAGS,
  REPORT_FLAGS,
  SAMPLE_FLAGS,
  SERVE_FLAGS,
  flagParser,
  trainFlags,
  type FlagSpec,
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

/** A command with its flags as data, whose action loads its module lazily (startup stays fast). */
function command(parent: Command, name: string, description: string, flags: FlagSpec[], run: (o: OptionValues) => Promise<void>): Command {
  return addFlags(parent.command(name).description(description), flags).action(async (o: OptionValues) => {
    verbose ||= !!o.verbose;
    await run(o);
  });
}

/** The whole command line; exported for the tests that read its flags. */
export function buildProgram(): Command {
  const program = new Command('gan')
    .description('Train generative adversarial networks on MNIST with TensorFlow.js, and sample from them')
    // Usage errors are thrown to main() (not printed and exited by commander), so that they
    // print in the same one-line form as every other error.
    .version(packageVersion(), '--version', 'print the version of gan')
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  addTraining(program);
  addSampling(program);
  addPublishing(program);
  addClassifier(program);
  return program;
}

function addTraining(program: Command): void {
  const train = trainFlags();
  const about = 'train a GAN (MLP or DCGAN, optionally conditional); writes checkpoints, grids and metrics to the run directory';
  command(program, 'train', about, [...train, ...COMMON_FLAGS], async (o) => {
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
}

/** sample and eval. */
function addSampling(program: Command): void {
  command(
    program,
    'sample',
    "write a PNG grid (or one PNG per sample, or an IDX3 file) of samples from a run's generator",
    [...SAMPLE_FLAGS, ...COMMON_FLAGS],
    async (o) => {
      const { sampleCommand } = await import('./commands/sample.js');
      const { n, interpolate, frames, out, run, seed, nrow, digit, backend, threads } = o;
      const className = o.class as string | undefined;
      await sampleCommand({ n, interpolate, frames, out, run, seed, nrow, digit, className, raw: !!o.rawGenerator, backend, threads });
    },
  );
  const evalAbout =
    'FID, Inception Score and mode coverage of a run (or an IDX file), with the MNIST classifier (on other labelled data: one trained on that data)';
  command(program, 'eval', evalAbout, [...EVAL_FLAGS, ...COMMON_FLAGS], async (o) => {
    const { evalCommand } = await import('./commands/eval.js');
    const { run, samples, n, seed, backend, threads } = o;
    await evalCommand({ run, samples, n, seed, json: !!o.json, raw: !!o.rawGenerator, backend, threads });
  });
}

/** The classifier gan eval uses (last in --help). */
function addClassifier(program: Command): void {
  const classifier = program.command('classifier').description('the MNIST classifier used by gan eval');
  const classifierAbout = 'train (or retrain) the evaluation classifier and cache it per user (see gan eval --help)';
  command(classifier, 'train', classifierAbout, [...CLASSIFIER_FLAGS, ...COMMON_FLAGS], async (o) => {
    const { classifierTrainCommand } = await import('./commands/eval.js');
    await classifierTrainCommand({ epochs: o.epochs, seed: o.seed, backend: o.backend, threads: o.threads });
  });
}

/** What a run shows: report, export, serve; and doctor. */
function addPublishing(program: Command): void {
  const reportAbout = 'write report.html, plots/ (PNG and SVG) and timeline.gif into a run directory';
  command(program, 'report', reportAbout, REPORT_FLAGS, async (o) => {
    const { reportCommand } = await import('./commands/report.js');
    await reportCommand({ run: o.run });
  });
  const exportAbout = 'write a static web page that runs the generator in the browser with tfjs (--web DIR)';
  // export and serve load a backend only to read the checkpoint: --backend and --threads would change nothing.
  command(program, 'export', exportAbout, EXPORT_FLAGS, async (o) => {
    if (!o.web)
      throw new ConfigError(
        'gan export needs --web DIR',
        `Pass the folder to write the page to, e.g.: ${ganCommand('export', '--web', 'site')}`,
      );
    const { exportCommand } = await import('./commands/export.js');
    await exportCommand({ web: o.web, run: o.run });
  });
  command(program, 'serve', "serve a run's web page (or an exported one) on 127.0.0.1 and print its URL", SERVE_FLAGS, async (o) => {
    const { serveCommand } = await import('./commands/export.js');
    await serveCommand({ run: o.run, web: o.web, port: o.port, host: o.host, public: o.public });
  });
  const doctorAbout =
    'what this machine can run: Node, CPU, the native addon, each backend (tfjs-node-gpu with CUDA, WebGPU, wasm, cpu), and the fix for each missing piece';
  command(program, 'doctor', doctorAbout, DOCTOR_FLAGS, async (o) => {
    const { doctorCommand } = await import('./commands/doctor.js');
    await doctorCommand({ json: !!o.json });
  });
}

/** package.json's version (read when the program is built, not at import). */
function packageVersion(): string {
  return (require(path.join(PACKAGE_ROOT, 'package.json')) as { version: string }).version;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  verbose ||= argv.includes('--verbose');
  guardOutput();
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with commander's message. A
      // missing command shows the help as commander's error (its exit code 1): a usage error, 2.
      if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.exitCode = err.exitCode === 0 ? 0 : 2;
      } else {
        const gan = ganInvocation();
        process.stderr.write(`gan: ${err.message.replace(/\s*\n\s*/g, ' ')}. For the flags: ${gan} --help, or ${gan} <command> --help\n`);
        process.exitCode = 2;
      }
      return;
    }
    const exitCode = err instanceof GanError ? err.exitCode : 1;
    // An interrupt the user asked for is reported, not called an error.
    // An interrupt's line starts over the ^C a terminal echoed.
    const start = err instanceof InterruptedError && process.stderr.isTTY ? '\r' : '';
    process.stderr.write(`${start}gan: ${err instanceof InterruptedError ? '' : 'error: '}${describeError(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    else if (!(err instanceof GanError))
      process.stderr.write('gan: this looks like a bug; rerun with --verbose for the stack trace and report it\n');
    process.exitCode = exitCode;
  }
}
