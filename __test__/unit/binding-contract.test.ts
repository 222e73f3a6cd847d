/**
 * The native binding's contract, held to the binding. napi-rs writes the binding's own
 * declarations from the Rust into native/index.d.ts (`npm run build:native`); the
 * TypeScript uses src/native/binding.ts. Read with the TypeScript compiler, the two must
 * declare the same reactor class (methods and getters, parameters by name, optionality and
 * type, return types), the same option fields, the same exported functions.
 *
 * And the defaults, stated once in the option table (src/config/options.ts) and mapped by
 * src/server/reactor-options.ts: the binding's own (`defaultOptions()`, tsgi-reactor's
 * `Config::default()`) and its `@default` docs must be those, and so must what the
 * pure-TypeScript reactor enforces when given no options.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { optionNamedInDoc } from '../helpers/doc-comments.js';
import { loadNative } from '../../src/native/load.js';
import { REACTOR_DEFAULTS, REACTOR_OPTIONS } from '../../src/server/reactor-options.js';

const root = path.resolve(import.meta.dirname, '../..');
const GENERATED = path.join(root, 'native', 'index.d.ts');
const CONTRACT = path.join(root, 'src', 'native', 'binding.ts');

const program = ts.createProgram([GENERATED, CONTRACT], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
});
const checker = program.getTypeChecker();

/** The symbols a file exports, by name. */
function exportsOf(file: string): Map<string, ts.Symbol> {
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`${path.relative(root, file)} is missing: npm run build:native writes it`);
  const module = checker.getSymbolAtLocation(source)!;
  return new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol]));
}

function exported(file: string, name: string): ts.Symbol {
  const symbol = exportsOf(file).get(name);
  if (!symbol) throw new Error(`${path.relative(root, file)} exports no ${name}`);
  return symbol;
}

const text = (type: ts.Type): string => checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias);
const same = (a: ts.Type, b: ts.Type): boolean => checker.isTypeAssignableTo(a, b) && checker.isTypeAssignableTo(b, a);
/** What is left of an optional value's type once `undefined` and `null` are taken out:
 * napi-rs declares an `Option<T>` argument `T | undefined | null`. */
const present = (type: ts.Type): ts.Type => checker.getNonNullableType(type);

/** A member of a class or interface, as the contract sees it: a method, or a value (a
 * getter or a property), read-only or not, optional or not. */
interface Member {
  kind: 'method' | 'value';
  readonly: boolean;
  optional: boolean;
  type: ts.Type;
}

function membersOf(type: ts.Type): Map<string, Member> {
  const members = new Map<string, Member>();
  for (const symbol of checker.getPropertiesOfType(type)) {
    const declarations = symbol.declarations ?? [];
    const method = (symbol.flags & ts.SymbolFlags.Method) !== 0;
    const readonly =
      ((symbol.flags & ts.SymbolFlags.GetAccessor) !== 0 && (symbol.flags & ts.SymbolFlags.SetAccessor) === 0) ||
      declarations.some((d) => ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Readonly);
    members.set(symbol.name, {
      kind: method ? 'method' : 'value',
      readonly,
      optional: (symbol.flags & ts.SymbolFlags.Optional) !== 0,
      type: checker.getTypeOfSymbol(symbol),
    });
  }
  return members;
}

/** Where `generated` and `contract` differ, each difference one line naming `where`. */
function compareSignatures(where: string, generated: readonly ts.Signature[], contract: readonly ts.Signature[], returns = true): string[] {
  if (generated.length !== 1 || contract.length !== 1) return [`${where}: ${generated.length} signature(s) in the binding, ${contract.length} in the contract`];
  const [g, c] = [generated[0]!, contract[0]!];
  const names = (s: ts.Signature): string[] => s.parameters.map((p) => p.name);
  if (names(g).join() !== names(c).join()) return [`${where}: parameters (${names(g).join(', ')}) in the binding, (${names(c).join(', ')}) in the contract`];
  const differences: string[] = [];
  g.parameters.forEach((gp, i) => {
    const cp = c.parameters[i]!;
    const [gd, cd] = [gp.valueDeclaration as ts.ParameterDeclaration, cp.valueDeclaration as ts.ParameterDeclaration];
    const [go, co] = [checker.isOptionalParameter(gd), checker.isOptionalParameter(cd)];
    const [gt, ct] = [checker.getTypeOfSymbol(gp), checker.getTypeOfSymbol(cp)];
    if (go !== co) differences.push(`${where}: parameter ${gp.name} is ${go ? '' : 'not '}optional in the binding, ${co ? '' : 'not '}in the contract`);
    else if (!(go ? same(present(gt), present(ct)) : same(gt, ct)))
      differences.push(`${where}: parameter ${gp.name} is ${text(gt)} in the binding, ${text(ct)} in the contract`);
  });
  if (returns && !same(g.getReturnType(), c.getReturnType()))
    differences.push(`${where}: returns ${text(g.getReturnType())} in the binding, ${text(c.getReturnType())} in the contract`);
  return differences;
}

