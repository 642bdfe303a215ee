/** `gan export --web DIR` and `gan serve`: the run's generator as a static site, and serving it. */
import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import sirv from 'sirv';
import { loadBackend } from '../backends';
import { ConfigError, GanError, signalExitCode } from '../util/errors';
import { STOP_SIGNALS } from './stop-requests';
import { ganCommand } from '../util/invocation';
import { runToRead } from '../run/run-dir';
import { exportWeb, RUN_WEB_DIR, WEB_INFO_FILE } from '../web/export';

export interface ExportCommandOptions {
  web: string;
  run?: string;
  log?: (line: string) => void;
}

export async function exportCommand(opts: ExportCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const runDir = runToRead(opts.run);
  // Any backend reads a checkpoint: the default one, on one thread.
  const backend = await loadBackend('auto', { threads: 1 });
  const e = exportWeb(backend.tf, runDir, opts.web);
  for (const why of e.skipped) log(`skipped a damaged checkpoint: ${why}`);
  log(
    `wrote a web page for ${path.basename(e.checkpoint)} (epoch ${e.epoch}${e.generator === 'ema' ? ', EMA generator' : ''}) to ${e.dir} (${e.files} files, ${(e.bytes / 1e6).toFixed(1)} MB)`,
  );
  // Browsers load the page's modules over HTTP only, not from file://.
  log(`open it through a web server (not from the disk), e.g.: ${ganCommand('serve', '--web', opts.web)}`);
}

export interface ServeCommandOptions {
  run?: string;
  /** An earlier `gan export --web DIR`, served as it is (no run is read). */
  web?: string;
  port: number;
  host: string;
  /** Said in words: listen on a --host that other machines can reach. */
  public?: boolean;
  log?: (line: string) => void;
}

/** True for the loopback addresses: 127.0.0.0/8, ::1 and IPv4-mapped 127.x. */
function isLoopback(address: string): boolean {
  return /^(127\.|::ffff:127\.)/i.test(address) || address === '::1';
}

/**
 * Only this machine can reach the page unless the user says otherwise in words: a --host that
 * is not loopback (0.0.0.0, ::, a network address, a name that resolves to one) needs --public.
 * A name is checked by what it resolves to, as listen() would bind it.
 */
async function checkReach(host: string, isPublic: boolean | undefined): Promise<'loopback' | 'public'> {
  let addresses: string[];
  try {
    addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw new ConfigError(`cannot listen on --host ${host}: no such address or name`, 'Pass --host 127.0.0.1 (the default)');
  }
  if (addresses.every(isLoopback)) return 'loopback';
  if (!isPublic)
    throw new ConfigError(
      `--host ${host} would let other machines reach the page (only 127.0.0.1 and ::1 are this machine alone)`,
      'Pass --public as well to mean it, or drop --host to serve on 127.0.0.1',
    );
  return 'public';
}

/** Refuses --web DIR unless it holds an earlier export, before the port is taken. */
function checkExportDir(dir: string, run: string | undefined): void {
  if (run !== undefined) throw new ConfigError('gan serve takes --run or --web, not both', 'Drop one of them');
  if (!fs.existsSync(path.join(dir, WEB_INFO_FILE)))
    throw new ConfigError(`${dir} holds no gan web export (no ${WEB_INFO_FILE})`, `Write one with: ${ganCommand('export', '--web', dir)}`);
}

/** The site to serve: the export in --web as it is, or the run's page (re)written to RUN/web. */
async function siteToServe(
  opts: ServeCommandOptions,
  runDir: string | undefined,
  log: (line: string) => void,
): Promise<{ dir: string; about: string }> {
  if (runDir === undefined) return { dir: opts.web!, about: `the export in ${opts.web}` };
  const backend = await loadBackend('auto', { threads: 1 });
  const e = exportWeb(backend.tf, runDir, path.join(runDir, RUN_WEB_DIR));
  for (const why of e.skipped) log(`skipped a damaged checkpoint: ${why}`);
  return {
    dir: e.dir,
    about: `${path.basename(e.checkpoint)} (epoch ${e.epoch}${e.generator === 'ema' ? ', EMA generator' : ''}) of ${runDir} from ${e.dir}`,
  };
}

/** Binds the port first, so a port in use fails before anything is written. */
function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        reject(
          new GanError(
            `port ${port} on ${host} is in use`,
            'Pass another --port N (or --port 0 for any free one), or stop the program using it',
          ),
        );
      else if (e.code === 'EACCES') reject(new GanError(`no permission to listen on port ${port}`, 'Pass a --port above 1023'));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
        reject(
          new GanError(
            `cannot listen on --host ${host}: not an address of this machine`,
            'Pass --host 127.0.0.1 (the default), or an address of this machine',
          ),
        );
      else reject(e);
    });
    server.listen(port, host, () => resolve());
  });
}

export async function serveCommand(opts: ServeCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  if (opts.web !== undefined) checkExportDir(opts.web, opts.run);
  const runDir = opts.web === undefined ? runToRead(opts.run) : undefined;
  const reach = await checkReach(opts.host, opts.public);
  let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const server = http.createServer((req, res) => {
    if (!handler) {
      res.statusCode = 503;
      res.end('starting');
      return;
    }
    handler(req, res);
  });
  await listen(server, opts.port, opts.host);
  try {
    const site = await siteToServe(opts, runDir, log);
    const files = sirv(site.dir, { dev: false, etag: true });
    handler = (req, res) =>
      files(req, res, () => {
        res.statusCode = 404;
        res.end('not found');
      });
    const address = server.address() as { port: number; address: string; family: string };
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    log(`serving ${site.about}`);
    log(`open http://${host}:${address.port}/ (Ctrl-C to stop)`);
    if (reach === 'public')
      log(`--public: any machine that can reach this one on port ${address.port} can load the page and the generator's weights`);
  } catch (err) {
    server.close();
    throw err;
  }
  // Stopped by a signal, the server exits as the shell expects of one (130 on Ctrl-C), not 0:
  // a supervisor or a script can tell a stop from a clean end.
  const sig = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (s: NodeJS.Signals) => {
      for (const x of STOP_SIGNALS) process.off(x, stop);
      server.close(() => resolve(s));
      server.closeAllConnections();
    };
    for (const x of STOP_SIGNALS) process.on(x, stop);
  });
  log(`stopped by ${sig}`);
  process.exitCode = signalExitCode(sig);
}
