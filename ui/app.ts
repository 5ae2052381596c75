// app.ts: the store page. Reads the store through the Engine API (api.ts), lays it out
// as rows (model.ts), draws only the rows in view (a store with 5,000 layers keeps a few
// dozen rows in the DOM), and redraws when the events stream says something changed,
// whoever changed it (the CLI, the API, another page). Holds no state of its own beyond
// the last answers and the selection.
import './style.css';
import { api, followEvents, ApiError, type DiskUsage, type Info, type LayerFiles } from './api.js';
import {
  ANONYMOUS_LABEL, CHANGE_KIND, buildRows, containerName, humanSize, imageName, short, volumeUsers,
  type Row, type StoreData,
} from './model.js';

const ROW_H = 26;
const INDENT = 14;
const MAX_INDENT_DEPTH = 30;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const tree = $<HTMLDivElement>('tree');
const spacer = tree.querySelector('.spacer') as HTMLDivElement;
const detail = $<HTMLDivElement>('detail');
const volumesEl = $<HTMLUListElement>('volumes');
const statusEl = $<HTMLDivElement>('status');
const filterEl = $<HTMLInputElement>('filter');

type Selection = { kind: 'layer' | 'image' | 'container' | 'volume'; id: string } | null;

let data: StoreData | null = null;
let info: Info | null = null;
let df: DiskUsage | null = null;
let rows: Row[] = [];
let active = 0;
let selection: Selection = null;
let detailToken = 0;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function status(msg: string): void {
  statusEl.textContent = msg;
}

// ---- loading ----

let loading: Promise<void> | null = null;
let again = false;

/** Loads everything; a call while a load runs makes one more load after it. */
function refresh(): Promise<void> {
  if (loading) { again = true; return loading; }
  loading = (async () => {
    try {
      const [graph, images, containers, volumes, inf, usage] = await Promise.all([
        api.graph(), api.images(), api.containers(), api.volumes(), api.info(), api.df().catch(() => null),
      ]);
      const volumeSizes = new Map<string, number>();
      for (const v of usage?.Volumes ?? []) if (v.UsageData && v.UsageData.Size >= 0) volumeSizes.set(v.Name, v.UsageData.Size);
      data = { graph, images, containers, volumes, volumeSizes };
      info = inf;
      df = usage;
      render();
      status(`Updated ${new Date().toLocaleTimeString()}: ${graph.layers.length} layers, ${images.length} images, ${containers.length} containers, ${volumes.length} volumes.`);
    } catch (err) {
      status(`Could not read the store: ${(err as Error).message}`);
    } finally {
      loading = null;
      if (again) { again = false; void refresh(); }
    }
  })();
  return loading;
}

let pending: ReturnType<typeof setTimeout> | null = null;
/** Many events arrive together (a load adds several layers): one reload for a burst. */
function scheduleRefresh(): void {
  if (pending) return;
  pending = setTimeout(() => { pending = null; void refresh(); }, 150);
}

// ---- drawing ----

function render(): void {
  if (!data) return;
  renderHeader();
  const key = rows[active]?.key;
  rows = buildRows(data, filterEl.value);
  const at = key ? rows.findIndex((r) => r.key === key) : -1;
  active = at >= 0 ? at : Math.min(active, Math.max(rows.length - 1, 0));
  spacer.style.height = `${rows.length * ROW_H}px`;
  tree.setAttribute('aria-rowcount', String(rows.length));
  drawRows();
  renderVolumes();
  if (selection && !selectionExists(selection)) selection = null;
  void renderDetail();
}

