/**
 * The dashboard's page shell: no data, no inline script or style (the Content-Security-Policy
 * below allows neither), only the built assets, all served by the runtime itself.
 */
export const SHELL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Glambdar</title>
<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<div id="app"><noscript>The Glambdar dashboard needs JavaScript.</noscript></div>
</body>
</html>
`;

/** A lambda on a dark square, so the browser asks for no missing /favicon.ico. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f3a5f"/><path d="M9 26l6-13-2-5h-3V5h5l8 21h-4l-4-10-4 10z" fill="#fff"/></svg>
`;

/**
 * Headers of every dashboard response. The page shows what functions print (logs) and what
 * users named things: it runs only its own script (no inline code, no other origin), talks
 * only to this runtime, and cannot be framed by another site (clickjacking).
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};
