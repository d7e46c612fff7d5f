import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/**
 * aws-cdk-lib's conventions for the construct library's API, read from the sources with
 * the TypeScript compiler: every prop says what it is, every optional one its @default;
 * the options ImageBuildProject and ImageFactory share are declared once.
 */

const DIR = join(__dirname, '..', '..', 'lib', 'constructs');

interface PropInfo {
  iface: string;
  name: string;
  optional: boolean;
  doc: string;
}

function exportedInterfaces(): Map<string, PropInfo[]> {
  const found = new Map<string, PropInfo[]>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
    const source = ts.createSourceFile(file, readFileSync(join(DIR, file), 'utf8'), ts.ScriptTarget.ES2022, true);
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node)) return;
      if (!node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) return;
      const props = node.members.filter(ts.isPropertySignature).map((member) => ({
        iface: node.name.text,
        name: member.name.getText(source),
        optional: member.questionToken !== undefined,
        doc: ts.getJSDocCommentsAndTags(member).map((d) => d.getText(source)).join('\n'),
      }));
      found.set(node.name.text, props);
    });
  }
  return found;
}

const interfaces = exportedInterfaces();
const propsInterfaces = [...interfaces.entries()].filter(([name]) => /(Props|Options|Attributes)$/.test(name));

test('the construct props interfaces are all found', () => {
  expect(propsInterfaces.map(([name]) => name)).toEqual(expect.arrayContaining([
    'ImageBuildOptions', 'ImageBuildProjectProps', 'ImageFactoryProps', 'ImageBuildPipelineProps',
    'ImageCleanupProjectProps', 'ImageStoreProps', 'ImageStoreAttributes', 'ProjectNetworkProps',
  ]));
});

test.each(propsInterfaces)('%s: every prop is documented, every optional one with its @default', (_name, props) => {
  const undocumented = props.filter((p) => !/\/\*\*[\s\S]*\S[\s\S]*\*\//.test(p.doc) || /^\/\*\*\s*@default/.test(p.doc.trim()))
    .map((p) => p.name);
  expect(undocumented).toEqual([]);
  const withoutDefault = props.filter((p) => p.optional && !p.doc.includes('@default')).map((p) => p.name);
  expect(withoutDefault).toEqual([]);
});

test('ImageBuildProjectProps and ImageFactoryProps declare no shared option twice (both take ImageBuildOptions)', () => {
  const own = (name: string) => new Set((interfaces.get(name) ?? []).map((p) => p.name));
  const project = own('ImageBuildProjectProps');
  const factory = own('ImageFactoryProps');
  const shared = own('ImageBuildOptions');
  // Not the same option twice: a project's store and recipes are required, the factory's
  // default to a new store and the bundled recipes; computeType is one value for a
  // project, one per build type for the factory.
  expect([...project].filter((name) => factory.has(name)).sort()).toEqual(['computeType', 'recipes', 'store']);
  expect([...project].filter((name) => shared.has(name))).toEqual([]);
  expect([...factory].filter((name) => shared.has(name))).toEqual([]);
  expect(shared.size).toBeGreaterThanOrEqual(9);
  for (const file of ['image-build-project.ts', 'image-factory.ts']) {
    expect(readFileSync(join(DIR, file), 'utf8')).toMatch(/extends (ImageBuildOptions|ProjectBuildOptions)\b/);
  }
});