function renderHeader(): void {
  const drv = $('driver');
  if (info) {
    const reason = (info.DriverStatus ?? []).find(([k]) => /reason|why/i.test(k))?.[1];
    const backing = (info.DriverStatus ?? []).find(([k]) => /backing/i.test(k))?.[1];
    drv.textContent = `Storage driver: ${info.Driver}${backing ? ` on ${backing}` : ''}${reason ? ` — ${reason}` : ''}`;
    drv.title = drv.textContent;
  }
  const t = $('totals');
  t.replaceChildren();
  if (!df || !data) return;
  const imgs = df.Images ?? [];
  // bytes of the layers several images stand on, each counted once (Docker's per-image
  // SharedSize would count a base layer once per image)
  const shared = data.graph.layers.filter((l) => l.images.length > 1).reduce((a, l) => a + l.size, 0);
  const cons = df.Containers ?? [];
  const rw = cons.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const vols = df.Volumes ?? [];
  const volSize = vols.reduce((a, v) => a + Math.max(v.UsageData?.Size ?? 0, 0), 0);
  const volReclaim = vols.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((a, v) => a + Math.max(v.UsageData?.Size ?? 0, 0), 0);
  const unusedImages = imgs.filter((i) => i.Containers <= 0);
  const item = (label: string, value: string, title = '') => t.append(el('span', { class: 't', title }, `${label}: `, el('b', {}, value)));
  item('Images', `${imgs.length} · ${humanSize(df.LayersSize)}`, 'Every image layer counted once');
  item('Shared layers', humanSize(shared), 'Bytes in layers that several images stand on, each counted once');
  item('Unused images', String(unusedImages.length), 'Images no container uses (what image prune -a could remove)');
  item('Containers', `${cons.length} · ${humanSize(rw)}`, 'Writable layers');
  item('Volumes', `${vols.length} · ${humanSize(volSize)}`);
  item('Reclaimable (volumes)', humanSize(volReclaim), 'Volumes no container uses');
}

function drawRows(): void {
  const top = tree.scrollTop;
  const h = tree.clientHeight || 600;
  const first = Math.max(0, Math.floor(top / ROW_H) - 5);
  const last = Math.min(rows.length, Math.ceil((top + h) / ROW_H) + 5);
  const keep = new Set<string>();
  const existing = new Map<string, HTMLDivElement>();
  for (const n of Array.from(tree.querySelectorAll<HTMLDivElement>('.row'))) existing.set(n.dataset.key!, n);
  for (let i = first; i < last; i++) {
    const r = rows[i]!;
    keep.add(r.key);
    // a row whose content did not change keeps its element (a click in flight, focus
    // and the browser's layout stay valid across a refresh)
    const sig = JSON.stringify(r);
    let n = existing.get(r.key);
    if (!n) {
      n = rowElement(r);
      tree.append(n);
    } else if (n.dataset.sig !== sig) {
      n.replaceWith((n = rowElement(r)));
    }
    n.dataset.sig = sig;
    n.style.top = `${i * ROW_H}px`;
    n.dataset.index = String(i);
    n.setAttribute('aria-posinset', String(i + 1));
    n.setAttribute('aria-setsize', String(rows.length));
    n.classList.toggle('active', i === active);
    const sel = !!selection && selection.kind === r.kind && selection.id === r.id;
    n.classList.toggle('selected', sel);
    n.setAttribute('aria-selected', String(sel));
  }
  for (const [k, n] of existing) if (!keep.has(k)) n.remove();
  const act = rows[active];
  if (act) tree.setAttribute('aria-activedescendant', rowId(act));
  else tree.removeAttribute('aria-activedescendant');
}

const rowId = (r: Row) => `row-${r.kind}-${r.id.replace(/[^a-zA-Z0-9_-]/g, '')}`;

function rowElement(r: Row): HTMLDivElement {
  const n = el('div', {
    class: `row ${r.kind}${r.shared ? ' shared' : ''}${r.dangling ? ' dangling' : ''}`,
    role: 'treeitem', id: rowId(r), 'aria-level': String(r.depth + 1),
    'aria-label': `${r.kind} ${r.label}${r.size !== null ? `, ${humanSize(r.size)}` : ''}, ${r.badges.join(', ')}`,
  });
  n.dataset.key = r.key;
  // CSSOM, not a style attribute: the page's Content-Security-Policy forbids inline styles
  const rail = el('span', { class: 'rail' });
  rail.style.width = `${Math.min(r.depth, MAX_INDENT_DEPTH) * INDENT + 6}px`;
  n.append(rail);
  const box = el('span', { class: 'box' },
    el('span', { class: 'kind' }, r.kind === 'container' ? 'container' : r.kind === 'image' ? (r.dangling ? 'dangling' : 'image') : r.shared ? 'shared layer' : 'layer'),
    el('span', { class: 'name' }, r.label),
    el('span', { class: 'size' }, r.size === null ? '' : humanSize(r.size)),
    ...r.badges.map((b) => el('span', { class: 'badge' }, b)),
    el('span', { class: 'meta', title: r.meta }, r.meta));
  n.append(box);
  return n;
}

