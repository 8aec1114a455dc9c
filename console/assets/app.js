// wake console: one page, three views (functions, a function, triggers),
// fed by one server-sent event stream (/ui/api/stream). Everything shown
// is built with DOM calls and textContent: nothing the server sends is
// ever parsed as HTML.
'use strict';

const chartSpanMs = 5 * 60 * 1000; // what a chart shows
const keepPointsMs = 10 * 60 * 1000;
const maxLogChars = 200000;

const state = {
  route: null,
  overview: null,
  detail: null,
  points: {}, // revision name → [{seq, t, stable, panic, desired, ready, panicking}]
  offset: 0, // server clock − browser clock, ms
  es: null,
  logs: null, // {controller, revision}
  editor: null, // the traffic editor: {rows, dirty, specJSON}
  editorNotice: '', // what the last apply said, until the next edit
  expect: null, // {key, until}: the split just applied, until a detail shows it
  rateDrafts: {}, // trigger key → the input's element, kept across renders
};

// ---- small DOM helpers ----

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const svgNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// syncRows keeps tbody's rows in the order of items, one per key: rows
// are updated in place, so an input in one keeps its focus and value.
function syncRows(tbody, items, keyOf, create, update) {
  const old = new Map();
  for (const tr of Array.from(tbody.children)) old.set(tr.dataset.key, tr);
  let prev = null;
  for (const item of items) {
    const key = keyOf(item);
    let tr = old.get(key);
    if (tr) old.delete(key);
    else { tr = create(item); tr.dataset.key = key; }
    update(tr, item);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
}

function cell(tr, cls) { return tr.querySelector('.' + cls); }
function setText(e, text) { if (e.textContent !== text) e.textContent = text; }

// ---- formatting ----

function now() { return Date.now() + state.offset; }

function ago(t) {
  const s = Math.max(0, Math.round((now() - new Date(t).getTime()) / 1000));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

function until(t) {
  const s = Math.round((new Date(t).getTime() - now()) / 1000);
  if (s <= 0) return 'now';
  if (s < 60) return 'in ' + s + 's';
  if (s < 3600) return 'in ' + Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  return 'in ' + Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}

function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 2) + ' s';
  if (v >= 10) return Math.round(v) + ' ms';
  return v.toFixed(1) + ' ms';
}

function fmtRate(v) {
  if (v === null || v === undefined) return '–';
  return v >= 100 ? Math.round(v).toString() : v.toFixed(1);
}

function clockTime(t) { return new Date(t).toLocaleTimeString(); }

function fnKey(f) { return f.namespace + '/' + f.name; }
function fnHref(f) { return '#/functions/' + encodeURIComponent(f.namespace) + '/' + encodeURIComponent(f.name); }

function instancesCell(e, n) {
  e.classList.toggle('asleep', n === 0);
  e.classList.toggle('awake', n > 0);
  setText(e, n === 0 ? 'asleep' : String(n));
}

// colorOf gives each revision of a function a stable color, by age.
function colorOf(revision, all) {
  const i = all.indexOf(revision);
  return 'c' + ((i < 0 ? 0 : i) % 6);
}

function revisionNames(f) {
  // Revision names end in their number: sorting them is sorting by age.
  return Array.from(new Set(f.traffic.map((t) => t.revision))).sort();
}

