// The architecture's one-way rule, checked: no two top-level folders of src/
// import each other, directly or through others (ARCHITECTURE: "Folders
// depend one way"). Reads every import specifier of src/, type imports too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The top-level folder of a file under src/ ("main.ts" and its siblings are the root). */
function folderOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? (parts[0] as string) : '(root)';
}

function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  const specifier = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const match of readFileSync(file, 'utf8').matchAll(specifier)) {
      const target = path.resolve(path.dirname(file), (match[1] ?? match[2]) as string);
      const to = folderOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, path.relative(SRC, file));
      graph.set(from, edges);
    }
  }
  return graph;
}

/** One cycle through the graph as a list of "a -> b (file)" steps, or undefined. */
function findCycle(graph: Map<string, Map<string, string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') {
        const loop = [...stack.slice(stack.indexOf(next)), next];
        return loop.slice(1).map((to, i) => `${loop[i]} -> ${to} (${graph.get(loop[i] as string)?.get(to)})`);
      }
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}

test('the folders of src/ import each other one way only (no cycle)', () => {
  const graph = folderGraph();
  assert.ok(graph.size > 5, 'the import scan found the folders');
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `a folder cycle: ${cycle?.join(', ')}`);
});

test('net/ and log/ are the bottom: they import no other folder of ours', () => {
  const graph = folderGraph();
  for (const base of ['net', 'log']) assert.deepEqual([...(graph.get(base)?.keys() ?? [])], [], `${base}/ imports ${[...(graph.get(base)?.entries() ?? [])].join(', ')}`);
});

test('the scan sees a cycle when there is one', () => {
  const graph = new Map([
    ['a', new Map([['b', 'a/x.ts']])],
    ['b', new Map([['c', 'b/y.ts']])],
    ['c', new Map([['a', 'c/z.ts']])],
  ]);
  assert.deepEqual(findCycle(graph), ['a -> b (a/x.ts)', 'b -> c (b/y.ts)', 'c -> a (c/z.ts)']);
});
