/**
 * Where the CLI writes: people read stderr (levelled lines, progress), machines
 * read stdout (JSON when `--json` is given, plain results otherwise).
 */
export interface Output {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  success(message: string): void;
  /** A result line on stdout. */
  result(line: string): void;
  /** Whether stderr is a terminal (progress bars, colour). */
  readonly interactive: boolean;
}

const COLORS = { info: 36, warn: 33, error: 31, success: 32 } as const;

/** The process's own output; `quiet` drops info lines. */
export function processOutput(options: { quiet?: boolean } = {}): Output {
  const interactive = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
  const line = (level: keyof typeof COLORS, message: string) => {
    const tag = interactive ? `\u001b[${COLORS[level]}m${level}\u001b[0m` : level;
    process.stderr.write(`${tag} ${message}\n`);
  };
  return {
    info: (m) => {
      if (!options.quiet) line('info', m);
    },
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
    success: (m) => line('success', m),
    result: (l) => void process.stdout.write(`${l}\n`),
    interactive,
  };
}
