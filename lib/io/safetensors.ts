// safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the raw
// little-endian data. Our own reader and writer. The reader validates everything before touching
// data: a truncated file or a header that lies about sizes is a SafetensorsError, never an
// out-of-bounds read.
import { open, stat } from 'node:fs/promises';
import { Tensor, type DType } from '../tensor.js';
import { MvdError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

export class SafetensorsError extends MvdError {}

const FILE_DTYPE: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'f32', bytes: 4 },
  BF16: { dtype: 'bf16', bytes: 2 },
  U8: { dtype: 'u8', bytes: 1 },
  I32: { dtype: 'i32', bytes: 4 },
};
const TO_FILE_DTYPE: Record<DType, string> = { f32: 'F32', bf16: 'BF16', u8: 'U8', i32: 'I32' };
const MAX_HEADER = 100 * 1024 * 1024;

export interface TensorEntry {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** Parses and validates a header against the file size. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, path: string): SafetensorsHeader {
  const bad = (msg: string) => new SafetensorsError(`${path}: ${msg}`, { op: 'safetensors.read' });
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(headerBytes).toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad('header is not a JSON object');
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
        throw bad('__metadata__ must map strings to strings');
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') throw bad(`entry '${name}' is not an object`);
    const fd = typeof e.dtype === 'string' ? FILE_DTYPE[e.dtype] : undefined;
    if (!fd)
      throw bad(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(FILE_DTYPE).join(', ')} ` +
        `(convert F16/F64 checkpoints to F32 first, see README)`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw bad(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((d) => !Number.isSafeInteger(d) || d < 0) || off[0] > off[1])
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    const shape = e.shape as number[];
    const need = shape.reduce((a, b) => a * b, 1) * fd.bytes;
    if (off[1] - off[0] !== need)
      throw bad(`tensor '${name}' claims ${off[1] - off[0]} bytes but ${fd.dtype} ${JSON.stringify(shape)} needs ${need}`);
    if (off[1] > dataSize)
      throw bad(`tensor '${name}' ends at byte ${off[1]} of the data but the file holds only ${Math.max(0, dataSize)} (truncated?)`);
    tensors.set(name, { dtype: fd.dtype, shape, begin: off[0], end: off[1] });
    spans.push([off[0], off[1], name]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++)
    if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
  return { tensors, metadata, dataStart };
}

/** Reads and validates only the header. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  try {
    return await readHeaderFrom(fh, size, path);
  } finally {
    await fh.close();
  }
}

async function readHeaderFrom(fh: import('node:fs/promises').FileHandle, size: number, path: string) {
  if (size < 8) throw new SafetensorsError(`${path}: file is ${size} bytes, too short for a safetensors header`);
  const lenBuf = Buffer.alloc(8);
  await fh.read(lenBuf, 0, 8, 0);
  const len = lenBuf.readBigUInt64LE(0);
  if (len > BigInt(Math.min(MAX_HEADER, size - 8)))
    throw new SafetensorsError(`${path}: header length ${len} exceeds the file (${size} bytes) or the ${MAX_HEADER}-byte limit`);
  const header = Buffer.alloc(Number(len));
  await fh.read(header, 0, header.length, 8);
  return parseHeader(header, size, path);
}

export interface LoadOptions {
  device?: string;
  /** Only load names for which this returns true. */
  filter?: (name: string) => boolean;
}

/** Loads every tensor (or the filtered ones) into native tensors. */
export async function loadSafetensors(path: string, opts: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  const out = new Map<string, Tensor>();
  try {
    const h = await readHeaderFrom(fh, size, path);
    for (const [name, e] of h.tensors) {
      if (opts.filter && !opts.filter(name)) continue;
      const bytes = Buffer.alloc(e.end - e.begin);
      const { bytesRead } = await fh.read(bytes, 0, bytes.length, h.dataStart + e.begin);
      if (bytesRead !== bytes.length) throw new SafetensorsError(`${path}: short read for '${name}' (truncated?)`);
      const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      const arr = e.dtype === 'f32' ? new Float32Array(ab) : e.dtype === 'bf16' ? new Uint16Array(ab) : e.dtype === 'u8' ? new Uint8Array(ab) : new Int32Array(ab);
      out.set(name, Tensor.fromArray(arr, e.shape, { device: opts.device }) as Tensor);
    }
    return { tensors: out, metadata: h.metadata };
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  } finally {
    await fh.close();
  }
}

/** Writes tensors (read back from their devices) atomically. Names are written in sorted order. */
export async function saveSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
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
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);  // data starts 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeFileAtomic(path, [len, json, ...chunks]);
}
