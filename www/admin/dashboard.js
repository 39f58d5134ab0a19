// The operator dashboard (/admin): traffic, spend, blocks, incidents, events and the lists,
// all read from and changed through the admin API (/v1/admin/*) with the bearer token the
// operator types in. The token lives in this tab's sessionStorage only and travels only in
// the Authorization header, never in a URL. Everything the API returns is put on the page
// as text (textContent), never as markup. Times are shown in UTC, as the log keeps them.
//
// The charts are Chart.js, bundled into ./vendor/chart.js by .ci/build-worker (no outside
// network at run time); their legend is HTML, so it can be read and used with a keyboard.

import {
  BarController, BarElement, CategoryScale, Chart, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from './vendor/chart.js';
import { ERROR_CODES } from '/otp-guard.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip);

const TOKEN_KEY = 'otp-guard.admin-token';
const HOUR_MS = 3_600_000;
const AUTO_REFRESH_MS = 30_000;
// Colours for countries, in order of first appearance: distinct in light and dark mode.
const PALETTE = ['#2f6fdf', '#d1495b', '#0f9d77', '#e3a21a', '#8e44ad', '#e07a2f', '#1aa3b8', '#7f8c2e', '#c2185b', '#6d7b8d'];
const TRIGGERS = {
  new_destination: 'sudden volume to a destination never seen before, with no conversion',
  spike_with_conversion_collapse: 'a spike of sends with collapsing conversion',
  network_conversion_collapse: 'a client network whose codes stopped being entered',
  slow_conversion_collapse: 'a destination whose codes stopped being entered over the long window (slow pumping)',
  unserved_destination: 'codes asked from abroad for a destination nobody ever entered one for (clients abroad refused)',
};

const $ = (id) => document.getElementById(id);

// ---- Formatting ------------------------------------------------------------------------------

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
const timeFormat = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const hourFormat = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' });
const dayHourFormat = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit' });
const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 3 });
const percent = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });
const integer = new Intl.NumberFormat('en-US');

function countryName(code) {
  if (!/^[A-Z]{2}$/.test(code ?? '')) return 'Unknown';
  try {
    return regionNames.of(code) ?? code;
  } catch {
    return code;
  }
}
const countryLabel = (code) => (code && /^[A-Z]{2}$/.test(code) ? `${code} ${countryName(code)}` : 'Unknown');
const destLabel = (dest) => (dest.startsWith('+') ? `numbers starting ${dest}` : `${countryName(dest)} (${dest})`);
const time = (iso) => (iso ? `${timeFormat.format(new Date(iso))}` : '');
const dateTime = (iso) => (iso ? `${dateTimeFormat.format(new Date(iso))} UTC` : '');
const usd = (x) => (x == null ? '—' : money.format(x));
const pct = (x) => (x == null ? '—' : percent.format(x));
const num = (x) => integer.format(x ?? 0);

/** `<time>` for an RFC 3339 instant, shown as `format(instant)`. */
function timeEl(iso, format = dateTime) {
  return h('time', { datetime: iso }, format(iso));
}

/** Minutes from now until `iso`, in words. */
function fromNow(iso) {
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000);
  if (minutes <= 0) return 'any moment now';
  return minutes === 1 ? 'in 1 minute' : `in ${minutes} minutes`;
}

/** Creates an element: attributes (`class`, `hidden`, `data-*`, aria...) and children (text or nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

// ---- The admin API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/**
 * Calls the admin API with the token. Resolves to the parsed JSON (text for CSV, null for
 * 204); rejects with an ApiError. A 401 after sign-in means the token went stale: sign out.
 */
