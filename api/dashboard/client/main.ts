import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiError, forgetToken, getJson, isAbort, saveToken, savedToken, Unauthorized } from './api.js';
import { fill, h } from './dom.js';
import { functionPage } from './function-page.js';
import { overviewPage, type Page } from './overview.js';

/**
 * The dashboard's entry: a sign-in form until the admin token is given (kept in
 * sessionStorage: this tab only), then the overview (`#/`) or a function's page
 * (`#/functions/<name>`), chosen by the URL's hash.
 */
const root = document.getElementById('app')!;
const banner = h('p', { class: 'banner', role: 'alert', hidden: true });
const main = h('main', { id: 'main', tabindex: -1 });
const signOut = h('button', { type: 'button', class: 'link-button', hidden: true }, 'Sign out');
let page: Page | null = null;

signOut.addEventListener('click', () => {
  forgetToken();
  route();
});

fill(
  root,
  h(
    'a',
    {
      href: '#/',
      class: 'skip',
      // The hash routes pages: skipping moves focus, not the URL.
      onclick: (event: Event) => {
        event.preventDefault();
        main.focus();
      },
    },
    'Skip to content',
  ),
  h('header', { class: 'top' }, h('a', { href: '#/', class: 'brand' }, 'Glambdar'), h('span', { class: 'subtitle' }, 'dashboard'), h('span', { class: 'spacer' }), signOut),
  banner,
  main,
);

/** Errors of a page's polling: a refused token signs out; anything else shows until the next success. */
function report(err: unknown): void {
  if (isAbort(err)) return;
  if (err instanceof Unauthorized) {
    forgetToken();
    route('The runtime no longer accepts this token (401 UNAUTHORIZED). Sign in again.');
    return;
  }
  banner.hidden = false;
  banner.textContent = err instanceof ApiError ? `The runtime answered ${err.status}: ${err.message}` : `Cannot reach the runtime (${(err as Error).message}); retrying every second.`;
  clearBannerSoon();
}

let bannerTimer: ReturnType<typeof setTimeout> | undefined;
function clearBannerSoon(): void {
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => (banner.hidden = true), 5000);
}

function signInForm(message?: string): HTMLElement {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const error = h('p', { class: 'form-error', id: 'signin-error', role: 'alert' }, message ?? '');
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'The runtime writes it to admin-token in its data folder (GLAMBDAR_DIR, default ~/.glambdar); ',
      h('code', {}, 'glambdar ui'),
      ' says where. It is kept for this browser tab only and sent as a Bearer header.',
    ),
    button,
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === '') return;
    button.disabled = true;
    error.textContent = '';
    getJson('/stats?seconds=1', { token })
      .then(() => {
        saveToken(token);
        route();
      })
      .catch((err: unknown) => {
        button.disabled = false;
        error.textContent =
          err instanceof Unauthorized
            ? 'Wrong token: the runtime refused it (401 UNAUTHORIZED). Paste the whole content of admin-token.'
            : `Cannot check the token: ${(err as Error).message}`;
        input.focus();
        input.select();
      });
  });
  queueMicrotask(() => input.focus());
  return form;
}

/** Shows what the hash names, or the sign-in form. */
function route(message?: string): void {
  page?.stop();
  page = null;
  banner.hidden = true;
  if (savedToken() === null) {
    signOut.hidden = true;
    document.title = 'Sign in · Glambdar';
    fill(main, signInForm(message));
    return;
  }
  signOut.hidden = false;
  const match = /^#\/functions\/([^/]+)$/.exec(location.hash);
  const name = match ? decodeURIComponent(match[1]!) : null;
  page = name === null ? overviewPage(report) : functionPage(name, report);
  document.title = name === null ? 'Functions · Glambdar' : `${name} · Glambdar`;
  fill(main, page.el);
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => route());
route();