function splitBar(f) {
  const all = revisionNames(f);
  const bar = el('div', { class: 'split', title: 'traffic split' });
  const legend = el('div', { class: 'split-legend' });
  for (const t of f.traffic) {
    if (t.percent > 0) {
      const seg = el('span', { class: colorOf(t.revision, all), text: t.percent + '%', 'data-revision': t.revision });
      seg.style.width = t.percent + '%';
      bar.append(seg);
    }
    legend.append(el('span', {}, el('i', { class: 'swatch ' + colorOf(t.revision, all) }),
      t.revision + ' ' + t.percent + '%' + (t.tag ? ' (' + t.tag + ')' : '') + (t.latest ? ' latest' : '') + '  '));
  }
  return [bar, legend];
}

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
    const cut = now() - keepPointsMs;
    for (const [rev, list] of Object.entries(pts)) {
      const have = state.points[rev] || [];
      state.points[rev] = have.concat(list).filter((p) => new Date(p.t).getTime() >= cut);
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

// section returns main's child with this id, created by make the first
// time: each view builds its frame once and then updates it in place.
function section(id, make) {
  let s = document.getElementById(id);
  if (!s) {
    s = make();
    s.id = id;
    document.getElementById('main').append(s);
  }
  return s;
}

// ---- functions ----

function renderFunctions() {
  const s = section('functions', () => el('section', {},
    el('h1', { text: 'Functions' }),
    el('table', { id: 'functions-table' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'Name' }), el('th', { text: 'URL' }), el('th', { text: 'Ready' }),
        el('th', { text: 'Latest ready' }), el('th', { text: 'Traffic' }), el('th', { class: 'num', text: 'Instances' }),
        el('th', { class: 'num', text: 'Req/s' }), el('th', { class: 'num', text: 'p95' }), el('th', { text: 'Last cold start' }))),
      el('tbody')),
    el('p', { class: 'empty', id: 'functions-empty', text: 'No functions yet: wake apply -f fn.yaml' })));
  const ov = state.overview;
  if (!ov) return;
  s.querySelector('#functions-empty').hidden = ov.functions.length > 0;
  syncRows(s.querySelector('tbody'), ov.functions, fnKey, (f) => el('tr', { 'data-fn': fnKey(f) },
    el('td', { class: 'name' }, el('a', { href: fnHref(f) })),
    el('td', { class: 'url mono' }, el('a', { target: '_blank', rel: 'noopener noreferrer' })),
    el('td', { class: 'ready' }), el('td', { class: 'latest mono' }), el('td', { class: 'traffic' }),
    el('td', { class: 'num instances' }), el('td', { class: 'num rps' }), el('td', { class: 'num p95' }),
    el('td', { class: 'cold' })), (tr, f) => {
    const a = cell(tr, 'name').firstChild;
    setText(a, f.namespace === 'default' ? f.name : f.namespace + '/' + f.name);
    const u = cell(tr, 'url').firstChild;
    u.href = f.url; setText(u, f.url);
    cell(tr, 'ready').replaceChildren(readyBadge(f));
    setText(cell(tr, 'latest'), f.latestReady || '–');
    cell(tr, 'traffic').replaceChildren(...splitBar(f));
    instancesCell(cell(tr, 'instances'), f.instances);
    setText(cell(tr, 'rps'), ov.requests ? fmtRate(f.rps) : 'n/a');
    setText(cell(tr, 'p95'), ov.requests ? fmtMs(f.p95) : 'n/a');
    const c = f.lastColdStart;
    setText(cell(tr, 'cold'), c ? ago(c.time) + ' · ' + fmtMs(c.total) + ' (' + c.revision + ')' : '–');
  });
}

function readyBadge(x) {
  return el('span', { class: 'badge ' + x.ready, title: [x.reason, x.message].filter(Boolean).join(': ') }, x.ready === 'True' ? 'Ready' : (x.reason || x.ready));
}

// ---- one function ----