async function api(method, path, { as = 'json' } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token() ?? ''}`, accept: as === 'csv' ? 'text/csv' : 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'The guard could not be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  if (res.ok) return as === 'csv' ? res.text() : res.json();
  const problem = await res.json().catch(() => ({}));
  const error = new ApiError(res.status, problem.code ?? 'unexpected_response', problem.detail ?? `HTTP ${res.status}`);
  if (res.status === 401 && state.signedIn) signOut('The admin token was refused. Sign in again.');
  throw error;
}

/** What to tell the operator about a failed call. */
function explain(error) {
  if (!(error instanceof ApiError)) return `The page failed: ${error.message}`;
  if (error.status === 0) return error.message;
  if (error.code === 'invalid_phone') return `Not a valid entry: ${error.message}.`;
  return `The guard answered ${error.status} (${error.code}): ${error.message}.`;
}

// ---- State -------------------------------------------------------------------------------------

const state = {
  signedIn: false,
  rangeHours: 24,
  charts: null, // { sent, blocked, conversion }: Chart instances, made on first data
  colors: new Map(), // country → colour, kept for the session so colours do not move
  hiddenCountries: new Set(), // toggled off in the legend
  lifted: new Map(), // dest → the `engaged` time of the block the operator lifted (until the log catches up)
  events: { query: '', cursor: null, rows: 0, loading: false },
  timer: 0,
  loading: null,
};

function colorOf(country) {
  if (!state.colors.has(country)) state.colors.set(country, PALETTE[state.colors.size % PALETTE.length]);
  return state.colors.get(country);
}

// ---- Messages ----------------------------------------------------------------------------------

/**
 * Announces an outcome in a status region (polite): the one beside the control the operator
 * used, or the page's own at the top. Errors are shown as errors.
 */
function announce(text, { error = false, region = 'status' } = {}) {
  const status = $(region);
  status.classList.toggle('is-error', error);
  // Emptied first, so the same sentence twice is announced twice.
  status.textContent = '';
  setTimeout(() => { status.textContent = text; }, 50);
}

function showFieldError(errorEl, text, field) {
  errorEl.textContent = text;
  errorEl.hidden = false;
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', `${field.dataset.hint} ${errorEl.id}`);
  }
  errorEl.focus();
}

function clearFieldError(errorEl, field) {
  errorEl.hidden = true;
  errorEl.textContent = '';
  if (field) {
    field.removeAttribute('aria-invalid');
    field.setAttribute('aria-describedby', field.dataset.hint);
  }
}

// ---- Sign in and out ---------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const field = $('token');
  const value = field.value.trim();
  clearFieldError($('login-error'), field);
  if (!value) return showFieldError($('login-error'), 'Enter the admin token.', field);
  $('sign-in').disabled = true;
  $('login-status').textContent = 'Checking the token…';
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    await api('GET', '/v1/admin/stats?limit=1');
    field.value = '';
    await enterDashboard();
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    const text = error.status === 401 ? 'That token was not accepted. Check it and try again.'
      : error.status === 404 ? 'This deployment has no admin API: its ADMIN_TOKEN secret is not set.'
        : explain(error);
    $('login-status').textContent = '';
    showFieldError($('login-error'), text, field);
  } finally {
    $('sign-in').disabled = false;
  }
}

async function enterDashboard() {
  state.signedIn = true;
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('login-status').textContent = '';
  document.title = 'Operator dashboard · otp-guard';
  $('main').focus();
  await Promise.all([refresh(), loadEvents(), loadLists()]);
}

function signOut(reason = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.signedIn = false;
  setAutoRefresh(false);
  $('auto').checked = false;
  $('dashboard').hidden = true;
  $('login').hidden = false;
  $('login-status').textContent = reason ? '' : 'Signed out.';
  if (reason) showFieldError($('login-error'), reason, $('token'));
  else $('token').focus();
}

// ---- Overview: summary, blocks, spend, charts, countries, incidents ------------------------

const isoHour = (ms) => `${new Date(ms).toISOString().slice(0, 13)}:00:00Z`;

/** Reloads everything but the events table (which follows its filters). Resolves to whether it worked. */
async function refresh() {
  // One refresh at a time; a second request waits for the running one.
  if (state.loading) return state.loading;
  state.loading = (async () => {
    $('refresh').setAttribute('aria-busy', 'true');
    try {
      const now = Date.now();
      const since = (hours) => new Date(now - hours * HOUR_MS).toISOString();
      const [range, day, hour, incidents] = await Promise.all([
        api('GET', `/v1/admin/stats?since=${since(state.rangeHours)}`),
        state.rangeHours === 24 ? null : api('GET', `/v1/admin/stats?since=${since(24)}`),
        api('GET', `/v1/admin/stats?since=${since(1)}`),
        // A day more, so an incident early in the period still has its "before".
        api('GET', `/v1/admin/incidents?since=${since(state.rangeHours + 24)}`),
      ]);
      renderSummary(range);
      renderBlocks(range.active_blocks);
      renderSpend(range, day ?? range, hour);
      renderCharts(range, now);
      renderCountries(range);
      renderIncidents(incidents.incidents.filter((i) => Date.parse(i.end) >= now - state.rangeHours * HOUR_MS));
      $('updated').textContent = `Updated ${time(new Date(now).toISOString())} UTC.`;
      return true;
    } catch (error) {
      if (state.signedIn) announce(`The dashboard could not be updated. ${explain(error)}`, { error: true });
      return false;
    } finally {
      $('refresh').removeAttribute('aria-busy');
      state.loading = null;
    }
  })();
  return state.loading;
}

function renderSummary(stats) {
  const totals = Object.values(stats.countries).reduce((t, c) => ({
    requests: t.requests + c.requests, sent: t.sent + c.sent, blocked: t.blocked + c.blocked, approved: t.approved + c.approved,
  }), { requests: 0, sent: 0, blocked: 0, approved: 0 });
  const conversion = totals.sent ? totals.approved / totals.sent : null;
  const blocks = visibleBlocks(stats.active_blocks).length;
  const period = state.rangeHours === 24 ? 'last 24 hours' : 'last 7 days';
  const tile = (label, value, note, cls = '') => h('div', { class: `tile ${cls}` }, h('dt', {}, label), h('dd', {}, value, note && h('span', { class: 'note' }, note)));
  $('summary').replaceChildren(
    tile('Send requests', num(totals.requests), period),
    tile('Codes sent', num(totals.sent), period),
    tile('Refused', num(totals.blocked), period),
    tile('Conversion', pct(conversion), `${num(totals.approved)} approved`),
    tile('Spend, last hour', usd(stats.estimated_spend_usd.last_hour), capNote(stats.estimated_spend_usd.last_hour, stats.spend_caps_usd.hourly)),
    tile('Active blocks', num(blocks), blocks ? 'sends to them refused' : 'none', blocks ? 'is-alert' : ''),
  );
}

const capNote = (spent, cap) => (cap ? `of ${usd(cap)} cap` : 'no cap');

// -- Active blocks

function visibleBlocks(blocks) {
  // A lifted block stays in the API's answer until its log line is written (after the response).
  for (const [dest, engaged] of state.lifted) {
    if (!blocks.some((b) => b.dest === dest && b.engaged === engaged)) state.lifted.delete(dest);
  }
  return blocks.filter((b) => state.lifted.get(b.dest) !== b.engaged);
}

function figuresText(f) {
  if (!f) return '';
  const parts = [`${num(f.window_sends)} sends in the detection window (baseline ${Number(f.baseline_per_window.toFixed(2))})`];
  parts.push(`conversion ${pct(f.conversion_now)}`);
  if (f.conversion_normal != null) parts.push(`normally ${pct(f.conversion_normal)}`);
  return parts.join(', ');
}

/**
 * Re-renders `container` with `render()`, keeping the keyboard focus on the control that had
 * it (found again by its `data-*` key), so an automatic refresh does not throw the operator out.
 */
function keepingFocus(container, key, render) {
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset[key] : undefined;
  render();
  if (focused !== undefined) container.querySelector(`[data-${key}="${CSS.escape(focused)}"]`)?.focus();
}

function renderBlocks(blocks) {
  keepingFocus($('blocks'), 'dest', () => drawBlocks(blocks));
}

function drawBlocks(blocks) {
  const list = $('blocks');
  const shown = visibleBlocks(blocks);
  $('blocks-panel').classList.toggle('is-alert', shown.length > 0);
  if (!shown.length) {
    list.replaceChildren(h('li', { class: 'empty' }, 'No active blocks. Sends flow to every destination.'));
    return;
  }
  list.replaceChildren(...shown.map((block) => h('li', { class: 'block' },
    h('div', { class: 'block-text' },
      h('p', { class: 'block-dest' }, h('strong', {}, block.dest), ' ', block.dest.startsWith('+') ? 'number prefix' : countryName(block.dest)),
      h('p', {}, 'Engaged ', timeEl(block.engaged), ' · ends ', timeEl(block.until, time), ` UTC (${fromNow(block.until)})`),
      h('p', { class: 'hint' }, `Why: ${TRIGGERS[block.trigger] ?? block.trigger}; ${figuresText(block.figures)}.`)),
    h('button', { type: 'button', class: 'secondary danger', 'data-dest': block.dest, onclick: () => lift(block) },
      `Lift block on ${block.dest}`))));
}

async function lift(block) {
  const button = $('blocks').querySelector(`button[data-dest="${CSS.escape(block.dest)}"]`);
  button.disabled = true;
  try {
    await api('DELETE', `/v1/admin/blocks/${encodeURIComponent(block.dest)}`);
    state.lifted.set(block.dest, block.engaged);
    // The button is gone with its block: keep the keyboard in the same place.
    $('blocks-title').focus();
    announce(`Block on ${block.dest} lifted. Sends to ${destLabel(block.dest)} flow again.`, { region: 'blocks-status' });
    await refresh();
  } catch (error) {
    button.disabled = false;
    button.focus();
    announce(`The block on ${block.dest} could not be lifted. ${explain(error)}`, { error: true, region: 'blocks-status' });
  }
}

// -- Spend against the caps

function spendCell(spent, cap) {
  if (!cap) return h('td', {}, h('span', { class: 'amount' }, usd(spent)), h('span', { class: 'share' }, ' (no cap)'));
  const share = spent / cap;
  const level = share >= 1 ? 'is-over' : share >= 0.8 ? 'is-warn' : '';
  const fill = h('span', { class: 'fill' });
  fill.style.width = `${Math.min(100, share * 100).toFixed(1)}%`; // CSSOM, allowed by the CSP
  return h('td', { class: level },
    h('span', { class: 'amount' }, usd(spent)), ` of ${usd(cap)}`,
    h('span', { class: 'gauge' }, h('span', { class: 'meter', 'aria-hidden': 'true' }, fill), ' ', h('span', { class: 'share' }, pct(share))));
}

function renderSpend(range, day, hour) {
  const caps = range.spend_caps_usd;
  const rows = [h('tr', { class: 'total' },
    h('th', { scope: 'row' }, 'All destinations'),
    spendCell(range.estimated_spend_usd.last_hour, caps.hourly),
    spendCell(range.estimated_spend_usd.last_day, caps.daily))];
  const countries = Object.entries(day.countries)
    .filter(([, c]) => c.estimated_spend_usd > 0)
    .sort(([, a], [, b]) => b.estimated_spend_usd - a.estimated_spend_usd)
    .slice(0, 8);
  for (const [code, c] of countries) {
    rows.push(h('tr', {},
      h('th', { scope: 'row' }, countryLabel(code)),
      spendCell(hour.countries[code]?.estimated_spend_usd ?? 0, caps.country_hourly),
      spendCell(c.estimated_spend_usd, caps.country_daily)));
  }
  $('spend').tBodies[0].replaceChildren(...rows);
}

// -- Charts

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function chartOptions({ yPercent = false, stacked = true } = {}) {
  const muted = cssVar('--muted');
  const line = cssVar('--line');
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: 'index', intersect: false },
    plugins: {
      tooltip: {
        filter: (item) => item.raw != null && (yPercent || item.raw > 0),
        callbacks: yPercent ? { label: (item) => `${item.dataset.label}: ${pct(item.raw)}` } : {},
      },
    },
    scales: {
      x: { stacked, grid: { display: false }, ticks: { color: muted, maxRotation: 0, autoSkip: true, maxTicksLimit: 7 } },
      y: {
        stacked, beginAtZero: true, grid: { color: line }, border: { display: false },
        ...(yPercent
          ? { suggestedMax: 1, ticks: { color: muted, callback: (value) => pct(value) } }
          : { ticks: { color: muted, precision: 0 } }),
      },
    },
  };
}

function makeCharts() {
  const make = (id, type, options) => new Chart($(id), { type, data: { labels: [], datasets: [] }, options });
  return {
    sent: make('chart-sent', 'bar', chartOptions()),
    blocked: make('chart-blocked', 'bar', chartOptions()),
    conversion: make('chart-conversion', 'line', chartOptions({ yPercent: true, stacked: false })),
  };
}

function renderCharts(stats, now) {
  // One slot per hour of the period, empty hours included, so the x axis is time.
  const first = Math.floor((now - state.rangeHours * HOUR_MS) / HOUR_MS) * HOUR_MS;
  const slots = [];
  for (let t = first; t <= now; t += HOUR_MS) slots.push(isoHour(t));
  const byHour = new Map(stats.series.map((point) => [point.hour, point.countries]));
  const label = state.rangeHours > 24 ? dayHourFormat : hourFormat;
  const labels = slots.map((slot) => label.format(new Date(slot)));
  // Countries with traffic, busiest first.
  const countries = Object.entries(stats.countries).sort(([a, x], [b, y]) => y.requests - x.requests || a.localeCompare(b)).map(([c]) => c);
  const values = (country, pick) => slots.map((slot) => pick(byHour.get(slot)?.[country]));

  state.charts ??= makeCharts();
  const dataset = (country, data, extra = {}) => ({
    label: countryLabel(country), data, backgroundColor: colorOf(country), borderColor: colorOf(country),
    hidden: state.hiddenCountries.has(country), ...extra,
  });
  const sets = {
    sent: countries.map((c) => dataset(c, values(c, (p) => p?.sent ?? 0), { maxBarThickness: 28 })),
    blocked: countries.map((c) => dataset(c, values(c, (p) => p?.blocked ?? 0), { maxBarThickness: 28 })),
    conversion: countries.map((c) => dataset(c, values(c, (p) => (p?.sent ? p.approved / p.sent : null)),
      { pointRadius: 4, pointHoverRadius: 6, borderWidth: 2, spanGaps: false })),
  };
  for (const [name, chart] of Object.entries(state.charts)) {
    chart.data.labels = labels;
    chart.data.datasets = sets[name];
    chart.update('none');
  }
  keepingFocus($('legend'), 'country', () => renderLegend(countries));
  describeCharts(stats, countries);
}

function renderLegend(countries) {
  const legend = $('legend');
  if (!countries.length) {
    legend.replaceChildren(h('p', { class: 'hint' }, 'No send requests in this period.'));
    return;
  }
  legend.replaceChildren(
    h('span', { class: 'legend-hint', id: 'legend-hint' }, 'Show or hide:'),
    ...countries.map((country) => {
      const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      swatch.style.backgroundColor = colorOf(country); // CSSOM, allowed by the CSP
      return h('button', {
        type: 'button', class: 'legend-item', 'data-country': country,
        'aria-pressed': String(!state.hiddenCountries.has(country)),
        onclick: () => toggleCountry(country),
      }, swatch, countryLabel(country));
    }));
}

function toggleCountry(country) {
  if (state.hiddenCountries.has(country)) state.hiddenCountries.delete(country);
  else state.hiddenCountries.add(country);
  const shown = !state.hiddenCountries.has(country);
  for (const chart of Object.values(state.charts)) {
    chart.data.datasets.forEach((set, i) => { if (set.label === countryLabel(country)) chart.setDatasetVisibility(i, shown); });
    chart.update('none');
  }
  $('legend').querySelector(`[data-country="${CSS.escape(country)}"]`).setAttribute('aria-pressed', String(shown));
}

/** Text alternatives for the charts: the period's totals per country. */
function describeCharts(stats, countries) {
  const period = state.rangeHours === 24 ? 'the last 24 hours' : 'the last 7 days';
  const list = (pick) => (countries.length ? countries.map((c) => `${countryLabel(c)} ${pick(stats.countries[c])}`).join('; ') : 'none');
  $('chart-sent-desc').textContent = `Hourly bars for ${period}. Codes sent per country: ${list((c) => num(c.sent))}.`;
  $('chart-blocked-desc').textContent = `Hourly bars for ${period}. Sends refused per country: ${list((c) => num(c.blocked))}.`;
  $('chart-conversion-desc').textContent = `Hourly points for ${period}. Conversion per country: ${list((c) => pct(c.conversion))}.`;
}

// -- Countries table

function renderCountries(stats) {
  const blocked = new Set(visibleBlocks(stats.active_blocks).map((b) => b.dest));
  const rows = Object.entries(stats.countries).sort(([, a], [, b]) => b.requests - a.requests).map(([code, c]) => h('tr', {},
    h('th', { scope: 'row' }, countryLabel(code), blocked.has(code) && [' ', h('span', { class: 'badge' }, 'blocked')]),
    h('td', {}, num(c.requests)), h('td', {}, num(c.sent)), h('td', {}, num(c.blocked)), h('td', {}, num(c.approved)),
    h('td', {}, pct(c.conversion)), h('td', {}, usd(c.estimated_spend_usd))));
  if (!rows.length) rows.push(h('tr', {}, h('td', { colspan: '7', class: 'empty' }, 'No send requests in this period.')));
  $('countries').tBodies[0].replaceChildren(...rows);
}

// -- Incidents

function actionText(a) {
  switch (a.action) {
    case 'engaged':
      return [`Block engaged on ${destLabel(a.dest)}`, `${TRIGGERS[a.trigger] ?? a.trigger}: ${figuresText(a.figures)}. Until ${time(a.until)} UTC.`];
    case 'first_refusal':
      return [`First send refused${a.dest ? ` to ${destLabel(a.dest)}` : ''}`, ''];
    case 'lifted':
      return [`Block on ${destLabel(a.dest)} lifted by an operator`, ''];
    default:
      return [`${a.action} ${a.dest ?? ''}`.trim(), ''];
  }
}

function renderIncidents(incidents) {
  const box = $('incidents');
  if (!incidents.length) {
    box.replaceChildren(h('p', { class: 'empty' }, 'No incidents in this period.'));
    return;
  }
  box.replaceChildren(...[...incidents].reverse().map((incident, n) => {
    const id = `incident-${n}`;
    const fact = (label, value) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
    return h('article', { class: 'incident', 'aria-labelledby': id },
      h('h3', { id }, `Pumping to ${incident.destinations.join(', ')}`),
      h('p', { class: 'hint' }, timeEl(incident.start), ' to ', timeEl(incident.end, time), ' UTC'),
      h('dl', { class: 'facts' },
        fact('Send requests', num(incident.requests)),
        fact('Sent', num(incident.sends)),
        fact('Refused', num(incident.refused)),
        fact('Conversion before', pct(incident.conversion_before)),
        fact('Conversion during', pct(incident.conversion_during)),
        fact('Estimated cost', usd(incident.estimated_cost_usd)),
        fact('Distinct IPs', num(incident.distinct_ips)),
        fact('Networks (ASN)', incident.asns.length ? incident.asns.map((a) => `AS${a}`).join(', ') : '—')),
      h('ol', { class: 'timeline', 'aria-label': 'What the guard did' }, incident.actions.map((a) => {
        const [title, detail] = actionText(a);
        return h('li', { class: `action action-${a.action}` },
          timeEl(a.time, time), ' ', h('strong', {}, title), detail && h('span', { class: 'action-detail' }, detail));
      })));
  }));
}

// ---- Events ------------------------------------------------------------------------------------

function fillReasons() {
  const reasons = ['ok', ...ERROR_CODES.filter((c) => c !== 'network_error' && c !== 'unexpected_response')];
  $('f-reason').append(...reasons.map((r) => new Option(r, r)));
}

/** The filter form as a query string (without cursor), or an error message. */
function eventsQuery() {
  const params = new URLSearchParams();
  params.set('since', new Date(Date.now() - Number($('f-since').value) * HOUR_MS).toISOString());
  for (const [key, id] of [['route', 'f-route'], ['decision', 'f-decision'], ['reason', 'f-reason']]) {
    if ($(id).value) params.set(key, $(id).value);
  }
  const country = $('f-country').value.trim().toUpperCase();
  if (country) {
    if (!/^[A-Z]{2}$/.test(country)) return { error: 'Country must be two letters, like CG.', field: $('f-country') };
    params.set('country', country);
  }
  const prefix = $('f-prefix').value.replace(/[\s()-]/g, '');
  if (prefix) {
    if (!/^\+\d{1,15}$/.test(prefix)) return { error: 'The prefix must be + and digits, like +24206.', field: $('f-prefix') };
    params.set('prefix', prefix);
  }
  return { query: params.toString() };
}

function eventRow(e) {
  const cell = (value, cls) => h('td', cls ? { class: cls } : {}, value ?? '');
  return h('tr', { class: e.decision === 'allow' ? '' : `is-${e.decision}` },
    h('td', { class: 'nowrap' }, timeEl(e.time, (iso) => dateTimeFormat.format(new Date(iso)))),
    cell(e.route), cell(e.decision), cell(e.reason), cell(String(e.status)), cell(e.phone, 'nowrap'),
    cell(e.country), cell(e.prefix), cell(e.channel), cell(e.ip), cell(e.asn == null ? '' : `AS${e.asn}`),
    cell(e.price_usd == null ? '' : usd(e.price_usd)), cell(e.detail ?? e.would_block, 'detail'));
}

async function loadEvents({ more = false, announceResult = false } = {}) {
  const errorEl = $('events-error');
  for (const id of ['f-country', 'f-prefix']) clearFieldError(errorEl, $(id));
  if (!more) {
    const { query, error, field } = eventsQuery();
    if (error) return showFieldError(errorEl, error, field);
    state.events = { query, cursor: null, rows: 0, loading: false };
  }
  if (more && state.events.loading) return;
  const params = new URLSearchParams(state.events.query);
  params.set('limit', '100');
  if (more && state.events.cursor != null) params.set('cursor', String(state.events.cursor));
  state.events.loading = true;
  try {
    const page = await api('GET', `/v1/admin/events?${params}`);
    const body = $('events').tBodies[0];
    const rows = page.events.map(eventRow);
    if (more) body.append(...rows);
    else body.replaceChildren(...rows);
    state.events.cursor = page.next_cursor;
    state.events.rows += page.events.length;
    const count = state.events.rows;
    $('events-caption').textContent = count
      ? `${num(count)} event${count === 1 ? '' : 's'}${page.next_cursor != null ? ' so far' : ''}, oldest first`
      : 'No events match these filters.';
    $('more').hidden = page.next_cursor == null;
    if (announceResult) announce(`${$('events-caption').textContent}.`, { region: 'events-status' });
  } catch (error) {
    if (state.signedIn) showFieldError(errorEl, `The events could not be loaded. ${explain(error)}`);
  } finally {
    state.events.loading = false;
  }
}

async function downloadCsv() {
  const { query, error, field } = eventsQuery();
  if (error) return showFieldError($('events-error'), error, field);
  try {
    const csv = await api('GET', `/v1/admin/events?${query}&limit=1000&format=csv`, { as: 'csv' });
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    const link = h('a', { href: url, download: `otp-guard-events-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce('The CSV file is downloading (up to 1,000 events).', { region: 'events-status' });
  } catch (err) {
    if (state.signedIn) showFieldError($('events-error'), `The CSV could not be made. ${explain(err)}`);
  }
}

