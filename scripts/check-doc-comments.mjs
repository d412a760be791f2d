// Lists the public exports of lib/index.ts that have no doc comment (/** ... */) on their
// declaration. Exit 1 when any is missing (test/docs.test.ts runs it), so a new export without
// a word on what it is cannot land.
//   node scripts/check-doc-comments.mjs [--list]
import ts from 'typescript';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'lib', 'index.ts');
const program = ts.createProgram([entry], {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  allowJs: false,
});
const checker = program.getTypeChecker();
const mod = checker.getSymbolAtLocation(program.getSourceFile(entry));
const missing = [];
let total = 0;
for (const exp of checker.getExportsOfModule(mod)) {
  total++;
  const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
  // A namespace re-export (export * as plot) documents itself by its module.
  if (sym.flags & ts.SymbolFlags.ValueModule) continue;
  const decls = sym.getDeclarations() ?? [];
  const documented = decls.some(
    (d) =>
      ts.getJSDocCommentsAndTags(d).length > 0 || (ts.isVariableDeclaration(d) && ts.getJSDocCommentsAndTags(d.parent.parent).length > 0),
  );
  if (!documented) {
    const d = decls[0];
    const where = d
      ? `${relative(root, d.getSourceFile().fileName)}:${d.getSourceFile().getLineAndCharacterOfPosition(d.getStart()).line + 1}`
      : '?';
    missing.push(`${exp.name} (${where})`);
  }
}
console.log(`${total - missing.length} of ${total} public exports have a doc comment`);
if (process.argv.includes('--list') || missing.length) for (const m of missing) console.log(`  missing: ${m}`);
process.exit(missing.length ? 1 : 0);