function renderFunction() {
  const r = state.route;
  const s = section('function', () => el('section', {},
    el('p', {}, el('a', { href: '#/', text: '← Functions' })),
    el('h1', { id: 'fn-title', text: r.name }),
    el('div', { class: 'card summary', id: 'fn-summary' }),
    el('h2', { text: 'Revisions' }),
    el('table', { id: 'revisions-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Revision' }), el('th', { text: 'Ready' }), el('th', { class: 'num', text: 'Traffic' }),
        el('th', { text: 'Tags' }), el('th', { class: 'num', text: 'Instances' }), el('th', { class: 'num', text: 'Desired' }),
        el('th', { class: 'num', text: 'Req/s' }), el('th', { class: 'num', text: 'p95' }), el('th', { text: 'Autoscaler' }), el('th', { text: 'Created' }))),
      el('tbody')),
    el('h2', { text: 'Traffic split' }),
    el('div', { class: 'card', id: 'traffic-editor' }),
    el('h2', { text: 'Scaling' }),
    el('div', { class: 'charts', id: 'charts' }),
    el('h2', { text: 'Autoscaler decisions' }),
    el('table', { id: 'decisions-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Revision' }), el('th', { class: 'num', text: 'From' }),
        el('th', { class: 'num', text: 'To' }), el('th', { class: 'num', text: 'Ready' }), el('th', { text: 'Panic' }), el('th', { text: 'Why' }))),
      el('tbody')),
    el('h2', { text: 'Cold starts' }),
    el('table', { id: 'coldstarts-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Revision' }), el('th', { text: 'Instance' }),
        el('th', { class: 'num', text: 'Total' }), el('th', { class: 'num', text: 'Queue' }), el('th', { class: 'num', text: 'Start' }),
        el('th', { class: 'num', text: 'Ready' }), el('th', { class: 'num', text: 'Warm-up' }), el('th', { text: 'Phases' }))),
      el('tbody')),
    el('p', { class: 'empty', id: 'coldstarts-empty', text: 'No cold start yet.' }),
    el('h2', {}, 'Logs ', el('select', { id: 'logs-revision', onchange: () => startLogs(true) })),
    el('pre', { class: 'logs', id: 'logs' })));
  const d = state.detail;
  if (!d) return;
  if (d.missing) {
    s.querySelector('#fn-summary').replaceChildren(el('p', { class: 'errors', text: 'There is no function ' + d.namespace + '/' + d.name + '.' }));
    return;
  }
  const f = d.function;
  setText(s.querySelector('#fn-title'), f.namespace + '/' + f.name);
  s.querySelector('#fn-summary').replaceChildren(
    el('div', {}, el('b', {}, readyBadge(f)), el('span', { text: f.message || 'status' })),
    el('div', {}, el('b', { class: 'mono' }, el('a', { href: f.url, target: '_blank', rel: 'noopener noreferrer', text: f.url })), el('span', { text: 'URL' })),
    el('div', {}, el('b', { class: 'instances', id: 'fn-instances' }), el('span', { text: 'instances ready (' + f.desired + ' desired)' })),
    el('div', {}, el('b', { text: state.overview && !state.overview.requests ? 'n/a' : fmtRate(f.rps) }), el('span', { text: 'requests/s (10 s)' })),
    el('div', {}, el('b', { text: state.overview && !state.overview.requests ? 'n/a' : fmtMs(f.p95) }), el('span', { text: 'p95, warm requests' })),
    el('div', { class: 'split-wrap' }, ...splitBar(f)));
  instancesCell(s.querySelector('#fn-instances'), f.instances);

  syncRows(s.querySelector('#revisions-table tbody'), d.revisions, (r) => r.name, (r) => el('tr', { 'data-revision': r.name },
    el('td', { class: 'mono name', text: r.name }), el('td', { class: 'ready' }), el('td', { class: 'num percent' }), el('td', { class: 'tags' }),
    el('td', { class: 'num instances' }), el('td', { class: 'num desired' }), el('td', { class: 'num rps' }), el('td', { class: 'num p95' }),
    el('td', { class: 'scaler' }), el('td', { class: 'created' })), (tr, r) => {
    cell(tr, 'ready').replaceChildren(readyBadge(r));
    setText(cell(tr, 'percent'), r.percent + '%');
    setText(cell(tr, 'tags'), (r.tags || []).join(', ') || '–');
    instancesCell(cell(tr, 'instances'), r.actual);
    setText(cell(tr, 'desired'), String(r.desired));
    setText(cell(tr, 'rps'), fmtRate(r.rps));
    setText(cell(tr, 'p95'), fmtMs(r.p95));
    const a = r.autoscaling;
    setText(cell(tr, 'scaler'), a ? a.metric + ' ' + a.observedStable.toFixed(2) + ' / target ' + a.target.toFixed(1) + (a.panic ? ' · PANIC' : '') : '–');
    setText(cell(tr, 'created'), ago(r.created));
  });

  renderEditor(d);
  renderCharts();

  const decisions = [];
  for (const r of d.revisions) for (const x of (r.autoscaling && r.autoscaling.decisions) || []) decisions.push(Object.assign({ revision: r.name }, x));
  decisions.sort((a, b) => new Date(b.time) - new Date(a.time));
  syncRows(s.querySelector('#decisions-table tbody'), decisions.slice(0, 30), (x) => x.revision + x.time, (x) => el('tr', {},
    el('td', { text: clockTime(x.time) }), el('td', { class: 'mono', text: x.revision }), el('td', { class: 'num', text: x.from }),
    el('td', { class: 'num', text: x.to }), el('td', { class: 'num', text: x.ready }), el('td', { text: x.panic ? 'yes' : '' }),
    el('td', { text: x.reason })), () => {});

  const colds = [];
  for (const r of d.revisions) colds.push(...r.coldStarts);
  colds.sort((a, b) => new Date(b.time) - new Date(a.time));
  s.querySelector('#coldstarts-empty').hidden = colds.length > 0;
  syncRows(s.querySelector('#coldstarts-table tbody'), colds, (c) => c.revision + c.time, (c) => el('tr', {},
    el('td', { class: 'when', title: new Date(c.time).toISOString() }), el('td', { class: 'mono', text: c.revision }), el('td', { class: 'mono', text: c.instance }),
    el('td', { class: 'num', text: fmtMs(c.total) }), el('td', { class: 'num', text: fmtMs(c.queue) }), el('td', { class: 'num', text: fmtMs(c.start) }),
    el('td', { class: 'num', text: fmtMs(c.ready) }), el('td', { class: 'num', text: fmtMs(c.warmup) }), el('td', {}, phases(c))),
  (tr, c) => setText(tr.querySelector('.when'), clockTime(c.time) + ' (' + ago(c.time) + ')'));

  if (!state.logs) startLogs(false);
}

