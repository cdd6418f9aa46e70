import { DataError } from './errors.js';

/** One thing wrong with a manifest or folder, located by file and line. */
export interface Problem {
  file: string;
  line?: number;
  reason: string;
}

/** How many problems a message lists before summarising the rest as a count. */
export const MAX_LISTED_PROBLEMS = 20;

/** Formats `file:line: reason`, or `file: reason` without a line. */
export function formatProblem({ file, line, reason }: Problem): string {
  return line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`;
}

/**
 * One DataError carrying every problem found: the first {@link MAX_LISTED_PROBLEMS} in the
 * message, all of them in `details.problems`. A single problem stays on the title's line, so the
 * CLI reports it as one line.
 */
export function problemsError(code: string, title: string, problems: Problem[]): DataError {
  if (problems.length === 1) {
    return new DataError(code, `${title}: ${formatProblem(problems[0]!)}`, {
      details: { problems, count: 1 },
    });
  }
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => `  ${formatProblem(p)}`);
  const rest = problems.length - listed.length;
  if (rest > 0) listed.push(`  … and ${rest} more`);
  return new DataError(code, `${title} (${problems.length} problems):\n${listed.join('\n')}`, {
    details: { problems, count: problems.length },
  });
}
