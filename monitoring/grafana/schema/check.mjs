// Checks every dashboard in a folder against the schema of the pinned Grafana (11.2.0): the
// TypeScript types that Grafana generates from its CUE kinds (npm @grafana/schema: the
// dashboard, its panels, each panel plugin's options and field config) and the options of
// each transformation (npm @grafana/data), with tsc. Each panel becomes one typed constant,
// so a field Grafana does not know, or a value of the wrong type, is an error that names
// the dashboard and the panel. Queries (`targets`) are Prometheus' and not in these
// packages: tests/monitoring.rs checks them.
//
//   node check.mjs DASHBOARD_DIR     (GRAFANA_SCHEMA_DIR: where npm installed typescript,
//                                     @grafana/schema and @grafana/data; scripts/setup does)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [dir] = process.argv.slice(2);
const lib = process.env.GRAFANA_SCHEMA_DIR;
if (!dir || !lib) {
  console.error('usage: GRAFANA_SCHEMA_DIR=DIR node check.mjs DASHBOARD_DIR');
  process.exit(2);
}
const composable = path.join(lib, 'node_modules/@grafana/schema/dist/esm/raw/composable');

// A transformation's id and the entry of @grafana/data's `standardTransformers` that holds
// its options' type; a transformation not here stops the check, to be added.
const TRANSFORMERS = {
  calculateField: 'calculateFieldTransformer',
  concatenate: 'concatenateTransformer',
  convertFieldType: 'convertFieldTypeTransformer',
  filterByValue: 'filterByValueTransformer',
  filterFieldsByName: 'filterFieldsByNameTransformer',
  groupBy: 'groupByTransformer',
  groupingToMatrix: 'groupingToMatrixTransformer',
  joinByField: 'joinByFieldTransformer',
  labelsToFields: 'labelsToFieldsTransformer',
  limit: 'limitTransformer',
  merge: 'mergeTransformer',
  organize: 'organizeFieldsTransformer',
  reduce: 'reduceTransformer',
  renameByRegex: 'renameByRegexTransformer',
  sortBy: 'sortByTransformer',
};

// The same types as JSON holds them: string enums as their values ("points+lines", not
// ScatterShow.PointsAndLines), and every field optional, as Grafana fills in the defaults of
// what a dashboard leaves out; a field it does not know, or a value of the wrong type, is
// still an error.
const PRELUDE = `
import type * as raw from '@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen';
import type { DataTransformerID, FieldMatcherID, standardTransformers } from '@grafana/data';
type Json<T> = T extends string ? \`\${T}\` : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]?: Json<T[K]> } : T;
type Transformers = typeof standardTransformers;
type OptionsOf<K extends keyof Transformers> = Transformers[K] extends { operator: (options: infer O, ...rest: any[]) => any } ? O : never;
type Transformation<K extends keyof Transformers> = Json<Omit<raw.DataTransformerConfig, 'id' | 'options'>> & { id: \`\${DataTransformerID}\`; options: Json<OptionsOf<K>> };
type Property<C> =
  | { [K in keyof raw.FieldConfig]-?: { id: K; value?: Json<raw.FieldConfig[K]> } }[keyof raw.FieldConfig]
  | { [K in keyof C & string]-?: { id: \`custom.\${K}\`; value?: Json<C[K]> } }[keyof C & string];
type FieldConfigSource<C> = {
  defaults: Json<Omit<raw.FieldConfig, 'custom'>> & { custom?: Json<C> };
  overrides: Array<{ matcher: { id: \`\${FieldMatcherID}\`; options?: unknown }; properties: Array<Property<C>> }>;
};
// Transformations are checked one by one, each against its own options (\`satisfies\`).
type Panel<T extends string, O, C> = Json<Omit<raw.Panel, 'type' | 'options' | 'fieldConfig' | 'transformations'>> & {
  type: T;
  options?: Json<O>;
  fieldConfig?: FieldConfigSource<C>;
  transformations?: unknown[];
};
`;

// The generated module of a panel plugin's options and field config, or null.
function pluginTypes(type) {
  const d = path.join(composable, type, 'panelcfg/x');
  if (!fs.existsSync(d)) return null;
  const file = fs.readdirSync(d).find((f) => f.endsWith('_types.gen.d.ts'));
  const text = fs.readFileSync(path.join(d, file), 'utf8');
  return {
    module: `@grafana/schema/dist/esm/raw/composable/${type}/panelcfg/x/${file.replace(/\.d\.ts$/, '')}`,
    fieldConfig: /export interface FieldConfig\b/.test(text),
  };
}

