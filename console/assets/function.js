// wake console: the page of one function — its revisions, the traffic
// editor, the scaling charts, the autoscaler's decisions, cold starts and
// logs.
import { chartSpanMs, maxLogChars, pointsFrom, state, el, svg, syncRows, cell, setText, now, ago, fmtMs, fmtP95, fmtRate, clockTime, instancesCell, fnFailing, fnWhy, splitBar, section, readyBadge, note } from './lib.js';

// ---- one function ----

export function renderFunction() {
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
    el('p', { class: 'empty', id: 'revisions-empty', hidden: true, text: 'No revision yet: the first is made when the function is applied.' }),
    el('h2', { text: 'Traffic split' }),
    el('div', { class: 'card', id: 'traffic-editor' }),
    el('h2', { text: 'Scaling' }),
    el('div', { class: 'charts', id: 'charts' }),
    el('h2', { text: 'Autoscaler decisions' }),
    el('table', { id: 'decisions-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Revision' }), el('th', { class: 'num', text: 'From' }),
        el('th', { class: 'num', text: 'To' }), el('th', { class: 'num', text: 'Ready' }), el('th', { text: 'Panic' }), el('th', { text: 'Why' }))),
      el('tbody')),
    el('p', { class: 'empty', id: 'decisions-empty', hidden: true, text: 'No scaling decision yet: the autoscaler records one each time it changes a revision\'s instances.' }),
    el('h2', { text: 'Cold starts' }),
    el('table', { id: 'coldstarts-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Revision' }), el('th', { text: 'Instance' }),
        el('th', { class: 'num', text: 'Total' }), el('th', { class: 'num', text: 'Queue' }), el('th', { class: 'num', text: 'Start' }),
        el('th', { class: 'num', text: 'Ready' }), el('th', { class: 'num', text: 'Warm-up' }), el('th', { text: 'Phases' }))),
      el('tbody')),
    el('p', { class: 'empty', id: 'coldstarts-empty', hidden: true, text: 'No cold start yet: a request that finds no instance ready starts one, and it is listed here with its phases.' }),
    el('h2', {}, 'Logs of ', el('select', { id: 'logs-revision', 'aria-label': 'whose logs', onchange: () => { if (state.detail) syncLogs(state.detail); } })),
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
    el('div', { class: 'state' }, el('b', {}, readyBadge(f)),
      el('span', { class: 'message', text: f.revision && f.ready !== 'True' ? f.revision + ': ' + (f.message || f.reason) : f.message || 'status' }),
      ...(f.notes || []).map((n) => note('span', n))),
    el('div', {}, el('b', { class: 'mono' }, el('a', { href: f.url, target: '_blank', rel: 'noopener noreferrer', text: f.url })), el('span', { text: 'URL' })),
    el('div', {}, el('b', { class: 'instances', id: 'fn-instances' }), el('span', { text: 'instances ready (' + f.desired + ' desired)' })),
    el('div', {}, el('b', { text: state.overview && !state.overview.requests ? 'n/a' : fmtRate(f.rps) }), el('span', { text: 'requests/s (10 s)' })),
    el('div', {}, el('b', { text: state.overview && !state.overview.requests ? 'n/a' : fmtP95(f) }), el('span', { text: 'p95 (10 s), cold starts included' })),
    el('div', { class: 'split-wrap' }, ...splitBar(f)));
  instancesCell(s.querySelector('#fn-instances'), f.instances, f.starting, fnFailing(f), fnWhy(f));
  s.querySelector('#revisions-empty').hidden = d.revisions.length > 0;

  syncRows(s.querySelector('#revisions-table tbody'), d.revisions, (r) => r.name, (r) => el('tr', { 'data-revision': r.name },
    el('td', { class: 'mono name', text: r.name }), el('td', { class: 'ready' }), el('td', { class: 'num percent' }), el('td', { class: 'tags' }),
    el('td', { class: 'num instances' }), el('td', { class: 'num desired' }), el('td', { class: 'num rps' }), el('td', { class: 'num p95' }),
    el('td', { class: 'scaler' }), el('td', { class: 'created' })), (tr, r) => {
    cell(tr, 'ready').replaceChildren(readyBadge(r));
    setText(cell(tr, 'percent'), r.percent + '%');
    setText(cell(tr, 'tags'), (r.tags || []).join(', ') || '–');
    instancesCell(cell(tr, 'instances'), r.actual, r.desired > 0, r.ready === 'False', r.reason + (r.message ? ': ' + r.message : ''));
    setText(cell(tr, 'desired'), String(r.desired));
    setText(cell(tr, 'rps'), fmtRate(r.rps));
    setText(cell(tr, 'p95'), fmtP95(r));
    const a = r.autoscaling;
    setText(cell(tr, 'scaler'), a ? a.metric + ' ' + a.observedStable.toFixed(2) + ' / target ' + a.target.toFixed(1) + (a.panic ? ' · PANIC' : '') : '–');
    setText(cell(tr, 'created'), ago(r.created));
  });

  renderEditor(d);
  renderCharts();

  const decisions = [];
  for (const r of d.revisions) for (const x of (r.autoscaling && r.autoscaling.decisions) || []) decisions.push(Object.assign({ revision: r.name }, x));
  decisions.sort((a, b) => new Date(b.time) - new Date(a.time));
  s.querySelector('#decisions-empty').hidden = decisions.length > 0;
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

  syncLogs(d);
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

