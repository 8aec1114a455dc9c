// wake console: one page, three views (functions, a function, triggers),
// fed by one server-sent event stream (/ui/api/stream). Everything shown
// is built with DOM calls and textContent: nothing the server sends is
// ever parsed as HTML.
import { chartSpanMs, pointsFrom, state, el, syncRows, cell, setText, now, ago, until, fmtMs, fmtP95, fmtRate, clockTime, fnKey, fnHref, instancesCell, fnFailing, fnWhy, splitBar, section, readyBadge, stateCell } from './lib.js';
import { renderFunction, renderCharts, stopLogs } from './function.js';

// ---- the stream ----

function connect() {
  if (state.es) state.es.close();
  const r = state.route;
  let url = '/ui/api/stream';
  if (r.page === 'function') url += '?function=' + encodeURIComponent(r.ns + '/' + r.name);
  const es = new EventSource(url);
  state.es = es;
  es.addEventListener('open', () => setConn('live', 'live'));
  es.addEventListener('clock', (e) => { state.offset = Number(e.data) - Date.now(); });
  es.addEventListener('overview', (e) => { state.overview = JSON.parse(e.data); render(); });
  es.addEventListener('detail', (e) => { state.detail = JSON.parse(e.data); render(); });
  es.addEventListener('points', (e) => {
    const pts = JSON.parse(e.data);
    for (const [rev, list] of Object.entries(pts)) {
      state.points[rev] = pointsFrom((state.points[rev] || []).concat(list), now() - chartSpanMs);
    }
    if (state.route.page === 'function') renderCharts();
  });
  es.addEventListener('error', async () => {
    setConn('down', 'reconnecting…');
    // A stream refused for want of a session does not come back: go log in.
    try {
      const res = await fetch('/ui/api/session', { cache: 'no-store' });
      if (res.status === 401) window.location.assign('/ui/login');
    } catch (_) { /* the server is down: EventSource retries */ }
  });
}

function setConn(cls, text) {
  const c = document.getElementById('conn');
  c.className = 'conn ' + cls;
  c.textContent = text;
}

// ---- routing ----

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'functions' && parts.length === 3) return { page: 'function', ns: parts[1], name: parts[2] };
  if (parts[0] === 'triggers') return { page: 'triggers' };
  return { page: 'functions' };
}

function navigate() {
  const r = parseRoute();
  const same = state.route && state.route.page === r.page && state.route.ns === r.ns && state.route.name === r.name;
  if (same) return;
  state.route = r;
  state.detail = null;
  state.points = {};
  state.editor = null;
  state.editorNotice = '';
  state.expect = null;
  stopLogs();
  document.getElementById('nav-functions').classList.toggle('active', r.page !== 'triggers');
  document.getElementById('nav-triggers').classList.toggle('active', r.page === 'triggers');
  document.getElementById('main').replaceChildren();
  connect();
  render();
}

function render() {
  const r = state.route;
  if (r.page === 'functions') renderFunctions();
  else if (r.page === 'function') renderFunction();
  else renderTriggers();
}

// ---- functions ----

function renderFunctions() {
  const s = section('functions', () => el('section', {},
    el('h1', { text: 'Functions' }),
    el('div', { class: 'table-wrap' }, el('table', { id: 'functions-table' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'Name and URL' }), el('th', { text: 'Ready' }),
        el('th', { text: 'Latest ready' }), el('th', { text: 'Traffic' }), el('th', { class: 'num', text: 'Instances' }),
        el('th', { class: 'num', text: 'Req/s' }), el('th', { class: 'num', text: 'p95' }), el('th', { text: 'Last cold start' }))),
      el('tbody'))),
    el('div', { class: 'empty', id: 'functions-empty', hidden: true },
      el('p', {}, 'No functions yet. Deploy one from its manifest with ', el('code', { text: 'wake apply -f fn.yaml' }), ': the README\'s Quick start has one.'))));
  const ov = state.overview;
  if (!ov) return;
  s.querySelector('#functions-empty').hidden = ov.functions.length > 0;
  s.querySelector('#functions-table').hidden = ov.functions.length === 0;
  syncRows(s.querySelector('tbody'), ov.functions, fnKey, (f) => el('tr', { 'data-fn': fnKey(f) },
    // The URL under the name: one column fewer, so that at 1400 px every
    // name, address and number fits on its line.
    el('td', { class: 'name' }, el('a', { href: fnHref(f), class: 'fn' }),
      el('div', { class: 'url mono' }, el('a', { target: '_blank', rel: 'noopener noreferrer' }))),
    el('td', { class: 'ready' }), el('td', { class: 'latest mono' }), el('td', { class: 'traffic' }),
    el('td', { class: 'num instances' }), el('td', { class: 'num rps' }), el('td', { class: 'num p95' }),
    el('td', { class: 'cold' })), (tr, f) => {
    const a = tr.querySelector('a.fn');
    setText(a, f.namespace === 'default' ? f.name : f.namespace + '/' + f.name);
    const u = tr.querySelector('.url a');
    u.href = f.url; setText(u, f.url);
    cell(tr, 'ready').replaceChildren(...stateCell(f));
    setText(cell(tr, 'latest'), f.latestReady || '–');
    cell(tr, 'traffic').replaceChildren(...splitBar(f));
    instancesCell(cell(tr, 'instances'), f.instances, f.starting, fnFailing(f), fnWhy(f));
    setText(cell(tr, 'rps'), ov.requests ? fmtRate(f.rps) : 'n/a');
    setText(cell(tr, 'p95'), ov.requests ? fmtP95(f) : 'n/a');
    const c = f.lastColdStart;
    const cold = c ? ago(c.time) + ' · ' + fmtMs(c.total) + ' (' + c.revision + ')' : '–';
    if (cell(tr, 'cold').textContent !== cold) {
      // The revision's name whole, on the next line if it must.
      cell(tr, 'cold').replaceChildren(...(c ? [ago(c.time) + ' · ' + fmtMs(c.total) + ' ', el('span', { class: 'nowrap', text: '(' + c.revision + ')' })] : ['–']));
    }
  });
}

