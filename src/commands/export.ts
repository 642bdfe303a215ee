/** `gan export --web DIR` and `gan serve`: the run's generator as a static site, and serving it. */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import sirv from 'sirv';
import { loadBackend } from '../backends';
import { ConfigError, GanError } from '../util/errors';
import { ganCommand } from '../util/invocation';
import { newestRun } from '../run/run-dir';
import { exportWeb, RUN_WEB_DIR, WEB_INFO_FILE } from '../web/export';

export interface ExportCommandOptions {
  web: string;
  run?: string;
  log?: (line: string) => void;
}

export async function exportCommand(opts: ExportCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const runDir = opts.run ?? newestRun();
  // Any backend reads a checkpoint: the default one, on one thread.
  const backend = await loadBackend('auto', { threads: 1 });
  const e = exportWeb(backend.tf, runDir, opts.web);
  for (const why of e.skipped) log(`skipped a damaged checkpoint: ${why}`);
  log(
    `wrote a web page for ${path.basename(e.checkpoint)} (epoch ${e.epoch}) to ${e.dir} (${e.files} files, ${(e.bytes / 1e6).toFixed(1)} MB)`,
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
  log?: (line: string) => void;
}

/** Refuses --web DIR unless it holds an earlier export, before the port is taken. */
function checkExportDir(dir: string, run: string | undefined): void {
  if (run !== undefined) throw new ConfigError('gan serve takes --run or --web, not both', 'Drop one of them');
  if (!fs.existsSync(path.join(dir, WEB_INFO_FILE)))
    throw new ConfigError(`${dir} holds no gan web export (no ${WEB_INFO_FILE})`, `Write one with: ${ganCommand('export', '--web', dir)}`);
}

/** The site to serve: the export in --web as it is, or the run's page (re)written to RUN/web. */
async function siteToServe(opts: ServeCommandOptions, log: (line: string) => void): Promise<{ dir: string; about: string }> {
  if (opts.web !== undefined) return { dir: opts.web, about: `the export in ${opts.web}` };
  const runDir = opts.run ?? newestRun();
  const backend = await loadBackend('auto', { threads: 1 });
  const e = exportWeb(backend.tf, runDir, path.join(runDir, RUN_WEB_DIR));
  for (const why of e.skipped) log(`skipped a damaged checkpoint: ${why}`);
  return { dir: e.dir, about: `${path.basename(e.checkpoint)} (epoch ${e.epoch}) of ${runDir} from ${e.dir}` };
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
    const site = await siteToServe(opts, log);
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
  } catch (err) {
    server.close();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  log('stopped');
}
