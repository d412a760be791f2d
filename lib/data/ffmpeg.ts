// Finding the ffmpeg and ffprobe executables (DESIGN "Data"): MVD_FFMPEG / FFMPEG_PATH, then the
// optional `ffmpeg-static` package, then `ffmpeg` on PATH. ffprobe is looked for next to the chosen
// ffmpeg, then on PATH (MVD_FFPROBE / FFPROBE_PATH override); without it, probing falls back to
// parsing `ffmpeg -i`.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { MvdError } from '../errors.js';

/** No usable ffmpeg executable. */
export class FfmpegNotFoundError extends MvdError {}

/** The executables findFfmpeg chose: paths as set in the environment, or as found (ffmpeg-static, PATH). */
export interface FfmpegPaths {
  ffmpeg: string;
  /** Null when no ffprobe was found; probing then parses `ffmpeg -i`. */
  ffprobe: string | null;
  /** Where ffmpeg came from. */
  source: 'env' | 'ffmpeg-static' | 'path';
}

/** Options of the ffmpeg lookup (see the search order at the top of this file). */
export interface ResolveOptions {
  /** Environment to read (defaults to process.env); tests pass a controlled one. */
  env?: NodeJS.ProcessEnv;
  /** Set false to skip the `ffmpeg-static` lookup. */
  tryStatic?: boolean;
}

const exe = (name: string) => (process.platform === 'win32' ? `${name}.exe` : name);

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, exe(name));
    if (isExecutable(p)) return p;
  }
  return null;
}

async function fromStatic(): Promise<string | null> {
  try {
    // A variable specifier keeps TypeScript from requiring the optional package's types.
    const name = 'ffmpeg-static';
    const mod = (await import(name)) as { default?: unknown };
    const p = typeof mod.default === 'string' ? mod.default : null;
    return p && isExecutable(p) ? p : null;
  } catch {
    // Not installed (its installer downloads a binary, which fails offline): quietly try PATH.
    return null;
  }
}

const HOW_TO_GET =
  'mvd needs ffmpeg to read videos. Get one in any of three ways:\n' +
  '  1. set MVD_FFMPEG (or FFMPEG_PATH) to the path of an ffmpeg executable;\n' +
  '  2. `npm install ffmpeg-static` (downloads a static build; needs internet at install time);\n' +
  '  3. install ffmpeg so it is on PATH (`apt-get install ffmpeg`, `brew install ffmpeg`, or https://ffmpeg.org/download.html).';

/** Finds ffmpeg (and ffprobe) without caching; throws FfmpegNotFoundError naming the three ways to get one. */
export async function findFfmpeg(opts: ResolveOptions = {}): Promise<FfmpegPaths> {
  const env = opts.env ?? process.env;
  let ffmpeg: string | null = null;
  let source: FfmpegPaths['source'] = 'path';
  for (const key of ['MVD_FFMPEG', 'FFMPEG_PATH']) {
    const v = env[key];
    if (!v) continue;
    // An explicit setting that is wrong is an error, not a reason to silently use another binary.
    if (!isExecutable(v)) throw new FfmpegNotFoundError(`${key}=${v} is not an executable file.\n${HOW_TO_GET}`);
    ffmpeg = v;
    source = 'env';
    break;
  }
  if (!ffmpeg && opts.tryStatic !== false) {
    ffmpeg = await fromStatic();
    if (ffmpeg) source = 'ffmpeg-static';
  }
  if (!ffmpeg) ffmpeg = onPath('ffmpeg', env);
  if (!ffmpeg) throw new FfmpegNotFoundError(`ffmpeg was not found (MVD_FFMPEG, FFMPEG_PATH, ffmpeg-static, PATH).\n${HOW_TO_GET}`);

  let ffprobe: string | null = null;
  for (const key of ['MVD_FFPROBE', 'FFPROBE_PATH']) {
    const v = env[key];
    if (v && isExecutable(v)) {
      ffprobe = v;
      break;
    }
  }
  if (!ffprobe) {
    const beside = join(dirname(ffmpeg), exe('ffprobe'));
    ffprobe = isExecutable(beside) ? beside : onPath('ffprobe', env);
  }
  return { ffmpeg, ffprobe, source };
}

let cached: Promise<FfmpegPaths> | undefined;

/** The resolved executables, looked up once per process (per worker thread). */
export function resolveFfmpeg(): Promise<FfmpegPaths> {
  cached ??= findFfmpeg().catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

/** Forget the cached lookup (after changing MVD_FFMPEG, or in tests). */
export function resetFfmpegCache(): void {
  cached = undefined;
}