function phases(c) {
  const bar = el('div', { class: 'phases', title: 'queue, start, ready, warm-up' });
  const total = Math.max(c.total, c.queue + c.start + c.ready + c.warmup, 0.001);
  for (const [k, v] of [['queue', c.queue], ['start', c.start], ['ready', c.ready], ['warmup', c.warmup]]) {
    const seg = el('span', { class: 'ph-' + k, title: k + ' ' + fmtMs(v) });
    seg.style.width = (100 * v / total) + '%';
    bar.append(seg);
  }
  return bar;
}

// ---- the traffic editor ----

// editorRows lists one row per target a user can give traffic or a tag:
// "@latest" (the latest ready revision, whichever it is) and each
// revision, with what spec.traffic gives it now.
function editorRows(d) {
  const rows = [{ key: '@latest', latest: true, label: '@latest', percent: 0, tags: [] }];
  for (const r of d.revisions.slice().reverse()) rows.push({ key: r.name, revision: r.name, label: r.name, percent: 0, tags: [] });
  const byKey = new Map(rows.map((r) => [r.key, r]));
  for (const t of d.spec) {
    const key = t.latestRevision ? '@latest' : t.revisionName;
    let row = byKey.get(key);
    if (!row) { // a target naming a revision not listed (deleted)
      row = { key, revision: key, label: key, percent: 0, tags: [] };
      rows.push(row); byKey.set(key, row);
    }
    row.percent += t.percent || 0;
    if (t.tag) row.tags.push(t.tag);
  }
  return rows;
}

// specKey is a split in a form both sides agree on, whatever the order
// of fields the server writes.
function specKey(targets) {
  return targets.map((t) => [t.tag || '', t.revisionName || '', !!t.latestRevision, t.percent || 0].join('|')).join(',');
}