function renderVolumes(): void {
  if (!data) return;
  const users = volumeUsers(data.containers);
  const q = filterEl.value.trim().toLowerCase();
  volumesEl.replaceChildren();
  for (const v of data.volumes) {
    const us = users.get(v.Name) ?? [];
    if (q && !v.Name.toLowerCase().includes(q) && !us.some((c) => containerName(c).toLowerCase().includes(q))) continue;
    const anon = !!v.Labels && ANONYMOUS_LABEL in v.Labels;
    const li = el('li', { tabindex: '0', role: 'button', 'aria-label': `volume ${v.Name}` });
    li.dataset.volume = v.Name;
    li.classList.toggle('selected', selection?.kind === 'volume' && selection.id === v.Name);
    const size = data.volumeSizes.get(v.Name);
    li.append(
      el('div', { class: 'vname' }, anon ? `anonymous ${short(v.Name)}` : v.Name),
      el('div', { class: 'vmeta' }, `${v.Driver}${size !== undefined ? ` · ${humanSize(size)}` : ''} · ${us.length ? `used by ${us.map(containerName).join(', ')}` : 'unused'}`),
      el('div', { class: 'vmeta' }, v.Mountpoint),
    );
    volumesEl.append(li);
  }
  if (!volumesEl.children.length) volumesEl.append(el('li', { class: 'hint' }, 'No volumes.'));
}

function selectionExists(s: NonNullable<Selection>): boolean {
  if (!data) return false;
  switch (s.kind) {
    case 'layer': return data.graph.layers.some((l) => l.id === s.id);
    case 'image': return data.graph.images.some((i) => i.id === s.id);
    case 'container': return data.containers.some((c) => c.Id === s.id);
    case 'volume': return data.volumes.some((v) => v.Name === s.id);
  }
}

function select(s: Selection): void {
  selection = s;
  drawRows();
  renderVolumes();
  void renderDetail();
}

// ---- details ----

function dl(pairs: Array<[string, Node | string]>): HTMLDListElement {
  const d = el('dl');
  for (const [k, v] of pairs) d.append(el('dt', {}, k), el('dd', {}, v));
  return d;
}

function link(text: string, s: NonNullable<Selection>): HTMLButtonElement {
  const b = el('button', { class: 'linkish', type: 'button' }, text);
  b.addEventListener('click', () => {
    select(s);
    const i = rows.findIndex((r) => r.kind === s.kind && r.id === s.id);
    if (i >= 0) { active = i; scrollToActive(); drawRows(); }
  });
  return b;
}

function listOf(nodes: Node[]): Node {
  const span = el('span');
  nodes.forEach((n, i) => { if (i) span.append(', '); span.append(n); });
  if (!nodes.length) span.append('none');
  return span;
}

