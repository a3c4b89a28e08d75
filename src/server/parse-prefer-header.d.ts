declare module 'parse-prefer-header' {
  /** RFC 7240 `Prefer` → preferences by camel-cased name (`code=429, example=x` → `{ code: '429', example: 'x' }`); a bare token is `true`. */
  function parsePreferHeader(prefer: string | string[] | undefined): Record<string, string | true>;
  export = parsePreferHeader;
}