function renderEditor(d) {
  const box = document.getElementById('traffic-editor');
  // A detail read before an apply landed may arrive after its answer:
  // until the split applied shows (or 5 s pass), older ones are ignored.
  if (state.expect) {
    if (specKey(d.spec) !== state.expect.key && Date.now() < state.expect.until) return;
    state.expect = null;
  }
  const specJSON = JSON.stringify(d.spec) + d.revisions.map((r) => r.name).join();
  const ed = state.editor;
  if (ed && ed.dirty) {
    if (ed.specJSON !== specJSON) box.querySelector('.stale').hidden = false;
    return;
  }
  if (ed && ed.specJSON === specJSON) {
    const latest = box.querySelector('[data-row="@latest"] .label');
    if (latest) setText(latest, '@latest → ' + (d.function.latestReady || 'none ready'));
    return;
  }
  const rows = editorRows(d);
  state.editor = { rows, dirty: false, specJSON };
  const total = el('span', { class: 'total', id: 'traffic-total' });
  const errors = el('div', { class: 'errors', id: 'traffic-errors', role: 'alert' });
  const notice = el('span', { class: 'notice', id: 'traffic-notice', text: state.editorNotice });
  const apply = el('button', { class: 'primary', id: 'traffic-apply', type: 'button', text: 'Apply split' });
  const reset = el('button', { type: 'button', id: 'traffic-reset', text: 'Reset' });
  const update = () => {
    const sum = rows.reduce((a, r) => a + r.percent, 0);
    total.textContent = 'Total ' + sum + '%';
    total.className = 'total ' + (sum === 100 ? 'ok' : 'bad');
  };
  const touch = () => { state.editor.dirty = true; state.editorNotice = ''; notice.textContent = ''; update(); };
  const tbody = el('tbody');
  for (const row of rows) {
    const range = el('input', { type: 'range', min: 0, max: 100, step: 1, 'aria-label': row.label + ' percent' });
    const num = el('input', { type: 'number', min: 0, max: 100, step: 1, class: 'percent', 'aria-label': row.label + ' percent' });
    const tag = el('input', { type: 'text', class: 'tag', placeholder: 'tag', 'aria-label': row.label + ' tags', size: 14 });
    range.value = num.value = row.percent;
    tag.value = row.tags.join(', ');
    range.addEventListener('input', () => { row.percent = Number(range.value); num.value = range.value; touch(); });
    num.addEventListener('input', () => { row.percent = num.value === '' ? 0 : Number(num.value); range.value = num.value; touch(); });
    tag.addEventListener('input', () => { row.tags = tag.value.split(',').map((t) => t.trim()).filter(Boolean); touch(); });
    const label = row.latest ? '@latest → ' + (d.function.latestReady || 'none ready') : row.label;
    tbody.append(el('tr', { 'data-row': row.key }, el('td', { class: 'mono label', text: label }), el('td', {}, range), el('td', {}, num, ' %'), el('td', {}, tag)));
  }
  apply.addEventListener('click', async () => {
    apply.disabled = true;
    errors.replaceChildren();
    notice.textContent = '';
    try {
      const targets = targetsOf(rows);
      const res = await fetch('/ui/api/functions/' + encodeURIComponent(d.namespace) + '/' + encodeURIComponent(d.name) + '/traffic', {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ traffic: targets }),
      });
      const body = await res.json().catch(() => ({ message: res.statusText }));
      if (!res.ok) {
        showProblem(errors, body);
        return;
      }
      state.editor.dirty = false;
      state.editor.specJSON = ''; // rebuilt from the next details
      state.editorNotice = 'Split applied.'; // until the next edit
      state.expect = { key: specKey(targets), until: Date.now() + 5000 };
      notice.textContent = state.editorNotice;
    } catch (e) {
      errors.textContent = 'The server could not be reached: ' + e;
    } finally {
      apply.disabled = false;
    }
  });
  reset.addEventListener('click', () => { state.editor = null; renderEditor(state.detail); });
  box.replaceChildren(
    el('table', { class: 'editor' }, el('thead', {}, el('tr', {}, el('th', { text: 'Target' }), el('th', { text: 'Share' }), el('th', { text: 'Percent' }), el('th', { text: 'Tags (comma separated)' }))), tbody),
    el('div', { class: 'actions' }, total, apply, reset, notice),
    el('p', { class: 'muted stale', hidden: true, text: 'The split changed on the server while you edited: Reset shows it.' }),
    errors);
  update();
}