// editorRows are the server's rows (detailView.targets): one per
// revision, the one @latest resolves to able to follow it; copied, as
// the editor changes them.
function editorRows(d) {
  return d.targets.map((t) => Object.assign({}, t, { tags: t.tags.slice(), label: t.key === '@latest' ? '@latest → ' + (t.revision || 'none yet') : t.revision }));
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
  const specJSON = JSON.stringify(d.spec) + JSON.stringify(d.targets);
  const ed = state.editor;
  if (ed && ed.dirty) {
    if (ed.specJSON !== specJSON) box.querySelector('.stale').hidden = false;
    return;
  }
  if (ed && ed.specJSON === specJSON) return;
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
    // The revision @latest goes to may hold its share as @latest (it moves
    // to the next revision ready) or pinned (it stays).
    let follow = null;
    if (row.canFollow) {
      const check = el('input', { type: 'checkbox', class: 'follow', 'aria-label': row.label + ' follows @latest' });
      check.checked = !!row.latest;
      check.addEventListener('change', () => { row.latest = check.checked; touch(); });
      follow = el('label', { class: 'follow', title: 'checked: the share is @latest\'s, and moves to the next revision ready; unchecked: it stays on ' + row.revision }, check, ' follows @latest');
    }
    tbody.append(el('tr', { 'data-row': row.key }, el('td', { class: 'mono label', text: row.label }), el('td', {}, follow),
      el('td', {}, range), el('td', { class: 'nowrap' }, num, ' %'), el('td', {}, tag)));
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
    el('table', { class: 'editor' }, el('thead', {}, el('tr', {}, el('th', { text: 'Revision' }), el('th', { text: '@latest' }), el('th', { text: 'Share' }), el('th', { text: 'Percent' }), el('th', { text: 'Tags (comma separated)' }))), tbody),
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

export function renderCharts() {
  const box = document.getElementById('charts');
  const d = state.detail;
  if (!box || !d || d.missing) return;
  // A chart for each revision that serves traffic or runs instances, or
  // did within the chart's span.
  const cut = now() - chartSpanMs;
  const shown = d.revisions.filter((r) => r.percent > 0 || r.actual > 0 || r.desired > 0 ||
    pointsFrom(state.points[r.name] || [], cut).some((p) => p.ready > 0 || p.desired > 0));
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
  const x = (t) => Math.max(L, L + (W - L - R) * (new Date(t).getTime() - start) / chartSpanMs);
  const visible = pointsFrom(pts, start);
  s.dataset.first = visible.length ? new Date(visible[0].time).getTime() : ''; // for tests: where the line begins
  let top = 1;
  for (const p of visible) top = Math.max(top, p.stable, p.panic, p.desired, p.ready);
  top = Math.ceil(top * 1.15);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  s.replaceChildren();
  // panic mode: shaded spans
  let from = null;
  for (let i = 0; i <= visible.length; i++) {
    const p = visible[i];
    if (p && p.panicking && from === null) from = p.time;
    if ((!p || !p.panicking) && from !== null) {
      const x0 = x(from), x1 = p ? x(p.time) : W - R;
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
      const px = x(p.time).toFixed(1), py = y(p[key]).toFixed(1);
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

export function stopLogs() {
  if (state.logs) state.logs.controller.abort();
  state.logs = null;
}

// takingRequests lists the revisions with a share of the traffic or a
// tag, oldest first: whose logs the pane shows unless one is picked (the
// server follows them as the split moves, as wake logs -f does).
function takingRequests(d) {
  return d.revisions.filter((r) => r.percent > 0 || (r.tags || []).length > 0).map((r) => r.name).reverse();
}

// syncLogs keeps the list of whose logs up to date, and the pane on what
// it says: every revision taking requests (""), or the one picked.
function syncLogs(d) {
  const sel = document.getElementById('logs-revision');
  if (!sel) return;
  const options = [['', 'every revision with traffic (' + (takingRequests(d).join(', ') || 'none yet') + ')']].concat(d.revisions.map((r) => [r.name, r.name]));
  const key = JSON.stringify(options);
  if (sel.dataset.options !== key) {
    const keep = sel.value;
    sel.replaceChildren(...options.map(([v, text]) => el('option', { value: v, text })));
    sel.dataset.options = key;
    sel.value = options.some(([v]) => v === keep) ? keep : '';
  }
  if (!state.logs || state.logs.revision !== sel.value) startLogs(sel.value);
}

async function startLogs(revision) {
  const d = state.detail;
  const sel = document.getElementById('logs-revision');
  const pre = document.getElementById('logs');
  if (!d || d.missing || !sel || !pre) return;
  stopLogs();
  const controller = new AbortController();
  state.logs = { controller, revision };
  if (!d.logs) { pre.textContent = 'This runtime keeps no logs.'; return; }
  pre.textContent = '';
  const q = new URLSearchParams({ function: d.namespace + '/' + d.name, tail: '200' });
  if (revision) q.set('revision', revision);
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
