// safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the raw
// little-endian data. Our own reader and writer. The reader validates everything before touching
// data: a truncated file, a header that lies about sizes or a header length off by a byte is a
// SafetensorsError, never an out-of-bounds read or tensors shifted into garbage.
import { open, type FileHandle } from 'node:fs/promises';
import { Tensor, normalizeDevice, type DType } from '../tensor.js';
import { addon } from '../native.js';
import { MvdError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

/** A safetensors file that breaks the format; the message names the file, the tensor and the numbers. */
export class SafetensorsError extends MvdError {}

const FILE_DTYPE: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'f32', bytes: 4 },
  BF16: { dtype: 'bf16', bytes: 2 },
  U8: { dtype: 'u8', bytes: 1 },
  I32: { dtype: 'i32', bytes: 4 },
};
const TO_FILE_DTYPE: Record<DType, string> = { f32: 'F32', bf16: 'BF16', u8: 'U8', i32: 'I32' };
const MAX_HEADER = 100 * 1024 * 1024;

/** One tensor's header entry, validated: begin/end are byte offsets into the data section, not the file. */
export interface TensorEntry {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** A parsed, validated header; dataStart is the file offset of the data section (8 + header length). */
export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** A message safe for one line of a terminal: names come from the file, so control characters are escaped. */
export function printable(msg: string): string {
  return msg.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function fileError(path: string, msg: string): SafetensorsError {
  return new SafetensorsError(printable(`${path}: ${msg}`), { op: 'safetensors.read' });
}

/** A JSON value from the header, shortened for a message. */
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isCount = (d: unknown): d is number => Number.isSafeInteger(d) && (d as number) >= 0;

/** Validates one tensor entry on its own (dtype, shape, offsets that match the byte count). */
function parseEntry(name: string, v: unknown, bad: (msg: string) => SafetensorsError): TensorEntry {
  if (!isPlainObject(v)) throw bad(`tensor '${name}': entry is ${show(v)}, expected an object {dtype, shape, data_offsets}`);
  const fd = typeof v.dtype === 'string' && Object.hasOwn(FILE_DTYPE, v.dtype) ? FILE_DTYPE[v.dtype] : undefined;
  if (!fd)
    throw bad(
      `tensor '${name}' has dtype ${show(v.dtype)}; supported: ${Object.keys(FILE_DTYPE).join(', ')} ` +
        `(convert F16/F64 checkpoints to F32 first, see README)`,
    );
  const shape = v.shape;
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw bad(`tensor '${name}' has an invalid shape ${show(shape)}, expected a list of non-negative integers`);
  const off = v.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount))
    throw bad(`tensor '${name}' has invalid data_offsets ${show(off)}, expected [begin, end] (non-negative integers)`);
  const [begin, end] = off as [number, number];
  if (begin > end) throw bad(`tensor '${name}' has data_offsets [${begin}, ${end}]: begin ${begin} is after end ${end}`);
  // Multiplying in floats: a product past 2^53 can no longer equal a safe end - begin, so it fails below.
  const need = shape.reduce((a: number, b: number) => a * b, 1) * fd.bytes;
  if (end - begin !== need)
    throw bad(`tensor '${name}' spans ${end - begin} bytes [${begin}, ${end}) but ${TO_FILE_DTYPE[fd.dtype]} ${show(shape)} needs ${need}`);
  return { dtype: fd.dtype, shape: shape as number[], begin, end };
}