/** Where two sets of members differ: names on one side only, kinds, optionality, types. */
function compareMembers(owner: string, generated: Map<string, Member>, contract: Map<string, Member>): string[] {
  const differences: string[] = [];
  for (const name of new Set([...generated.keys(), ...contract.keys()])) {
    const [g, c] = [generated.get(name), contract.get(name)];
    const where = `${owner}.${name}`;
    if (!g || !c) {
      differences.push(`${where}: only in ${g ? 'the binding (native/index.d.ts)' : 'the contract (src/native/binding.ts)'}`);
    } else if (g.kind !== c.kind || g.readonly !== c.readonly) {
      const describe = (m: Member): string => (m.kind === 'method' ? 'a method' : m.readonly ? 'a read-only value' : 'a writable value');
      differences.push(`${where}: ${describe(g)} in the binding, ${describe(c)} in the contract`);
    } else if (g.optional !== c.optional) {
      differences.push(`${where}: ${g.optional ? 'optional' : 'required'} in the binding, ${c.optional ? 'optional' : 'required'} in the contract`);
    } else if (g.kind === 'method') {
      const call = (m: Member): readonly ts.Signature[] => checker.getSignaturesOfType(m.type, ts.SignatureKind.Call);
      differences.push(...compareSignatures(where, call(g), call(c)));
    } else if (!(g.optional ? same(present(g.type), present(c.type)) : same(g.type, c.type))) {
      differences.push(`${where}: ${text(g.type)} in the binding, ${text(c.type)} in the contract`);
    }
  }
  return differences;
}

/** The binding's exports the contract must list in `NativeBinding`: its classes and functions. */
function generatedExports(): Map<string, ts.Symbol> {
  return new Map([...exportsOf(GENERATED)].filter(([, symbol]) => symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Function)));
}

/** Every difference between the binding's declarations and the contract. */
function contractDifferences(): string[] {
  const binding = checker.getDeclaredTypeOfSymbol(exported(CONTRACT, 'NativeBinding'));
  const contractMembers = membersOf(binding);
  const differences: string[] = [];
  const exports = generatedExports();
  for (const name of new Set([...exports.keys(), ...contractMembers.keys()])) {
    const [symbol, member] = [exports.get(name), contractMembers.get(name)];
    if (!symbol || !member) {
      differences.push(`${name}: exported only by ${symbol ? 'the binding (native/index.d.ts)' : 'the contract (src/native/binding.ts)'}`);
      continue;
    }
    if (member.optional) differences.push(`${name}: optional in the contract, always exported by the binding`);
    if (symbol.flags & ts.SymbolFlags.Class) {
      const constructors = (type: ts.Type): readonly ts.Signature[] => checker.getSignaturesOfType(type, ts.SignatureKind.Construct);
      const contractConstructors = constructors(member.type);
      if (contractConstructors.length === 0) {
        differences.push(`${name}: a class in the binding, not a constructor in the contract`);
        continue;
      }
      differences.push(...compareSignatures(`new ${name}`, constructors(checker.getTypeOfSymbol(symbol)), contractConstructors, false));
      const instance = (signatures: readonly ts.Signature[]): Map<string, Member> => membersOf(signatures[0]!.getReturnType());
      differences.push(...compareMembers(name, instance(constructors(checker.getTypeOfSymbol(symbol))), instance(contractConstructors)));
    } else {
      const call = (type: ts.Type): readonly ts.Signature[] => checker.getSignaturesOfType(type, ts.SignatureKind.Call);
      differences.push(...compareSignatures(name, call(checker.getTypeOfSymbol(symbol)), call(member.type)));
    }
  }
  const options = (file: string, name: string): Map<string, Member> => membersOf(checker.getDeclaredTypeOfSymbol(exported(file, name)));
  differences.push(...compareMembers('options', options(GENERATED, 'BindingReactorOptions'), options(CONTRACT, 'NativeReactorOptions')));
  return differences;
}

/** The option fields of the binding's declarations, each with its doc comment. */
function optionDocs(): Array<{ name: string; declaration: ts.Declaration }> {
  const options = checker.getDeclaredTypeOfSymbol(exported(GENERATED, 'BindingReactorOptions'));
  return checker.getPropertiesOfType(options).map((field) => ({ name: field.name, declaration: field.declarations![0]! }));
}

/** The `@default` of each option field, as a value. */
function documentedDefaults(): Record<string, unknown> {
  return Object.fromEntries(
    optionDocs().map(({ name, declaration }) => {
      const tag = ts.getJSDocTags(declaration).find((t) => t.tagName.text === 'default');
      return [name, tag ? JSON.parse(ts.getTextOfJSDocComment(tag.comment) ?? '') : '(no @default)'];
    }),
  );
}

/** The option each field's doc names, or null. */
function documentedOptions(): Record<string, string | null> {
  return Object.fromEntries(optionDocs().map(({ name, declaration }) => [name, optionNamedInDoc(declaration)]));
}

describe('the binding contract', () => {
  it('has the declarations the build generated', () => {
    expect(existsSync(GENERATED), `${GENERATED}: npm run build:native writes it`).toBe(true);
  });

  it('declares what the binding declares: the reactor, its options, the exported functions', () => {
    expect(contractDifferences()).toEqual([]);
  });

  it("documents as each option's @default the option table's default", () => {
    expect(documentedDefaults()).toEqual({ ...REACTOR_DEFAULTS });
  });

  it('names in each option field the option the server sets it from', () => {
    const fromTable = Object.fromEntries(Object.values(REACTOR_OPTIONS).map(({ option, reactor }) => [reactor, option]));
    expect(documentedOptions()).toEqual({ ...fromTable, writeHighWater: null, lingerMs: null });
  });

  it("has as the binding's own defaults the option table's", () => {
    expect(loadNative().binding!.defaultOptions()).toEqual({ ...REACTOR_DEFAULTS });
  });
});
