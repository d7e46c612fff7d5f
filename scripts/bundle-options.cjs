// esbuild's options for the builder's commands (bin/*.ts, each into one CommonJS file), in
// one place for both bundlers: scripts/bundle.mjs (dist/, which the package ships) and,
// from a checkout's TypeScript sources, lib/constructs/builder-asset.ts at synth.
module.exports = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  // CDK code never runs inside the builder.
  // The CycloneDX library's optional plug-ins (XML writing, schema validation) load these
  // when present; the builder writes JSON and validates nothing, so they stay out.
  external: ['aws-cdk-lib', 'constructs', 'cdk-nag', 'xmlbuilder2', 'libxmljs2', 'ajv', 'ajv-formats', 'ajv-formats-draft2019'],
};
