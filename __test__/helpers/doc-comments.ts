/**
 * What declarations' doc comments say, read with the TypeScript compiler: the tests that
 * hold a table to the docs of the code it maps (the reactor options) use it.
 */
import ts from 'typescript';

/** The option a declaration's doc comment names in parentheses, as "(`max-conns`)" or
 * "(`--max-conns`)", or null when it names none. */
export function optionNamedInDoc(declaration: ts.Node): string | null {
  const doc = ts
    .getJSDocCommentsAndTags(declaration)
    .map((comment) => comment.getText())
    .join('\n');
  return /\(`(?:--)?([a-z0-9-]+)`\)/.exec(doc)?.[1] ?? null;
}
