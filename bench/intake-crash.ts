/**
 * `npm run bench:intake-crash`: the 500-mail experiment of docs/RELIABILITY.md (see `runIntakeExperiment`): kill -9
 * of Redis, then of `npm start`, while mails arrive over SMTP; at the end every accepted mail must have one summary.
 *
 * Environment: INTAKE_MAILS (default 500), INTAKE_WAIT_S (how long to wait for the summaries, default 180).
 */
import { runIntakeExperiment } from '../tests/support/intake-experiment.js';

const outcome = await runIntakeExperiment({
  mails: Number(process.env.INTAKE_MAILS ?? 500),
  waitS: Number(process.env.INTAKE_WAIT_S ?? 180),
  log: (line) => console.log(line),
});
if (outcome.summarized !== outcome.accepted) process.exitCode = 1;
