// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went:
// self time per function and per area (our src/ folders, each node_modules
// package, Node internals, GC, idle). Used by `npm run bench -- --profile`
// and runnable alone: node --import tsx bench/lib/profile-summary.ts FILE.
// A profile of the production build (dist/ chunks) is read through the
// chunks' source maps, so its frames name src/ files and packages as a
// profile of the sources does.
import { readFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber?: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  /** Share of busy time (idle excluded) per area, largest first. */
  readonly areas: ReadonlyArray<{ area: string; ms: number; share: number }>;
  readonly functions: ReadonlyArray<{ fn: string; ms: number; share: number }>;
  /** Busy time charged to the nearest function of ours (src/) on the stack: what our code costs, libraries included. */
  readonly ours: ReadonlyArray<{ fn: string; ms: number; share: number }>;
  /** Busy time by part of the relay (first match in PHASES over the whole stack). */
  readonly phases: ReadonlyArray<{ phase: string; ms: number; share: number }>;
}

/** Parts of the relay, tried in order against every frame of a sample's stack. */
const PHASES: ReadonlyArray<[string, RegExp]> = [
  ['spool (src/spool: write, fsync, rename, load, remove)', /^src\/spool\//],
  ['delivery (src/delivery, nodemailer client)', /^src\/delivery\/|node_modules\/nodemailer\//],
  ['logging and observability (pino, decision log, metrics)', /^src\/observability\/|node_modules\/(pino|sonic-boom|@pinojs)\//],
  ['policy and facts (engine, DNSBL, limits, checks)', /^src\/(policy|facts|runtime|auth)\//],
  ['SMTP intake (smtp-server, front door, socket writes)', /^src\/smtp\/|node_modules\/smtp-server\//],
  ['dashboard (fastify)', /^src\/http\/|node_modules\/(fastify|@fastify)\//],
  ['start-up (module loading, tsx)', /^node:internal\/modules\/|node_modules\/tsx\//],
];

/** Paths inside this repository, relative to it (the worktree's own name must not leak into areas). */
const REPO_URL = new URL('../../', import.meta.url).href;
function relative(url: string): string {
  if (url.startsWith(REPO_URL)) return url.slice(REPO_URL.length);
  // A profile taken in another checkout: cut at its node_modules/ or its last src|bench|bin folder.
  const modules = url.indexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + 1);
  const ours = /^file:\/\/.*\/((?:src|bench|bin)\/.*)$/.exec(url);
  return ours ? (ours[1] as string) : url;
}

export function areaOf(rawUrl: string, functionName: string): string {
  const url = relative(rawUrl);
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return '(gc)';
  if (functionName === '(program)') return '(program: native, outside JS)';
  if (!url) return '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return `npm:${modules[1]}`;
  const ours = /^(src|bench|bin)\/([^/]+)/.exec(url);
  if (ours) return ours[1] === 'src' && !ours[2]?.endsWith('.ts') ? `src/${ours[2]}` : `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) {
    const name = url.slice(5).split('/');
    return `node:${name[0] === 'internal' ? name.slice(1, 3).join('/') : name[0]}`;
  }
  return url;
}

export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${relative(node.callFrame.url)}`;
  const oursOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node && relative(node.callFrame.url).startsWith('src/')) return label(node);
    }
    return '(no frame of ours: library, Node or event loop)';
  };
  const ours = new Map<string, number>();
  const phases = new Map<string, number>();
  const phaseOf = (id: number, functionName: string): string => {
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)') return '(program: native, outside JS)';
    const urls: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) urls.push(relative(byId.get(at)?.callFrame.url ?? ''));
    for (const [phase, pattern] of PHASES) if (urls.some((url) => pattern.test(url))) return phase;
    return 'other (event loop, Node internals)';
  };
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, micros] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += micros;
    const { functionName, url, lineNumber } = node.callFrame;
    const area = areaOf(url, functionName);
    if (area === '(idle)') {
      idle += micros;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + micros);
    const phase = phaseOf(id, functionName);
    phases.set(phase, (phases.get(phase) ?? 0) + micros);
    const owner = oursOf(id);
    ours.set(owner, (ours.get(owner) ?? 0) + micros);
    const file = url.replace(/^.*\/(node_modules|src|bench)\//, '$1/');
    const fn = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + micros);
  }
  const busy = total - idle;
  const rank = <K extends string>(map: Map<string, number>, key: K) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({ [key]: name, ms: Math.round(micros / 1000), share: Math.round((micros / busy) * 1000) / 10 }) as Record<K, string> & { ms: number; share: number });
  return { totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), areas: rank(areas, 'area'), functions: rank(functions, 'fn'), ours: rank(ours, 'fn'), phases: rank(phases, 'phase') };
}

/**
 * Frames in bundled files (a `.js` with a `.js.map` next to it) rewritten to
 * the original file and line the source map gives; other frames unchanged.
 */
export async function mapToSources(profile: CpuProfile): Promise<CpuProfile> {
  const maps = new Map<string, SourceMap | undefined>();
  const mapOf = async (url: string): Promise<SourceMap | undefined> => {
    if (!maps.has(url)) {
      const text = await readFile(`${fileURLToPath(url)}.map`, 'utf8').catch(() => undefined);
      maps.set(url, text === undefined ? undefined : new SourceMap(JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0]));
    }
    return maps.get(url);
  };
  const nodes: ProfileNode[] = [];
  for (const node of profile.nodes) {
    const { url, lineNumber, columnNumber } = node.callFrame;
    const map = url.startsWith('file:') && url.endsWith('.js') ? await mapOf(url) : undefined;
    const entry = map?.findEntry(lineNumber, columnNumber ?? 0) as { originalSource?: string; originalLine?: number } | undefined;
    if (!entry?.originalSource) {
      nodes.push(node);
      continue;
    }
    // esbuild writes sources relative to the map ("../src/smtp/front-door.ts").
    const original = entry.originalSource.startsWith('file:') ? entry.originalSource : pathToFileURL(fileURLToPath(new URL(entry.originalSource, url))).href;
    nodes.push({ ...node, callFrame: { ...node.callFrame, url: original, lineNumber: entry.originalLine ?? lineNumber } });
  }
  return { ...profile, nodes };
}

export async function summarizeFile(file: string, top?: number): Promise<ProfileSummary> {
  return summarize(await mapToSources(JSON.parse(await readFile(file, 'utf8')) as CpuProfile), top);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top]');
  const summary = await summarizeFile(file, Number(process.argv[3] ?? 30));
  console.log(`total ${summary.totalMs} ms, busy ${summary.busyMs} ms`);
  for (const p of summary.phases) console.log(`${String(p.share).padStart(5)}%  ${String(p.ms).padStart(6)} ms  ${p.phase}`);
  console.log('');
  for (const a of summary.areas) console.log(`${String(a.share).padStart(5)}%  ${String(a.ms).padStart(6)} ms  ${a.area}`);
  console.log('');
  for (const f of summary.functions) console.log(`${String(f.share).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.fn}`);
  console.log('\ncharged to the nearest function of ours:');
  for (const f of summary.ours) console.log(`${String(f.share).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.fn}`);
}