// targetsOf turns the editor's rows into spec.traffic: a row with a share
// or a tag is a target; a second tag on one row is a target of 0%.
function targetsOf(rows) {
  const out = [];
  for (const r of rows) {
    if (r.percent === 0 && r.tags.length === 0) continue;
    const base = r.latest ? { latestRevision: true } : { revisionName: r.revision };
    const tags = r.tags.length ? r.tags : [''];
    tags.forEach((tag, i) => {
      const t = Object.assign({}, base, { percent: i === 0 ? r.percent : 0 });
      if (tag) t.tag = tag;
      out.push(t);
    });
  }
  return out;
}

function showProblem(box, p) {
  box.replaceChildren(el('div', { text: p.message || 'refused' }));
  if (p.errors && p.errors.length) box.append(el('ul', {}, p.errors.map((e) => el('li', { class: 'problem', text: e }))));
}

// ---- charts ----

function renderCharts() {
  const box = document.getElementById('charts');
  const d = state.detail;
  if (!box || !d || d.missing) return;
  // A chart for each revision that serves traffic or runs instances, or
  // did within the chart's span.
  const cut = now() - chartSpanMs;
  const shown = d.revisions.filter((r) => r.percent > 0 || r.actual > 0 || r.desired > 0 ||
    (state.points[r.name] || []).some((p) => new Date(p.t).getTime() >= cut && (p.ready > 0 || p.desired > 0)));
  const keep = new Set(shown.map((r) => 'chart-' + r.name));
  for (const c of Array.from(box.children)) if (!keep.has(c.id)) c.remove();
  for (const r of shown) {
    let c = document.getElementById('chart-' + r.name);
    if (!c) {
      c = el('div', { class: 'card chart', id: 'chart-' + r.name, 'data-revision': r.name },
        el('b', { class: 'mono', text: r.name }),
        svg('svg', { viewBox: '0 0 600 190', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'scaling of ' + r.name }),
        el('div', { class: 'legend' },
          ...Object.entries(seriesStyle).map(([, st]) => el('span', {}, el('i', { class: st.cls }), st.label)),
          el('span', {}, el('i', { class: 'panic-key' }), 'panic mode')));
      box.append(c);
    }
    drawChart(c.querySelector('svg'), state.points[r.name] || []);
  }
}

// seriesStyle is each line of a chart: its color (the legend's class
// paints the same), whether it steps (counts) or slopes (averages).
const seriesStyle = {
  panic: { label: 'concurrency (panic window)', cls: 'c4', color: '#ee46bc', step: false, width: 1.2 },
  stable: { label: 'concurrency (stable window)', cls: 'c0', color: '#2f6fed', step: false, width: 2 },
  desired: { label: 'desired', cls: 'c1', color: '#f79009', step: true, width: 1.6 },
  ready: { label: 'ready', cls: 'c3', color: '#12b76a', step: true, width: 2.4 },
};

