#!/usr/bin/env node
import { Command, CommanderError } from 'commander';

import { compareCommand } from './commands/compare.js';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { evaluateCommand } from './commands/evaluate.js';
import { predictCommand } from './commands/predict.js';
import { serveCommand } from './commands/serve.js';
import { trainCommand } from './commands/train.js';
import { describeError, exitCodeFor } from './errors.js';
import { processOutput } from './output.js';

const verbose = process.argv.includes('--verbose');
const out = processOutput({ quiet: process.argv.includes('--quiet') });

const program = new Command('polyhead')
  .description('train, evaluate, predict and serve multi-output image classifiers')
  .version('0.1.0')
  .option('--verbose', 'show stack traces')
  .option('--quiet', 'only warnings, errors and results')
  .showHelpAfterError()
  .exitOverride();

for (const command of [checkCommand(out), trainCommand(out), evaluateCommand(out), predictCommand(out), demoCommand(out), compareCommand(out), serveCommand(out)]) {
  program.addCommand(command.exitOverride().showHelpAfterError());
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // commander already printed its own usage message
  if (!(error instanceof CommanderError)) out.error(describeError(error, verbose));
  process.exit(exitCodeFor(error));
}
