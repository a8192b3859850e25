import { describe, expect, it } from 'vitest';
import { compiledFilesOf, describeEntry, ENTRY_FILES, entryFilesOf, isTypeScript, parseHandler } from './entry-files.js';

describe('handler paths', () => {
  it('split into the file and the export at the last dot of the last segment', () => {
    expect(parseHandler(null)).toEqual({ file: 'index', exportName: null });
    expect(parseHandler('index.handler')).toEqual({ file: 'index', exportName: 'handler' });
    expect(parseHandler('src/app.v2.main')).toEqual({ file: 'src/app.v2', exportName: 'main' });
    expect(parseHandler('functions.d/handler')).toEqual({ file: 'functions.d/handler', exportName: null });
  });

  it('try JavaScript before TypeScript, as the worker loads them', () => {
    expect(ENTRY_FILES).toEqual(['index.mjs', 'index.js', 'index.cjs', 'index.ts', 'index.mts', 'index.cts']);
    expect(entryFilesOf('src/app.handler')[0]).toBe('src/app.mjs');
    expect(describeEntry('src/app.handler')).toBe('src/app.{mjs,js,cjs,ts,mts,cts}');
  });

  it('put a TypeScript entry’s bundle beside it', () => {
    expect(isTypeScript('src/app.mts')).toBe(true);
    expect(isTypeScript('src/app.js')).toBe(false);
    expect(compiledFilesOf('src/app.ts')).toEqual({ esm: 'src/app.ts.glambdar.mjs', cjs: 'src/app.ts.glambdar.cjs' });
  });
});