// ---- triggers ----

function renderTriggers() {
  const s = section('triggers', () => el('section', {},
    el('h1', { text: 'Triggers' }),
    el('div', { class: 'table-wrap' }, el('table', { id: 'triggers-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Name' }), el('th', { text: 'Source' }), el('th', { text: 'Sink' }), el('th', { text: 'Ready' }),
        el('th', { class: 'num', text: 'Delivered' }), el('th', { class: 'num', text: 'Retried' }), el('th', { class: 'num', text: 'Dead-lettered' }),
        el('th', { class: 'num', text: 'Failed' }), el('th', { text: 'Kafka lag' }), el('th', { text: 'Next fire' }), el('th', { text: 'Rate limit' }))),
      el('tbody'))),
    el('div', { class: 'empty', id: 'triggers-empty', hidden: true },
      el('p', {}, 'No triggers yet. A trigger sends a function an event for each Kafka record or cron fire. Write one with ', el('code', { text: 'kind: Trigger' }), ', for instance:'),
      el('pre', { class: 'hint', text: triggerExample }),
      el('p', {}, 'then ', el('code', { text: 'wake apply -f trigger.yaml' }), '. The README\'s Event triggers section has Kafka\'s, and every field.'))));
  const ov = state.overview;
  if (!ov) return;
  s.querySelector('#triggers-empty').hidden = ov.triggers.length > 0;
  s.querySelector('#triggers-table').hidden = ov.triggers.length === 0;
  syncRows(s.querySelector('tbody'), ov.triggers, (t) => t.namespace + '/' + t.name, (t) => el('tr', { 'data-trigger': t.namespace + '/' + t.name },
    el('td', { class: 'name', text: t.namespace === 'default' ? t.name : t.namespace + '/' + t.name }), el('td', { class: 'source mono' }), el('td', { class: 'sink' }),
    el('td', { class: 'ready' }), el('td', { class: 'num delivered' }), el('td', { class: 'num retried' }), el('td', { class: 'num dead' }),
    el('td', { class: 'num failed' }), el('td', { class: 'lag mono' }), el('td', { class: 'next' }), el('td', { class: 'rate' }, rateEditor(t))), (tr, t) => {
    setText(cell(tr, 'source'), t.source);
    setText(cell(tr, 'sink'), t.sink + (t.sinkUri ? ' (' + t.sinkUri + ')' : ''));
    cell(tr, 'ready').replaceChildren(readyBadge(t));
    setText(cell(tr, 'delivered'), String(t.delivered));
    setText(cell(tr, 'retried'), String(t.retried));
    setText(cell(tr, 'dead'), String(t.deadLettered));
    setText(cell(tr, 'failed'), String(t.failed));
    setText(cell(tr, 'lag'), t.kind !== 'kafka' ? '–' : (t.lag || []).map((l) => l.topic + '/' + l.partition + ': ' + l.lag).join('\n') || 'no partitions assigned');
    setText(cell(tr, 'next'), t.nextFire ? clockTime(t.nextFire) + ' (' + until(t.nextFire) + ')' : '–');
    const current = tr.querySelector('.current');
    let rate = t.rateLimit === null || t.rateLimit === undefined ? 'none' : t.rateLimit + '/s';
    if (t.pace) {
      // wake slowed the trigger down below its limit: say to what, and why.
      rate = Math.round(t.pace.rateInForce) + '/s chosen by wake (limit ' + rate + '): ' + (t.pace.reason || 'the sink asked to wait') +
        (t.pace.pausedUntil ? '; paused until ' + clockTime(t.pace.pausedUntil) : '');
    }
    if (t.throttled) rate += ' · ' + t.throttled + ' throttled';
    setText(current, rate);
  });
}

const triggerExample = `apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: nightly
spec:
  cron:
    schedule: "0 3 * * *"
  sink:
    function: FUNCTION`;

function rateEditor(t) {
  const key = t.namespace + '/' + t.name;
  const input = el('input', { type: 'number', min: 0, step: 'any', placeholder: 'events/s', 'aria-label': 'rate limit of ' + key });
  const err = el('span', { class: 'err', role: 'alert' });
  const put = async (rate) => {
    err.textContent = '';
    const res = await fetch('/ui/api/triggers/' + encodeURIComponent(t.namespace) + '/' + encodeURIComponent(t.name) + '/rate', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rateLimit: rate }),
    }).catch((e) => ({ ok: false, json: async () => ({ message: String(e) }) }));
    if (!res.ok) {
      const p = await res.json().catch(() => ({ message: 'refused' }));
      err.textContent = [p.message].concat(p.errors || []).join('\n');
      return;
    }
    input.value = '';
  };
  const set = el('button', { type: 'button', class: 'set', text: 'Set', onclick: () => {
    if (input.value === '') { err.textContent = 'enter events per second, or choose No limit'; return; }
    put(Number(input.value));
  } });
  const none = el('button', { type: 'button', class: 'none', text: 'No limit', onclick: () => put(null) });
  return el('div', {}, el('span', { class: 'current' }), ' ', input, ' ', set, ' ', none, err);
}

window.addEventListener('hashchange', navigate);
window.addEventListener('DOMContentLoaded', () => {
  navigate();
  // Ages ("3s ago") move on between frames.
  setInterval(() => { if (state.route.page === 'function') renderCharts(); }, 1000);
});
