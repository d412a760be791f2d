// Byte-level surgery on safetensors files for tests: split a file the library wrote into its JSON
// header and data section, edit either, and join them again (optionally with a wrong length field).
export interface RawSafetensors {
  header: Record<string, any>;
  data: Buffer;
}

export function splitSafetensors(bytes: Buffer): RawSafetensors {
  const len = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')), data: bytes.subarray(8 + len) };
}

/** Header (object or raw JSON text) + data; `lengthField` replaces the true header length. */
export function joinSafetensors(header: object | string, data: Uint8Array, lengthField?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

/** A copy of `bytes` whose 8-byte header length field is moved by `delta`. */
export function shiftHeaderLength(bytes: Buffer, delta: number): Buffer {
  const out = Buffer.from(bytes);
  out.writeBigUInt64LE(out.readBigUInt64LE(0) + BigInt(delta));
  return out;
}

/** The data-section byte offset of element `index` of tensor `name` (f32). */
export function f32ByteOffset(raw: RawSafetensors, name: string, index: number): number {
  return raw.header[name].data_offsets[0] + 4 * index;
}
