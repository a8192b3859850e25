/**
 * The files a function's code starts from, at the root of its folder, in the order the worker
 * tries them. The runtime refuses code that has none of them at deploy (controller/code/rules.ts
 * imports this list), so what deploys is what loads.
 */
export const ENTRY_FILES: readonly string[] = ['index.mjs', 'index.js', 'index.cjs'];
