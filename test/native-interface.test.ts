// The addon against its TypeScript interface: every export must be declared in lib/native.ts's
// NativeAddon with the parameters its binding registers (native/binding: bind(..., params)), in
// order, with the same optional ones and, for an options object, the same option names. A binding
// and a wrapper that disagree fail here instead of at run time.
import t from 'tap';
import { join } from 'node:path';
import ts from 'typescript';
import { addon, packageRoot } from '../lib/native.js';

interface Param {
  name: string;
  optional: boolean;
  /** The option names (with `?` on optional ones) when the parameter is an options object. */
  options?: string[];
}

/** "a, b?, {x, y?}" as the bindings write it. */
function parseNative(params: string): Param[] {
  const out: Param[] = [];
  const re = /\{([^}]*)\}(\?)?|([A-Za-z]\w*)(\?)?/g;
  for (let m = re.exec(params); m; m = re.exec(params)) {
    if (m[1] !== undefined) {
      const options = m[1]
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .sort();
      out.push({ name: 'options', optional: !!m[2], options });
    } else {
      out.push({ name: m[3], optional: !!m[4] });
    }
  }
  return out;
}

/** NativeAddon's methods read with the type checker, so Omit<>, aliases and interfaces resolve. */
function declaredMethods(): Map<string, Param[]> {
  const file = join(packageRoot, 'lib', 'native.ts');
  const program = ts.createProgram([file], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const methods = new Map<string, Param[]>();
  ts.forEachChild(source, (node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'NativeAddon') return;
    for (const member of node.members) {
      if (!ts.isMethodSignature(member)) continue;
      const params = member.parameters.map((p): Param => {
        const name = (p.name as ts.Identifier).text;
        const param: Param = { name, optional: !!p.questionToken };
        if (name === 'options' || name === 'opts') {
          const type = checker.getTypeAtLocation(p);
          param.name = 'options';
          param.options = type
            .getProperties()
            .map((s) => s.name + (s.flags & ts.SymbolFlags.Optional ? '?' : ''))
            .sort();
        }
        return param;
      });
      methods.set((member.name as ts.Identifier).text, params);
    }
  });
  return methods;
}

const show = (ps: Param[]) => ps.map((p) => (p.options ? `{${p.options.join(', ')}}` : p.name) + (p.optional ? '?' : '')).join(', ');

t.test('every addon export matches NativeAddon', (t) => {
  const native = addon().nativeSignatures();
  const declared = declaredMethods();
  t.ok(declared.size > 50, `NativeAddon declares ${declared.size} methods`);
  const exported = Object.keys(addon()).filter((k) => typeof (addon() as unknown as Record<string, unknown>)[k] === 'function');
  for (const name of exported) {
    t.ok(name in native, `${name} is registered with its parameters (bind)`);
    const want = declared.get(name);
    if (!t.ok(want, `${name} is declared in NativeAddon`) || !(name in native)) continue;
    // Option names carry their own `?`; parseNative's options list does too (the binding writes them).
    t.equal(show(want!), show(parseNative(native[name])), `${name}: interface and binding agree`);
  }
  for (const name of declared.keys()) t.ok(exported.includes(name), `NativeAddon.${name} exists in the addon`);
  t.end();
});

t.test('an options object refuses names its binding does not read', (t) => {
  const x = addon().fromBuffer(new Float32Array([1, 2, 3, 4]), [2, 2], 'f32', 'cpu');
  t.throws(() => addon().gemm(x, x, { transB: true, tranA: true } as never), {
    name: 'ValueError',
    message: /unknown option 'tranA' \(known: bias, out, transA/,
  });
  t.throws(() => addon().gemm(x, x, 3 as never), { name: 'ValueError', message: /options object/ });
  t.end();
});