function resetFilters() {
  $('filters').reset();
  loadEvents({ announceResult: true });
}

// ---- Safelist and blocklist --------------------------------------------------------------------

const LISTS = {
  safelist: { name: 'safelist', noun: 'Safelisted numbers' },
  blocklist: { name: 'blocklist', noun: 'Blocklisted numbers and prefixes' },
};

async function loadLists() {
  await Promise.all(Object.keys(LISTS).map(loadList));
}

async function loadList(list) {
  try {
    const { entries } = await api('GET', `/v1/admin/${list}`);
    renderList(list, entries);
  } catch (error) {
    if (state.signedIn) showFieldError($(`${list}-error`), `The ${list} could not be loaded. ${explain(error)}`);
  }
}

function renderList(list, entries) {
  const ul = $(list);
  if (!entries.length) {
    ul.replaceChildren(h('li', { class: 'empty' }, `The ${list} is empty.`));
    return;
  }
  const sorted = [...entries].sort((a, b) => String(b.added).localeCompare(String(a.added)));
  ul.replaceChildren(...sorted.map((e) => h('li', { class: 'entry' },
    h('span', { class: 'entry-value' }, e.entry),
    h('span', { class: 'hint' }, `${e.kind === 'prefix' ? 'Prefix' : 'Number'}, added `, timeEl(e.added)),
    // A prefix is shown as it is, so it can be removed from here; a number is masked, and
    // removing it takes the number itself (typed into the form above).
    e.kind === 'prefix' && h('button', {
      type: 'button', class: 'secondary small', onclick: () => changeList(list, 'DELETE', e.entry),
    }, `Remove ${e.entry}`))));
}

