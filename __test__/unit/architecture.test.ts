/**
 * ARCHITECTURE.md against the tree: every room of src/ is on the page, every import
 * crosses layers only where the page's table allows it, the master's process loads no
 * dispatch code, and every TypeScript twin names Rust that exists.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const page = readFileSync(path.join(root, 'ARCHITECTURE.md'), 'utf8');

/** The rows of a section's table whose first cell is a code span: each cell's text. */
function tableRows(heading: string): string[][] {
  const section = page.split(/^## /m).find((s) => s.startsWith(heading));
  if (!section) throw new Error(`ARCHITECTURE.md has no section "## ${heading}"`);
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

/** The code spans of a cell: `src/app/`, `tsgi-wire/src/keys.rs`. */
function spans(cell: string | undefined): string[] {
  return [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** A room: a folder of src/ (`src/app/`) or a file at its top level (`src/cli.ts`). */
function roomOf(file: string): string {
  const rel = path.relative(path.join(root, 'src'), file).split(path.sep);
  return rel.length > 1 ? `src/${rel[0]}/` : `src/${rel[0]}`;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    return /\.c?ts$/.test(entry.name) ? [file] : [];
  });
}

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  dynamic: boolean;
}

/** Every import of ours in `file`, resolved to a source file. */
function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean, dynamic: boolean) => {
    if (!specifier.startsWith('.')) return;
    const to = path
      .resolve(path.dirname(file), specifier)
      .replace(/\.js$/, '.ts')
      .replace(/\.cjs$/, '.cts');
    found.push({ from: file, to, typeOnly, dynamic });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const typeOnly =
        clause !== undefined && (clause.isTypeOnly || (!clause.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly, false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier.text, node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)), false);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteral(expression)) add(expression.text, node.isTypeOnly, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument)) add(argument.text, false, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = sourceFiles(path.join(root, 'src'));
const imports = files.flatMap(importsOf);
const rel = (file: string) => path.relative(root, file);

describe('ARCHITECTURE.md', () => {
  const rows = tableRows('Layers');
  const rules = new Map(
    rows.map(([room, , allowed, typesFrom]) => [spans(room)[0]!, { allowed: spans(allowed), typesFrom: spans(typesFrom), nothing: allowed === 'nothing' }]),
  );

  it('names every folder and top-level file of src/ in its layer table, and nothing else', () => {
    const rooms = readdirSync(path.join(root, 'src'), { withFileTypes: true }).map((entry) =>
      entry.isDirectory() ? `src/${entry.name}/` : `src/${entry.name}`,
    );
    expect([...rules.keys()].sort()).toEqual(rooms.sort());
  });

  it('shows every room in its tree too', () => {
    const tree = page.slice(page.indexOf('## The tree'), page.indexOf('## The path'));
    for (const room of rules.keys()) {
      const name = room.slice('src/'.length);
      expect(tree, `${room} in "The tree"`).toMatch(name.endsWith('/') ? new RegExp(`^  ${name} `, 'm') : new RegExp(`\\b${name.replace('.', '\\.')}\\b`));
    }
  });

  it('allows every import that crosses rooms', () => {
    const leaves = new Set(['src/errors.ts', 'src/log.ts']);
    const breaches: string[] = [];
    for (const { from, to, typeOnly } of imports) {
      const [source, target] = [roomOf(from), roomOf(to)];
      if (source === target) continue;
      const rule = rules.get(source)!;
      const names = new Set([...rule.allowed, ...(typeOnly ? rule.typesFrom : [])]);
      const everything = source === 'src/index.ts';
      const ok = everything || names.has(target) || names.has(rel(to)) || (leaves.has(target) && !rule.nothing);
      if (!ok) breaches.push(`${rel(from)} imports ${typeOnly ? 'types from ' : ''}${rel(to)} (${source} → ${target})`);
    }
    expect(breaches).toEqual([]);
  });

  /** What `start` loads as it starts: its static value imports, transitively. */
  const loadedBy = (start: string): string[] => {
    const byFile = new Map<string, Import[]>();
    for (const entry of imports) byFile.set(entry.from, [...(byFile.get(entry.from) ?? []), entry]);
    const seen = new Set<string>();
    const stack = [path.join(root, start)];
    while (stack.length > 0) {
      const file = stack.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const entry of byFile.get(file) ?? []) if (!entry.typeOnly && !entry.dynamic) stack.push(entry.to);
    }
    return [...seen].map(rel);
  };

  it("keeps the master's process clear of the app, the binding and the dispatch", () => {
    const forbidden = ['src/native/', 'src/server/', 'src/pure/', 'src/app/', 'src/adapters/'];
    for (const start of ['src/cli.ts', 'src/process/master.ts', 'src/process/container.ts']) {
      const loaded = loadedBy(start).filter((file) => forbidden.some((room) => file.startsWith(room)));
      expect(loaded, `what ${start} loads`).toEqual([]);
    }
  });

  it("keeps a worker's start clear of what it may not need: the pure reactor, the adapters", () => {
    // The pure reactor loads where no binding does (src/server/server.ts), an adapter when
    // the app needs it (src/adapters/detect.ts): each module is start-up time of every worker.
    const forbidden = ['src/pure/', 'src/codec/http/', 'src/codec/fastcgi.ts', 'src/codec/uwsgi.ts', 'src/adapters/from-', 'src/adapters/fetch-'];
    const loaded = loadedBy('src/process/worker-main.ts').filter((file) => forbidden.some((room) => file.startsWith(room)));
    expect(loaded, 'what src/process/worker-main.ts loads').toEqual([]);
  });

  it('pairs every file of src/pure/ and src/codec/ with Rust that exists', () => {
    const twins = tableRows('Twins');
    const paired = new Set(twins.flatMap(([typescript]) => spans(typescript)));
    const expected = ['pure', 'codec'].flatMap((dir) => sourceFiles(path.join(root, 'src', dir))).map(rel);
    expect(expected.filter((file) => !paired.has(file))).toEqual([]);
    for (const [typescript, rust] of twins) {
      for (const file of spans(typescript)) expect(existsSync(path.join(root, file)), file).toBe(true);
      expect(spans(rust).length, `the Rust twin of ${typescript}`).toBeGreaterThan(0);
      let crate = '';
      for (const name of spans(rust)) {
        // `tsgi-wire/src/keys.rs`, then bare names in the same crate (`stream.rs`).
        if (name.includes('/')) crate = name.slice(0, name.indexOf('/'));
        const file = name.includes('/') ? `crates/${name}` : `crates/${crate}/src/${name}`;
        expect(existsSync(path.join(root, file)), file).toBe(true);
      }
    }
  });
});
