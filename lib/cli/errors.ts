// The two kinds of CLI failure, which decide the exit code: the invocation is wrong (2) or the run
// failed on valid input (1; library errors, missing files and I/O errors are that kind too).
export class UsageError extends Error {}

/** A runtime failure the CLI itself detects (a missing input file): exit 1 with one line. */
export class RunError extends Error {}