async function renderDetail(): Promise<void> {
  const token = ++detailToken;
  const s = selection;
  if (!s || !data) {
    detail.replaceChildren(el('p', { class: 'hint' }, 'Select a layer, an image, a container or a volume.'));
    return;
  }
  const d = data;
  const summaries = new Map(d.images.map((i) => [i.Id, i]));
  if (s.kind === 'layer') {
    const l = d.graph.layers.find((x) => x.id === s.id)!;
    const cn = d.containers.filter((c) => d.graph.images.find((i) => i.id === c.ImageID)?.layers.includes(l.id));
    detail.replaceChildren(
      el('h3', {}, `Layer ${short(l.chainId)}`),
      dl([
        ['Chain ID', l.chainId], ['Diff ID', l.diffId], ['Size', humanSize(l.size)], ['Created by', l.createdBy || '—'],
        ['Images', listOf(l.images.map((id) => link(imageName(summaries.get(id), id), { kind: 'image', id })))],
        ['Containers', listOf(cn.map((c) => link(containerName(c), { kind: 'container', id: c.Id })))],
      ]),
      el('h4', {}, 'Files'), el('p', { class: 'hint' }, 'Loading…'));
    let files: LayerFiles;
    try { files = await api.layerFiles(l.chainId); } catch (err) {
      if (token === detailToken) detail.lastChild!.textContent = `Could not list files: ${(err as Error).message}`;
      return;
    }
    if (token !== detailToken) return;
    detail.lastChild!.replaceWith(filesTable(files));
    return;
  }
  if (s.kind === 'image') {
    const st = d.graph.images.find((x) => x.id === s.id)!;
    const sum = summaries.get(s.id);
    const cs = d.containers.filter((c) => c.ImageID === s.id);
    const layers = st.layers.map((id) => d.graph.layers.find((l) => l.id === id)!).filter(Boolean);
    const tags = (sum?.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    const parts: Node[] = [
      el('h3', {}, `Image ${imageName(sum, s.id)}`),
      dl([
        ['ID', s.id], ['Tags', tags.join(', ') || '<none>'], ['Size', humanSize(sum?.Size ?? null)],
        ['Containers', listOf(cs.map((c) => link(containerName(c), { kind: 'container', id: c.Id })))],
      ]),
      el('h4', {}, `Layers (top first)`),
    ];
    const tbl = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Layer'), el('th', {}, 'Size'), el('th', {}, 'Shared by'), el('th', {}, 'Created by'))));
    const tb = el('tbody');
    for (const l of layers.slice().reverse()) {
      tb.append(el('tr', {}, el('td', {}, link(short(l.chainId), { kind: 'layer', id: l.id })), el('td', { class: 'num' }, humanSize(l.size)),
        el('td', {}, `${l.images.length} image${l.images.length === 1 ? '' : 's'}`), el('td', {}, l.createdBy)));
    }
    tbl.append(tb);
    parts.push(tbl);
    if (!tags.length && cs.length === 0) {
      const b = el('button', { type: 'button', class: 'danger', 'aria-label': `Remove dangling image ${short(s.id)}` }, 'Remove this dangling image…');
      b.addEventListener('click', () => void confirmThen(`Remove the dangling image ${short(s.id)}? Layers no other image uses are deleted.`, async () => {
        await api.removeImage(s.id);
        selection = null;
      }));
      parts.push(el('p', {}, b));
    }
    detail.replaceChildren(...parts);
    return;
  }
  if (s.kind === 'container') {
    const c = d.containers.find((x) => x.Id === s.id)!;
    const mounts = (c.Mounts ?? []).map((m) => m.Type === 'volume' && m.Name ? link(`${m.Name.length > 20 ? short(m.Name) : m.Name} → ${m.Destination}`, { kind: 'volume', id: m.Name }) : document.createTextNode(`${m.Type} ${m.Source} → ${m.Destination}`));
    detail.replaceChildren(
      el('h3', {}, `Container ${containerName(c)}`),
      dl([
        ['ID', c.Id], ['Status', c.Status || c.State], ['Image', link(c.Image, { kind: 'image', id: c.ImageID })],
        ['Writable layer', humanSize(c.SizeRw ?? null)], ['Mounts', listOf(mounts)],
      ]),
      el('h4', {}, 'Changes in its writable layer (diff)'), el('p', { class: 'hint' }, 'Loading…'));
    let changes;
    try { changes = (await api.changes(c.Id)) ?? []; } catch (err) {
      if (token === detailToken) detail.lastChild!.textContent = `Could not read the diff: ${(err as ApiError).message}`;
      return;
    }
    if (token !== detailToken) return;
    const tbl = el('table', { 'aria-label': 'Container changes' }, el('thead', {}, el('tr', {}, el('th', {}, 'Kind'), el('th', {}, 'Path'))));
    const tb = el('tbody');
    for (const ch of changes) {
      const k = CHANGE_KIND[ch.Kind] ?? '?';
      tb.append(el('tr', {}, el('td', { class: `k-${k}` }, k), el('td', { class: 'path' }, ch.Path)));
    }
    tbl.append(tb);
    detail.lastChild!.replaceWith(changes.length ? tbl : el('p', { class: 'hint' }, 'No changes.'));
    return;
  }
  const v = d.volumes.find((x) => x.Name === s.id)!;
  const us = volumeUsers(d.containers).get(v.Name) ?? [];
  detail.replaceChildren(
    el('h3', {}, `Volume ${v.Name}`),
    dl([
      ['Driver', v.Driver], ['Mountpoint', v.Mountpoint], ['Scope', v.Scope], ['Size', humanSize(d.volumeSizes.get(v.Name) ?? null)],
      ['Anonymous', v.Labels && ANONYMOUS_LABEL in v.Labels ? 'yes' : 'no'],
      ['Labels', Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(', ') || '—'],
      ['Used by', listOf(us.map((c) => link(containerName(c), { kind: 'container', id: c.Id })))],
    ]));
}

function filesTable(f: LayerFiles): Node {
  const wrap = el('div');
  wrap.append(el('p', { class: 'hint' }, `${f.total} entr${f.total === 1 ? 'y' : 'ies'}${f.truncated ? `, the first ${f.entries.length} shown` : ''}.`));
  const tbl = el('table', { 'aria-label': 'Files in the layer' }, el('thead', {}, el('tr', {}, el('th', {}, 'Type'), el('th', {}, 'Path'), el('th', {}, 'Size'))));
  const tb = el('tbody');
  // a DocumentFragment in one append: 20,000 rows lay out once
  const frag = document.createDocumentFragment();
  for (const e of f.entries) {
    const type = e.type === 'whiteout' ? 'whiteout (deleted)' : e.type === 'opaque' ? 'opaque dir' : e.type;
    frag.append(el('tr', { class: e.type === 'whiteout' || e.type === 'opaque' ? 'whiteout' : '' },
      el('td', {}, type), el('td', { class: 'path' }, e.path + (e.link ? ` → ${e.link}` : '')), el('td', { class: 'num' }, e.type === 'file' ? humanSize(e.size) : '')));
  }
  tb.append(frag);
  tbl.append(tb);
  wrap.append(tbl);
  return wrap;
}

// ---- actions behind a confirmation ----

const dialog = $<HTMLDialogElement>('confirm');
function confirmThen(text: string, action: () => Promise<void>): Promise<void> {
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', async () => {
      if (dialog.returnValue === 'ok') {
        try { await action(); status('Done.'); } catch (err) { status(`Failed: ${(err as Error).message}`); }
        await refresh();
      }
      resolve();
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

$('prune').addEventListener('click', () => void confirmThen('Remove every dangling image (images without a tag that no container uses)?', async () => {
  const r = await api.pruneDangling();
  status(`Pruned ${(r.ImagesDeleted ?? []).length} entries, ${humanSize(r.SpaceReclaimed)} reclaimed.`);
}));

// ---- input ----

function scrollToActive(): void {
  const y = active * ROW_H;
  if (y < tree.scrollTop) tree.scrollTop = y;
  else if (y + ROW_H > tree.scrollTop + tree.clientHeight) tree.scrollTop = y + ROW_H - tree.clientHeight;
}

tree.addEventListener('scroll', () => drawRows(), { passive: true });
tree.addEventListener('click', (ev) => {
  const n = (ev.target as HTMLElement).closest<HTMLDivElement>('.row');
  if (!n) return;
  active = Number(n.dataset.index);
  const r = rows[active]!;
  select({ kind: r.kind, id: r.id });
});
tree.addEventListener('keydown', (ev) => {
  if (!rows.length) return;
  const page = Math.max(1, Math.floor(tree.clientHeight / ROW_H) - 1);
  const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
  if (ev.key in moves) {
    active = Math.max(0, Math.min(rows.length - 1, active + moves[ev.key]!));
    ev.preventDefault();
    scrollToActive();
    drawRows();
  } else if (ev.key === 'Enter' || ev.key === ' ') {
    const r = rows[active]!;
    select({ kind: r.kind, id: r.id });
    ev.preventDefault();
  }
});
volumesEl.addEventListener('click', (ev) => {
  const li = (ev.target as HTMLElement).closest<HTMLLIElement>('li');
  if (li?.dataset.volume) select({ kind: 'volume', id: li.dataset.volume });
});
volumesEl.addEventListener('keydown', (ev) => {
  const li = (ev.target as HTMLElement).closest<HTMLLIElement>('li');
  if ((ev.key === 'Enter' || ev.key === ' ') && li?.dataset.volume) { select({ kind: 'volume', id: li.dataset.volume }); ev.preventDefault(); }
});
let filterTimer: ReturnType<typeof setTimeout> | null = null;
filterEl.addEventListener('input', () => {
  if (filterTimer) clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { tree.scrollTop = 0; render(); }, 80);
});
window.addEventListener('resize', () => drawRows());

// ---- start ----

const stop = new AbortController();
void refresh();
void followEvents(() => scheduleRefresh(), (up) => {
  document.body.dataset.live = up ? 'yes' : 'no';
  if (up) scheduleRefresh(); // catch up with what happened while disconnected
}, stop.signal);
