// Types of scripts/build-console.mjs, for the tests that measure the built console.

/** One built file: its path under dist/console/, its size and its gzipped size. */
export interface ConsoleFile {
  file: string;
  bytes: number;
  gzipBytes: number;
}

/** Every built file, largest first, and their sums. */
export interface ConsoleSize {
  files: ConsoleFile[];
  bytes: number;
  gzipBytes: number;
}

/** The most the console may weigh, gzipped, all files together. */
export declare const CONSOLE_BUDGET_BYTES: number;

/** Where the built console goes (dist/console/). */
export declare const CONSOLE_OUT_DIR: string;

/** Measures a built console. */
export declare function measureConsole(dir?: string): ConsoleSize;

/** Builds the console, prints its size to stderr, and fails past the budget. */
export declare function buildConsole(): Promise<ConsoleSize>;
