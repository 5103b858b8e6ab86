/**
 * The shape of src/ as the TypeScript compiler sees it (`npm run code-shape [ROOT]`): every
 * function longer than 100 lines (file, name, lines) and every import cycle between modules
 * (type-only imports included: a cycle of types still ties the files together). ROOT defaults to
 * this checkout; pass another checkout's path to measure it the same way.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const LIMIT = 100;
const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
const src = join(root, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** A readable name for a function node: its own, its variable's, its property's or its class member's. */
function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  const own = named.name?.getText(sf);
  const parent = node.parent;
  const cls = ts.isClassLike(parent) && parent.name ? `${parent.name.text}.` : '';
  if (own) return cls + own;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(sf);
  let outer: ts.Node | undefined = parent;
  while (outer && !ts.isFunctionLike(outer)) outer = outer.parent;
  const within = outer ? `${nameOf(outer, sf)} > ` : '';
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent))
    return `${within}callback of ${parent.expression.getText(sf).slice(0, 40)}`;
  return `${within}${ts.isReturnStatement(parent) ? 'returned function' : 'function'}`;
}

interface LongFunction {
  file: string;
  name: string;
  lines: number;
}

function longFunctions(file: string, sf: ts.SourceFile): LongFunction[] {
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > LIMIT) found.push({ file, name: nameOf(node, sf), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The files of src/ that `sf` imports or re-exports from (relative specifiers only). */
function importsOf(file: string, sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const add = (spec: ts.Expression | undefined): void => {
    if (!spec || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) return;
    out.push(resolve(dirname(file), spec.text.replace(/\.js$/, '.ts')));
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) add(st.moduleSpecifier);
  }
  return out;
}

/** Strongly connected components of more than one module (or a module importing itself): Tarjan. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return out;
}

const files = tsFiles(src).sort();
const graph = new Map<string, string[]>();
const long: LongFunction[] = [];
for (const file of files) {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const rel = relative(root, file);
  long.push(...longFunctions(rel, sf));
  graph.set(file, importsOf(file, sf));
}
long.sort((a, b) => b.lines - a.lines);
const loops = cycles(graph);

const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`functions over ${LIMIT} lines in src/: ${long.length}`);
for (const f of long) say(`  ${String(f.lines).padStart(4)}  ${f.file}  ${f.name}`);
say(`import cycles in src/: ${loops.length}`);
for (const loop of loops) say(`  ${loop.map((f) => relative(root, f)).join(' <-> ')}`);