function allPanels(d) {
  const out = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    out.push(...(p.panels ?? []));
  }
  return out;
}

const work = fs.mkdtempSync(path.join(lib, 'check-'));
const where = []; // [file, first line, last line, what]
const problems = [];
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
for (const [n, file] of files.entries()) {
  const dash = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const ts = path.join(work, `d${n}.ts`);
  const lines = [PRELUDE];
  const at = (what, text) => {
    const first = lines.join('\n').split('\n').length + 1;
    lines.push(text);
    where.push([path.basename(ts), first, first + text.split('\n').length - 1, `${file}: ${what}`]);
  };
  const { panels, ...top } = dash;
  at('the dashboard', `export const dashboard: Json<Omit<raw.Dashboard, 'panels'>> = ${JSON.stringify(top, null, 2)};`);
  const imports = new Map();
  for (const p of allPanels(dash)) {
    const what = `panel ${p.id} ${JSON.stringify(p.title)} (${p.type})`;
    if (p.type === 'row') {
      const { panels: inner, ...row } = p;
      at(what, `export const p${p.id}: Json<Omit<raw.RowPanel, 'panels'>> = ${JSON.stringify(row, null, 2)};`);
      continue;
    }
    const t = pluginTypes(p.type);
    if (!t) {
      problems.push(`${file}: ${what}: @grafana/schema has no panel type ${JSON.stringify(p.type)}`);
      continue;
    }
    const alias = `plugin_${p.type.replace(/\W/g, '_')}`;
    imports.set(alias, t.module);
    for (const tr of p.transformations ?? []) {
      if (!TRANSFORMERS[tr.id]) problems.push(`${file}: ${what}: transformation ${JSON.stringify(tr.id)} has no schema here (add it to TRANSFORMERS)`);
    }
    const fc = t.fieldConfig ? `${alias}.FieldConfig` : 'Record<string, never>';
    // Each transformation is checked against its own options' type.
    const trs = (p.transformations ?? []).map((tr) => `{...${JSON.stringify(tr)}} satisfies Transformation<'${TRANSFORMERS[tr.id] ?? 'noopTransformer'}'>`);
    const { transformations, ...rest } = p;
    const body = JSON.stringify(rest, null, 2).replace(/\n}$/, trs.length ? `,\n  "transformations": [\n    ${trs.join(',\n    ')}\n  ]\n}` : '\n}');
    at(what, `export const p${p.id}: Panel<${JSON.stringify(p.type)}, ${alias}.Options, ${fc}> = ${body};`);
  }
  const head = [...imports].map(([alias, m]) => `import type * as ${alias} from '${m}';`);
  for (const w of where.filter(([f]) => f === path.basename(ts))) {
    w[1] += head.length;
    w[2] += head.length;
  }
  fs.writeFileSync(ts, `${[...head, ...lines].join('\n')}\n`);
}

let output = '';
if (problems.length === 0) {
  const tsc = path.join(lib, 'node_modules/typescript/bin/tsc');
  const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--pretty', 'false'];
  try {
    execFileSync('node', [...args, ...files.map((_, n) => path.join(work, `d${n}.ts`))], { encoding: 'utf8' });
  } catch (e) {
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}
fs.rmSync(work, { recursive: true, force: true });
// tsc's messages, each with the dashboard and panel its line belongs to.
for (const line of output.split('\n').filter((l) => l.trim())) {
  const m = /^(.*?)\((\d+),\d+\): (.*)$/.exec(line);
  const w = m && where.find(([f, a, b]) => path.basename(m[1]) === f && +m[2] >= a && +m[2] <= b);
  if (!m && line.startsWith(' ') && problems.length) {
    problems[problems.length - 1] += `\n${line}`; // the explanation of the error above
  } else {
    problems.push(w ? `${w[3]}: ${m[3]}` : line);
  }
}
if (problems.length) {
  console.error(`Not valid for Grafana 11.2.0's schema:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`${files.length} dashboards match Grafana's schema (@grafana/schema, @grafana/data)`);