function drawChart(s, pts) {
  const W = 600, H = 190, L = 34, R = 8, T = 8, B = 20;
  const end = now(), start = end - chartSpanMs;
  const x = (t) => L + (W - L - R) * (new Date(t).getTime() - start) / chartSpanMs;
  const visible = pts.filter((p) => new Date(p.t).getTime() >= start - 2000);
  let top = 1;
  for (const p of visible) top = Math.max(top, p.stable, p.panic, p.desired, p.ready);
  top = Math.ceil(top * 1.15);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  s.replaceChildren();
  // panic mode: shaded spans
  let from = null;
  for (let i = 0; i <= visible.length; i++) {
    const p = visible[i];
    if (p && p.panicking && from === null) from = p.t;
    if ((!p || !p.panicking) && from !== null) {
      const x0 = Math.max(L, x(from)), x1 = p ? x(p.t) : W - R;
      s.append(svg('rect', { x: x0, y: T, width: Math.max(1, x1 - x0), height: H - T - B, fill: '#fee4e2', class: 'panic' }));
      from = null;
    }
  }
  // axes
  for (const v of [0, Math.round(top / 2), top]) {
    s.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#eaecf0' }));
    const label = svg('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#667085' });
    label.textContent = v;
    s.append(label);
  }
  for (let m = 0; m <= 5; m++) {
    const t = start + m * 60000;
    const label = svg('text', { x: x(t), y: H - 5, 'text-anchor': m === 0 ? 'start' : m === 5 ? 'end' : 'middle', 'font-size': 10, fill: '#667085' });
    label.textContent = m === 5 ? 'now' : '-' + (5 - m) + 'm';
    s.append(label);
  }
  const line = (key, color, step, width) => {
    if (!visible.length) return;
    let d = '';
    visible.forEach((p, i) => {
      const px = Math.max(L, x(p.t)).toFixed(1), py = y(p[key]).toFixed(1);
      if (i === 0) d += 'M' + px + ' ' + py;
      else if (step) d += 'H' + px + 'V' + py;
      else d += 'L' + px + ' ' + py;
    });
    d += 'H' + (W - R);
    s.append(svg('path', { d, fill: 'none', stroke: color, 'stroke-width': width, class: 'series-' + key }));
  };
  for (const [key, st] of Object.entries(seriesStyle)) line(key, st.color, st.step, st.width);
}

// ---- logs ----

function stopLogs() {
  if (state.logs) state.logs.controller.abort();
  state.logs = null;
}

async function startLogs(chosen) {
  const d = state.detail;
  const sel = document.getElementById('logs-revision');
  const pre = document.getElementById('logs');
  if (!d || d.missing || !sel || !pre) return;
  if (!d.logs) { pre.textContent = 'This runtime keeps no logs.'; state.logs = { controller: new AbortController() }; return; }
  const names = d.revisions.map((r) => r.name);
  if (!chosen || !names.includes(sel.value)) {
    sel.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
    // The newest revision with instances running, else the latest ready.
    const running = d.revisions.find((r) => r.actual > 0);
    sel.value = (running && running.name) || d.function.latestReady || d.function.latestCreated || names[0] || '';
  }
  stopLogs();
  const controller = new AbortController();
  state.logs = { controller, revision: sel.value };
  pre.textContent = '';
  const q = new URLSearchParams({ function: d.namespace + '/' + d.name, revision: sel.value, tail: '200' });
  try {
    const res = await fetch('/ui/api/logs?' + q, { signal: controller.signal, cache: 'no-store' });
    if (!res.ok) {
      const p = await res.json().catch(() => ({ message: res.statusText }));
      pre.textContent = p.message;
      return;
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      let text = pre.textContent + dec.decode(value, { stream: true });
      if (text.length > maxLogChars) text = text.slice(text.length - maxLogChars);
      pre.textContent = text;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
  } catch (e) {
    if (e.name !== 'AbortError') pre.append('\n(logs stopped: ' + e + ')');
  }
}

// ---- triggers ----

function renderTriggers() {
  const s = section('triggers', () => el('section', {},
    el('h1', { text: 'Triggers' }),
    el('table', { id: 'triggers-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Name' }), el('th', { text: 'Source' }), el('th', { text: 'Sink' }), el('th', { text: 'Ready' }),
        el('th', { class: 'num', text: 'Delivered' }), el('th', { class: 'num', text: 'Retried' }), el('th', { class: 'num', text: 'Dead-lettered' }),
        el('th', { class: 'num', text: 'Failed' }), el('th', { text: 'Kafka lag' }), el('th', { text: 'Next fire' }), el('th', { text: 'Rate limit' }))),
      el('tbody')),
    el('p', { class: 'empty', id: 'triggers-empty', text: 'No triggers.' })));
  const ov = state.overview;
  if (!ov) return;
  s.querySelector('#triggers-empty').hidden = ov.triggers.length > 0;
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
    setText(current, t.rateLimit === null || t.rateLimit === undefined ? 'none' : t.rateLimit + '/s');
  });
}

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