/** Normalises what was typed: digits and a leading +, separators dropped. */
const e164 = (value) => value.replace(/[\s().-]/g, '');

async function changeList(list, method, value, field = null) {
  const errorEl = $(`${list}-error`);
  clearFieldError(errorEl, field);
  $(`${list}-status`).textContent = '';
  if (!value) return showFieldError(errorEl, 'Enter a number starting with + and the country code.', field);
  if (!value.startsWith('+')) return showFieldError(errorEl, 'Start with + and the country code, e.g. +447400123456.', field);
  try {
    await api(method, `/v1/admin/${list}/${encodeURIComponent(value)}`);
    if (field) field.value = '';
    const shown = value.length > 8 ? `${value.slice(0, 3)}…${value.slice(-4)}` : value;
    // The list is reloaded first, so the announcement describes what is on screen.
    await loadList(list);
    announce(method === 'PUT' ? `${shown} added to the ${list}.` : `${shown} removed from the ${list}.`, { region: `${list}-status` });
  } catch (error) {
    if (state.signedIn) showFieldError(errorEl, explain(error), field);
  }
}

function wireListForm(list) {
  const form = $(`${list}-form`);
  const field = $(`${list}-entry`);
  field.dataset.hint = `${list}-hint`;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    changeList(list, 'PUT', e164(field.value), field);
  });
  form.querySelector('[data-remove]').addEventListener('click', () => changeList(list, 'DELETE', e164(field.value), field));
}

// ---- Refreshing ----------------------------------------------------------------------------------

function setAutoRefresh(on) {
  clearInterval(state.timer);
  state.timer = on ? setInterval(() => { if (!document.hidden) refresh(); }, AUTO_REFRESH_MS) : 0;
}

// ---- Start ---------------------------------------------------------------------------------------

function init() {
  $('token').dataset.hint = 'token-hint';
  $('f-country').dataset.hint = 'f-country-hint';
  $('f-prefix').dataset.hint = 'f-prefix-hint';
  fillReasons();
  $('login-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('refresh').addEventListener('click', async () => {
    const [updated] = await Promise.all([refresh(), loadLists()]);
    if (updated) announce('Dashboard updated.');
  });
  $('range').addEventListener('change', () => {
    state.rangeHours = Number($('range').value);
    refresh();
  });
  $('auto').addEventListener('change', () => setAutoRefresh($('auto').checked));
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadEvents({ announceResult: true });
  });
  $('f-reset').addEventListener('click', resetFilters);
  $('f-csv').addEventListener('click', downloadCsv);
  $('more').addEventListener('click', () => loadEvents({ more: true }));
  wireListForm('safelist');
  wireListForm('blocklist');

  if (token()) enterDashboard();
  else $('token').focus();
}

init();