/**
 * Parses and validates a header against the file size: every entry well-formed, and the tensors,
 * sorted by offset, tile the data section exactly (no gap, no overlap, nothing left over). A
 * header length off by one byte shifts every tensor, so only exact coverage catches it.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, path: string): SafetensorsHeader {
  const bad = (msg: string) => fileError(path, msg);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.byteLength).toString('utf8'));
  } catch (e) {
    throw bad(`header (${headerBytes.length} bytes) is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw bad(`header is ${Array.isArray(json) ? 'an array' : show(json)}, expected a JSON object`);
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(v)) throw bad(`__metadata__ is ${show(v)}, expected an object of strings`);
      const wrong = Object.entries(v).find(([, x]) => typeof x !== 'string');
      if (wrong) throw bad(`__metadata__ '${wrong[0]}' is ${show(wrong[1])}, expected a string`);
      metadata = v as Record<string, string>;
      continue;
    }
    tensors.set(name, parseEntry(name, v, bad));
  }
  const spans = [...tensors].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let cursor = 0,
    prev = '';
  for (const [name, e] of spans) {
    if (e.begin < cursor)
      throw bad(`tensor '${name}' begins at byte ${e.begin} of the data, inside '${prev}' which ends at ${cursor} (overlap)`);
    if (e.begin > cursor)
      throw bad(
        `tensor '${name}' begins at byte ${e.begin} of the data but ${prev ? `'${prev}' ends` : 'the data starts'} at ${cursor} (gap)`,
      );
    if (e.end > dataSize)
      throw bad(
        `tensor '${name}' ends at byte ${e.end} of the data but the file holds only ${Math.max(0, dataSize)} data bytes (truncated?)`,
      );
    cursor = e.end;
    prev = name;
  }
  if (cursor !== dataSize)
    throw bad(
      `the tensors cover ${cursor} bytes${prev ? ` (the last, '${prev}', ends there)` : ''} but the data section is ${dataSize} bytes ` +
        `(file ${fileSize} − 8 − header ${headerBytes.length}): wrong header length or trailing bytes`,
    );
  return { tensors, metadata, dataStart };
}

/** Reads and validates only the header. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/** Fills `into` from `position`, looping over short reads; false when the file ends first. */
async function readFully(fh: FileHandle, into: Uint8Array, position: number): Promise<boolean> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader & { size: number }> {
  // Size from the open handle, so a file replaced between stat and open cannot disagree with it.
  const size = (await fh.stat()).size;
  const bad = (msg: string) => fileError(path, msg);
  if (size < 8) throw bad(`file is ${size} bytes, too short for the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  if (!(await readFully(fh, lenBuf, 0))) throw bad(`file shrank below 8 bytes while reading`);
  const len = lenBuf.readBigUInt64LE(0);
  if (len > BigInt(size - 8)) throw bad(`header length ${len} exceeds the ${size - 8} bytes after the length field (truncated?)`);
  if (len > BigInt(MAX_HEADER)) throw bad(`header length ${len} exceeds the ${MAX_HEADER}-byte limit`);
  const header = Buffer.alloc(Number(len));
  if (!(await readFully(fh, header, 8))) throw bad(`file ended inside the ${len}-byte header`);
  return { ...parseHeader(header, size, path), size };
}

/** Options of loadSafetensors: the target device (the default device when omitted) and a name filter. */
export interface LoadOptions {
  device?: string;
  /** Only load names for which this returns true. */
  filter?: (name: string) => boolean;
}

/**
 * Loads every tensor (or the filtered ones) into native tensors. The header is validated first;
 * then each tensor's bytes go from the file straight into its own new storage (one pread each, off
 * the JS thread), never through a JS array. The storage is private memory, not a mapping of the
 * file, so writing to a loaded tensor cannot change the file.
 */
export async function loadSafetensors(
  path: string,
  opts: LoadOptions = {},
): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const fh = await open(path, 'r');
  try {
    const h = await readHeaderFrom(fh, path);
    const wanted = [...h.tensors].filter(([name]) => !opts.filter || opts.filter(name));
    const ranges = wanted.map(([, e]) => ({ offset: h.dataStart + e.begin, shape: e.shape, dtype: e.dtype }));
    // The same open handle the header came from: a file replaced meanwhile cannot be mixed in.
    const { tensors, endedAt } = await addon().readFileRanges(fh.fd, ranges, normalizeDevice(opts.device));
    if (endedAt >= 0) {
      const [name, e] = wanted[endedAt];
      throw fileError(
        path,
        `file ended inside tensor '${name}' (bytes ${e.begin}–${e.end} of the data; it was ${h.size} bytes when opened)`,
      );
    }
    return { tensors: new Map(wanted.map(([name], i) => [name, Tensor.fromNative(tensors[i])])), metadata: h.metadata };
  } finally {
    await fh.close();
  }
}

/** Writes tensors (read back from their devices) atomically. Names are written in sorted order. */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const data = await t.toArray();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: TO_FILE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data starts 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeFileAtomic(path, [len, json, ...chunks]);
}
