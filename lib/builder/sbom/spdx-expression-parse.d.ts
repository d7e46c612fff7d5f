// The package ships no types; only whether it parses matters here.
declare module 'spdx-expression-parse' {
  function parse(expression: string): unknown;
  export = parse;
}
