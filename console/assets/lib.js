// wake console: what every view shares — the page's state, DOM helpers
// that build with textContent only (nothing the server sends is parsed as
// HTML), and formatting.

export const chartSpanMs = 5 * 60 * 1000; // what a chart shows
export const maxLogChars = 200000;

export const state = {
  route: null,
  overview: null,
  detail: null,
  points: {}, // revision name → the autoscaler's trace: [{time, stable, panic, desired, ready, panicking}], oldest first
  offset: 0, // server clock − browser clock, ms
  es: null,
  logs: null, // {controller, revision}: the pane's stream, of one revision or ("") of those taking requests
  editor: null, // the traffic editor: {rows, dirty, specJSON}
  editorNotice: '', // what the last apply said, until the next edit
  expect: null, // {key, until}: the split just applied, until a detail shows it
};

// ---- small DOM helpers ----

export function el(tag, props, ...children) {
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
export function svg(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// syncRows keeps tbody's rows in the order of items, one per key: rows
// are updated in place, so an input in one keeps its focus and value.
export function syncRows(tbody, items, keyOf, create, update) {
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

export function cell(tr, cls) { return tr.querySelector('.' + cls); }
export function setText(e, text) { if (e.textContent !== text) e.textContent = text; }

// ---- formatting ----

export function now() { return Date.now() + state.offset; }

export function ago(t) {
  const s = Math.max(0, Math.round((now() - new Date(t).getTime()) / 1000));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

export function until(t) {
  const s = Math.round((new Date(t).getTime() - now()) / 1000);
  if (s <= 0) return 'now';
  if (s < 60) return 'in ' + s + 's';
  if (s < 3600) return 'in ' + Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  return 'in ' + Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}

// fmtMs joins a number to its unit with a no-break space: "1.5 ms" is
// never cut in two at the end of a line.
export function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 2) + '\u00a0s';
  if (v >= 10) return Math.round(v) + '\u00a0ms';
  return v.toFixed(1) + '\u00a0ms';
}

// fmtP95 is a window's p95 (of every request, cold ones included) and
// how many of them waited for an instance to start.
export function fmtP95(w) {
  return fmtMs(w.p95) + (w.cold > 0 ? ' · ' + w.cold + ' cold' : '');
}

export function fmtRate(v) {
  if (v === null || v === undefined) return '–';
  return v >= 100 ? Math.round(v).toString() : v.toFixed(1);
}

export function clockTime(t) { return new Date(t).toLocaleTimeString(); }

export function fnKey(f) { return f.namespace + '/' + f.name; }
export function fnHref(f) { return '#/functions/' + encodeURIComponent(f.namespace) + '/' + encodeURIComponent(f.name); }

// instancesCell shows how many instances are ready, and at zero why:
// "failing" when the revisions requests go to fail (the badge says why),
// "starting" while they want instances and none is ready yet, "asleep"
// when none is wanted (scaled to zero: the next request wakes one).
export function instancesCell(e, n, starting, failing, why) {
  const st = n > 0 ? 'awake' : failing ? 'failing' : starting ? 'starting' : 'asleep';
  for (const c of ['awake', 'failing', 'starting', 'asleep']) e.classList.toggle(c, c === st);
  e.title = st === 'failing' ? why || '' : st === 'starting' ? 'wanted, none ready yet' : '';
  setText(e, st === 'awake' ? String(n) : st);
}

// fnFailing says whether the revisions a function's requests go to fail,
// and why (a rejected spec is no failure of its instances).
export function fnFailing(f) { return f.ready === 'False' && !!f.revision; }
export function fnWhy(f) { return f.revision + ': ' + (f.reason || '') + (f.message ? ': ' + f.message : ''); }

// colorOf gives each revision of a function a stable color, by age.
export function colorOf(revision, all) {
  const i = all.indexOf(revision);
  return 'c' + ((i < 0 ? 0 : i) % 6);
}

function revisionNames(f) {
  // Revision names end in their number: sorting them is sorting by age.
  return Array.from(new Set(f.traffic.map((t) => t.revision))).sort();
}

export function splitBar(f) {
  const all = revisionNames(f);
  const bar = el('div', { class: 'split', title: 'traffic split' });
  const legend = el('div', { class: 'split-legend' });
  for (const t of f.traffic) {
    if (t.percent > 0) {
      // A share grows from its label's width, never under it: a 5% share
      // still shows "5%" whole, and the others share what is left.
      const seg = el('span', { class: colorOf(t.revision, all), text: t.percent + '%', 'data-revision': t.revision, title: t.revision + ' ' + t.percent + '%' });
      seg.style.flexGrow = String(t.percent);
      bar.append(seg);
    }
    legend.append(el('span', { class: 'share' }, el('i', { class: 'swatch ' + colorOf(t.revision, all) }),
      t.revision + ' ' + t.percent + '%' + (t.tag ? ' (' + t.tag + ')' : '') + (t.latest ? ' latest' : '')));
  }
  return [bar, legend];
}

// section returns main's child with this id, created by make the first
// time: each view builds its frame once and then updates it in place.
export function section(id, make) {
  let s = document.getElementById(id);
  if (!s) {
    s = make();
    s.id = id;
    document.getElementById('main').append(s);
  }
  return s;
}

export function readyBadge(x) {
  const title = (x.revision ? x.revision + ': ' : '') + [x.reason, x.message].filter(Boolean).join(': ');
  return el('span', { class: 'badge ' + x.ready, title }, x.ready === 'True' ? 'Ready' : (x.reason || x.ready));
}

// note is a revision without traffic that is not well, as a line:
// "hello-00003 (no traffic): CrashLoopBackOff", its message on hover.
export function note(tag, n) {
  const where = n.tags && n.tags.length ? 'no share, tag ' + n.tags.join(', ') : 'no traffic';
  return el(tag, { class: 'note ' + n.ready, title: n.message || '' }, el('span', { class: 'nowrap', text: n.revision }),
    ' (' + where + '): ' + (n.reason || (n.ready === 'Unknown' ? 'not ready yet' : n.ready)));
}

// stateCell is a function's badge (what a request meets) and a note for
// each revision without traffic that is not well.
export function stateCell(f) {
  return [readyBadge(f), ...(f.notes || []).map((n) => note('div', n))];
}

// pointsFrom returns the trace points from start (ms) on, led by the one
// holding at start: a point holds until the next, so an idle revision's
// single point from long ago still draws its line across the chart.
export function pointsFrom(pts, start) {
  let i = pts.length;
  while (i > 0 && new Date(pts[i - 1].time).getTime() > start) i--;
  return pts.slice(Math.max(0, i - 1));
}
