// A local stand-in for Cloudflare Turnstile's browser script (api.js), for development and
// tests with no network. It defines `window.turnstile` with the documented explicit-rendering
// API: render, reset, remove, getResponse, isExpired, execute and ready, and honours the
// `onload` query parameter of the script URL. Implicit rendering (`.cf-turnstile`) is not
// implemented. It is not a captcha: it proves nothing and must never be used in production.
//
// The token it yields depends on the site key, as with the real widget:
//   1x00000000000000000000AA / ...BB   passes: "XXXX.DUMMY.TOKEN.XXXX" (Cloudflare's dummy keys)
//   2x00000000000000000000AB / ...BB   always blocks: 'error-callback' with 600010, no token
//   3x00000000000000000000FF           passes after the visitor ticks a checkbox
//   any other site key                 passes with "ok:<hostname>:<action>", the token the
//                                      siteverify stand-in (tests/standins/turnstile.mjs)
//                                      accepts for its own secret, so hostname and action
//                                      checks can be exercised locally
// Tests can make any widget yield a token the siteverify stand-in refuses: add
// `?turnstile=fail` to the page URL (token "fail-token"), or set `data-standin-token` on
// the container to the exact token wanted. `?turnstile=interactive` forces the checkbox.
(() => {
  'use strict';

  const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';
  const TOKEN_LIFETIME_MS = 300_000; // Real tokens expire after 300 s.
  const SOLVE_DELAY_MS = 150; // Long enough to be seen, short enough for tests.
  const ERROR_INVALID_SITEKEY = '110100';
  const ERROR_CHALLENGE_FAILED = '600010';

  const pageMode = new URLSearchParams(location.search).get('turnstile');
  const widgets = new Map();
  let lastId = null;
  let counter = 0;

  /** How a widget with this site key behaves: 'pass', 'block' or 'interactive', and its token. */
  function behaviour(sitekey, action, container) {
    const dummy = /^([123])x0{20}[A-F]{2}$/.exec(sitekey);
    let outcome = 'pass';
    let token = dummy ? DUMMY_TOKEN : `ok:${location.hostname}:${action ?? ''}`;
    if (dummy?.[1] === '2') outcome = 'block';
    if (dummy?.[1] === '3' || pageMode === 'interactive') outcome = 'interactive';
    if (pageMode === 'fail') token = 'fail-token';
    if (container.dataset.standinToken) token = container.dataset.standinToken;
    return { outcome, token };
  }

  /** Resolves a widget from an id, a container element or a selector; the last one by default. */
  function find(ref) {
    if (ref === undefined || ref === null) return widgets.get(lastId);
    if (widgets.has(ref)) return widgets.get(ref);
    const element = typeof ref === 'string' ? document.querySelector(ref) : ref;
    for (const widget of widgets.values()) if (widget.container === element) return widget;
    return undefined;
  }

  // Styles go through the CSSOM, which a CSP without 'unsafe-inline' allows.
  function styled(tag, style, text) {
    const element = document.createElement(tag);
    Object.assign(element.style, style);
    if (text) element.textContent = text;
    return element;
  }

  /** Calls the widget's callback `name` ('callback', 'expired-callback', ...) if it has one. */
  function call(widget, name, ...args) {
    const fn = widget.params[name];
    if (typeof fn === 'function') fn(...args);
  }

  // The checkbox row has an inline `display`, which would override the `hidden` attribute.
  function showCheckbox(widget, visible) {
    widget.checkbox.style.display = visible ? 'flex' : 'none';
  }

  function fail(widget, code) {
    widget.state = 'failed';
    widget.label.textContent = 'Local Turnstile stand-in: failed';
    const handler = widget.params['error-callback'];
    // Without an error callback, the real widget throws; so does the stand-in.
    if (typeof handler !== 'function') throw new Error(`[Turnstile stand-in] error ${code}`);
    handler(code);
  }

  function succeed(widget) {
    widget.token = widget.plan.token;
    widget.state = 'solved';
    widget.label.textContent = 'Local Turnstile stand-in: verified';
    if (widget.input) widget.input.value = widget.token;
    clearTimeout(widget.expiry);
    widget.expiry = setTimeout(() => expire(widget), TOKEN_LIFETIME_MS);
    call(widget, 'callback', widget.token);
  }

  function expire(widget) {
    const old = widget.token;
    widget.token = undefined;
    widget.state = 'expired';
    if (widget.input) widget.input.value = '';
    widget.label.textContent = 'Local Turnstile stand-in: expired';
    call(widget, 'expired-callback', old);
    if ((widget.params['refresh-expired'] ?? 'auto') === 'auto') run(widget);
  }

  /** Runs the (pretend) challenge: shows progress, then passes, blocks or waits for a tick. */
  function run(widget) {
    clearTimeout(widget.timer);
    clearTimeout(widget.expiry);
    widget.token = undefined;
    if (widget.input) widget.input.value = '';
    showCheckbox(widget, false);
    widget.checkbox.firstChild.checked = false;
    widget.state = 'running';
    widget.label.textContent = 'Local Turnstile stand-in: verifying…';
    widget.timer = setTimeout(() => {
      if (widget.plan.outcome === 'block') return fail(widget, ERROR_CHALLENGE_FAILED);
      if (widget.plan.outcome === 'interactive') {
        widget.state = 'interactive';
        widget.label.textContent = 'Local Turnstile stand-in:';
        showCheckbox(widget, true);
        call(widget, 'before-interactive-callback');
        return undefined;
      }
      return succeed(widget);
    }, SOLVE_DELAY_MS);
  }

  function render(containerRef, params = {}) {
    const container = typeof containerRef === 'string' ? document.querySelector(containerRef) : containerRef;
    if (!(container instanceof HTMLElement)) {
      console.warn('[Turnstile stand-in] render: no such container', containerRef);
      return undefined;
    }
    const id = `cf-standin-${++counter}`;
    const box = styled('div', {
      boxSizing: 'border-box', width: params.size === 'compact' ? '150px' : '300px', minHeight: '65px',
      display: 'flex', alignItems: 'center', gap: '8px', padding: '0 12px',
      border: '1px solid #8a8a8a', borderRadius: '4px', background: '#fafafa', color: '#1d1d1d',
      font: '14px system-ui, sans-serif',
    });
    box.id = id;
    box.dataset.turnstileStandin = '';
    const label = styled('span', {});
    const checkbox = styled('label', { display: 'none', alignItems: 'center', gap: '6px', cursor: 'pointer' });
    const tick = document.createElement('input');
    tick.type = 'checkbox';
    checkbox.append(tick, ' I am human');
    box.append(label, checkbox);
    container.append(box);

    const widget = { id, container, box, label, checkbox, params, token: undefined, state: 'idle' };
    widget.plan = behaviour(params.sitekey, params.action, container);
    if (params['response-field'] !== false) {
      widget.input = document.createElement('input');
      widget.input.type = 'hidden';
      widget.input.name = params['response-field-name'] ?? 'cf-turnstile-response';
      container.append(widget.input);
    }
    tick.addEventListener('change', () => {
      if (!tick.checked || widget.state !== 'interactive') return;
      call(widget, 'after-interactive-callback');
      showCheckbox(widget, false);
      succeed(widget);
    });
    widgets.set(id, widget);
    lastId = id;

    if (typeof params.sitekey !== 'string' || params.sitekey === '') {
      fail(widget, ERROR_INVALID_SITEKEY);
      return id;
    }
    if (params.execution === 'execute') {
      widget.label.textContent = 'Local Turnstile stand-in: waiting for execute()';
    } else {
      run(widget);
    }
    return id;
  }

  window.turnstile = Object.freeze({
    render,
    /** Starts the challenge of a widget rendered with `execution: 'execute'` (or renders one). */
    execute(ref, params) {
      const widget = find(ref);
      if (widget) run(widget);
      else if (params) render(ref, { ...params, execution: 'render' });
    },
    /** Forgets the token and runs the challenge again: a token is good for one validation. */
    reset(ref) {
      const widget = find(ref);
      if (widget) run(widget);
    },
    remove(ref) {
      const widget = find(ref);
      if (!widget) return;
      clearTimeout(widget.timer);
      clearTimeout(widget.expiry);
      widget.box.remove();
      widget.input?.remove();
      widgets.delete(widget.id);
      if (lastId === widget.id) lastId = null;
    },
    getResponse(ref) {
      return find(ref)?.token;
    },
    isExpired(ref) {
      return find(ref)?.state === 'expired';
    },
    ready(callback) {
      queueMicrotask(callback);
    },
  });

  // api.js?onload=name calls window[name]() once the API is ready.
  const onload = document.currentScript && new URL(document.currentScript.src).searchParams.get('onload');
  if (onload) setTimeout(() => window[onload]?.(), 0);
})();
