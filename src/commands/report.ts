/** `gan report`: writes report.html, plots/ and timeline.gif into a run directory. */
import { newestRun } from '../run/run-dir';
import { writeReport } from '../report/report';
import { plural } from '../util/text';

export interface ReportCommandOptions {
  run?: string;
  log?: (line: string) => void;
}

export async function reportCommand(opts: ReportCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const runDir = opts.run ?? newestRun();
  const r = writeReport(runDir);
  log(
    `wrote ${r.html} (${plural(r.epochs, 'epoch')}, ${plural(r.plots.length / 2, 'chart')} in ${runDir}/plots/, a ${r.frames}-frame ${r.timeline}) in ${r.seconds.toFixed(2)} s`,
  );
}
