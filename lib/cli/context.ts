/**
 * What every subcommand gets: where to write, and where to leave its exit code. Commands
 * never call process.exit, so that `run()` works in-process (tests, other tools) and stdout
 * is flushed before the process ends.
 */
import type { Command } from 'commander';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export interface CliContext extends CliIo {
  /** 0 unless a command sets it: 1 for errors in the input. */
  exitCode: number;
}

/** Adds one subcommand to the program: one such function per file under lib/cli/. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const EXIT_OK = 0;
/** Bad input (or a world that is not in it), reported as `error: …` lines on stderr. */
export const EXIT_INPUT_ERROR = 1;
/** A bug in Anvil: an exception that is not about the input. */
export const EXIT_INTERNAL = 2;
