// Agora web console. Plain JavaScript, no dependencies.
//
// Data flows in from the master the page was loaded from:
//  - the operator API's SUBSCRIBE stream (RecordIO of JSON events) keeps the
//    model of agents, frameworks and tasks current without reloading;
//  - /metrics/snapshot, polled every 2 s, gives resource totals and tells us
//    whether the master answers;
//  - /agora/v1/sandbox/... proxies an agent's /state and /files through the
//    master, so the browser never talks to agents.
// Every value from the cluster reaches the DOM through textContent or an
// attribute, never as markup.
'use strict';

(function () {
  const POLL_MS = 2000;
  const PAGE_SIZE = 50; // rows a table shows at once; #/...?page_size=N overrides it
  let pageSize = PAGE_SIZE;
  const TAIL_MS = 1000;
  const TAIL_KEEP = 256 * 1024; // characters kept per tail pane
  const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
    'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);
  const STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE',
    'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE',
    'TASK_GONE_BY_OPERATOR'];
  const RES = ['cpus', 'mem', 'disk', 'gpus'];

  // ---- model ---------------------------------------------------------------

  const model = {
    agents: new Map(),     // id -> agent
    frameworks: new Map(), // id -> framework
    tasks: new Map(),      // framework id + '\u0000' + task id -> task
    byAgent: new Map(),    // agent id -> Set of task keys
    byFramework: new Map(),// framework id -> Set of task keys
    // Kept as tasks change, so the overview never walks all tasks:
    states: {},            // state -> number of tasks in it
    live: new Map(),       // task key -> task, the non-terminal ones, oldest first
    liveChanges: 0,        // bumped when a task joins or leaves live
    usage: new Map(),      // framework id -> { tasks, cpus, mem, disk, gpus } of its live tasks
    counted: new Map(),    // task key -> what was counted for it
    metrics: null,
    leader: '', masters: [],
    version: 0,            // bumped on every change
  };
  // Figures for tests and for docs/webui.md.
  const stats = window.agoraStats = { events: 0, subscribed: 0, firstRender: 0, lastApply: 0, summaryRender: 0 };
  const updateMs = window.agoraUpdateMs = []; // the page's update() times, the last 100

  const key = (fw, id) => fw + '\u0000' + id;
  const val = (x) => (x && x.value) || '';
  const secs = (t) => (t && t.nanoseconds ? t.nanoseconds / 1e9 : 0);

  function scalars(list) {
    const out = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
    for (const r of list || []) {
      if (r.type === 'SCALAR' && r.scalar && r.name in out) out[r.name] += r.scalar.value || 0;
    }
    return out;
  }

  function index(map, k, taskKey, add) {
    let s = map.get(k);
    if (!s) { if (!add) return; s = new Set(); map.set(k, s); }
    if (add) s.add(taskKey); else s.delete(taskKey);
  }

  function putTask(t) {
    const k = key(t.fw, t.id);
    const old = model.tasks.get(k);
    // When the console first heard of the task: its age when the master
    // has recorded no status update yet (a staging task).
    t.seen = (old && old.seen) || t.seen || Date.now() / 1000;
    if (old && old.agent !== t.agent) index(model.byAgent, old.agent, k, false);
    model.tasks.set(k, t);
    index(model.byAgent, t.agent, k, true);
    index(model.byFramework, t.fw, k, true);
    tally(k, t);
  }

  // tally moves a task's counts from what it was to what it is.
  function tally(k, t) {
    const was = model.counted.get(k);
    const isLive = !TERMINAL.has(t.state);
    if (was) {
      model.states[was.state]--;
      if (was.live) addUsage(was.fw, was.res, -1);
    }
    model.states[t.state] = (model.states[t.state] || 0) + 1;
    if (isLive) addUsage(t.fw, t.res, 1);
    if (isLive !== model.live.has(k)) model.liveChanges++;
    if (isLive) model.live.set(k, t); else model.live.delete(k); // set keeps k's place
    model.counted.set(k, { state: t.state, live: isLive, fw: t.fw, res: t.res });
  }

  function addUsage(fw, res, sign) {
    let u = model.usage.get(fw);
    if (!u) { u = { tasks: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 }; model.usage.set(fw, u); }
    u.tasks += sign;
    for (const r of RES) u[r] += sign * (res[r] || 0);
  }

  function statusOf(s) {
    return { state: s.state, ts: s.timestamp || 0, message: s.message || '', reason: s.reason || '', source: s.source || '' };
  }

  function taskFromProto(p) {
    return {
      id: val(p.task_id), name: p.name || '', fw: val(p.framework_id), agent: val(p.agent_id),
      executor: val(p.executor_id), state: p.state, res: scalars(p.resources),
      statuses: (p.statuses || []).map(statusOf),
    };
  }

  function agentFromProto(p) {
    const info = p.agent_info || {};
    return {
      id: val(info.id), hostname: info.hostname || '', port: info.port || 0, pid: p.pid || '',
      active: !!p.active, removed: false, version: p.version || '', registered: secs(p.registered_time),
      total: scalars(p.total_resources || info.resources),
    };
  }

  function frameworkFromProto(p, completed) {
    const info = p.framework_info || p;
    return {
      id: val(info.id), name: info.name || '', user: info.user || '', hostname: info.hostname || '',
      principal: info.principal || '', roles: info.roles || (info.role ? [info.role] : ['*']),
      webui: info.webui_url || '', active: !!p.active, connected: !!p.connected, completed: !!completed,
      registered: secs(p.registered_time),
    };
  }

  function resetModel() {
    model.agents.clear(); model.frameworks.clear(); model.tasks.clear();
    model.byAgent.clear(); model.byFramework.clear();
    model.states = {}; model.live.clear(); model.usage.clear(); model.counted.clear();
    model.liveChanges++;
  }

  // loadState replaces the model with the SUBSCRIBED event's get_state.
  function loadState(st) {
    resetModel();
    for (const a of (st.get_agents && st.get_agents.agents) || []) { const x = agentFromProto(a); model.agents.set(x.id, x); }
    const fws = st.get_frameworks || {};
    for (const f of fws.frameworks || []) { const x = frameworkFromProto(f, false); model.frameworks.set(x.id, x); }
    for (const f of fws.completed_frameworks || []) { const x = frameworkFromProto(f, true); model.frameworks.set(x.id, x); }
    const ts = st.get_tasks || {};
    for (const list of [ts.tasks, ts.unreachable_tasks, ts.completed_tasks, ts.orphan_tasks, ts.pending_tasks]) {
      for (const p of list || []) putTask(taskFromProto(p));
    }
  }

  // loadV0 replaces the model with /master/state (the polling fallback).
  function loadV0(st) {
    resetModel();
    const res = (m) => ({ cpus: +(m && m.cpus) || 0, mem: +(m && m.mem) || 0, disk: +(m && m.disk) || 0, gpus: +(m && m.gpus) || 0 });
    for (const s of st.slaves || []) {
      model.agents.set(s.id, { id: s.id, hostname: s.hostname, port: s.port, pid: s.pid, active: !!s.active, removed: false,
        version: s.version || '', registered: s.registered_time || 0, total: res(s.resources) });
    }
    const fw = (f, completed) => {
      model.frameworks.set(f.id, { id: f.id, name: f.name, user: f.user, hostname: f.hostname, principal: f.principal || '',
        roles: f.roles || [f.role || '*'], webui: f.webui_url || '', active: !!f.active, connected: !!f.connected,
        completed, registered: f.registered_time || 0 });
      for (const list of [f.tasks, f.unreachable_tasks, f.completed_tasks]) {
        for (const t of list || []) {
          putTask({ id: t.id, name: t.name, fw: t.framework_id, agent: t.slave_id, executor: t.executor_id || '',
            state: t.state, res: res(t.resources), statuses: (t.statuses || []).map(statusOf) });
        }
      }
    };
    for (const f of st.frameworks || []) fw(f, false);
    for (const f of st.completed_frameworks || []) fw(f, true);
  }

  function applyEvent(ev) {
    stats.events++;
    switch (ev.type) {
      case 'SUBSCRIBED': {
        const t0 = performance.now();
        loadState(ev.subscribed.get_state || {});
        stats.subscribed++;
        stats.subscribedAt = performance.now();
        stats.subscribedBytes = stats.lastRecordBytes;
        stats.subscribedParseMs = stats.lastParseMs;
        stats.loadMs = stats.subscribedAt - t0;
        break;
      }
      case 'TASK_ADDED':
        putTask(taskFromProto(ev.task_added.task));
        break;
      case 'TASK_UPDATED': {
        const u = ev.task_updated, s = u.status || {};
        const fw = val(u.framework_id), id = val(s.task_id);
        let t = model.tasks.get(key(fw, id));
        if (!t) {
          t = { id, name: '', fw, agent: val(s.agent_id), executor: val(s.executor_id), state: u.state, res: scalars(), statuses: [] };
        }
        t.state = u.state;
        t.statuses.push(statusOf(s));
        if (!t.agent) t.agent = val(s.agent_id);
        putTask(t);
        break;
      }
      case 'AGENT_ADDED': {
        const a = agentFromProto(ev.agent_added.agent);
        model.agents.set(a.id, a);
        break;
      }
      case 'AGENT_REMOVED': {
        const a = model.agents.get(val(ev.agent_removed.agent_id));
        if (a) { a.active = false; a.removed = true; }
        break;
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const p = (ev.framework_added || ev.framework_updated).framework;
        const f = frameworkFromProto(p, false);
        model.frameworks.set(f.id, f);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const info = ev.framework_removed.framework_info || {};
        const f = model.frameworks.get(val(info.id)) || frameworkFromProto(info, true);
        f.completed = true; f.active = false; f.connected = false;
        model.frameworks.set(f.id, f);
        break;
      }
      default:
        return; // HEARTBEAT and events the console does not show
    }
    stats.lastApply = performance.now();
    changed();
  }

  // ---- connection ----------------------------------------------------------

  const conn = { streamOK: false, pollOK: true, fallback: false };

  function showConn() {
    const down = !(conn.fallback ? conn.pollOK : conn.streamOK && conn.pollOK);
    $('#banner').hidden = !down;
    const el = $('#conn');
    el.textContent = down ? 'master unreachable' : conn.fallback ? 'polling' : 'live';
    el.classList.toggle('live', !down);
  }

  const delay = (ms) => new Promise((r) => setTimeout(r, ms));

  async function getJSON(url, opts) {
    const resp = await fetch(url, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, opts || {}));
    if (!resp.ok) throw new Error(url + ': ' + resp.status + ' ' + (await resp.text()).slice(0, 200));
    return resp.json();
  }

  function operator(type) {
    return getJSON('/api/v1', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type }),
    });
  }

  // followLeader moves the console to the leading master if it is not this
  // one (what /master/redirect points at). When this master does not
  // answer (it died), it asks the other masters of the group it learnt
  // earlier. Returns false after navigating.
  async function followLeader() {
    let l;
    try {
      l = await getJSON('/agora/v1/leader');
    } catch (e) {
      for (const m of model.masters || []) {
        if (m === location.host) continue;
        try {
          const r = await fetch(location.protocol + '//' + m + '/agora/v1/leader');
          const o = await r.json();
          if (o.leader && o.leader !== location.host) {
            location.assign(location.protocol + '//' + o.leader + '/' + location.hash);
            return false;
          }
        } catch (e2) { /* try the next one */ }
      }
      throw e;
    }
    model.leader = l.leader;
    if (l.masters) model.masters = l.masters;
    const sec = $('#security');
    sec.textContent = l.security_warning ? 'Security: ' + l.security_warning : '';
    sec.hidden = !l.security_warning;
    if (!l.elected && l.leader && l.leader !== location.host) {
      location.assign(location.protocol + '//' + l.leader + '/' + location.hash);
      return false;
    }
    return true;
  }

  // RecordIO: "<decimal length>\n<length bytes>" repeated.
  function recordReader(onRecord) {
    const dec = new TextDecoder();
    let chunks = [], have = 0, need = -1;
    const flat = () => {
      if (chunks.length === 1) return chunks[0];
      const b = new Uint8Array(have);
      let o = 0;
      for (const c of chunks) { b.set(c, o); o += c.length; }
      chunks = [b];
      return b;
    };
    return (chunk) => {
      chunks.push(chunk); have += chunk.length;
      for (;;) {
        if (need < 0) {
          const b = flat(), nl = b.indexOf(10);
          if (nl < 0) return;
          need = parseInt(dec.decode(b.subarray(0, nl)), 10);
          if (!(need >= 0)) throw new Error('bad RecordIO header');
          chunks = [b.subarray(nl + 1)]; have = b.length - nl - 1;
        }
        if (have < need) return;
        const b = flat();
        const rec = b.subarray(0, need);
        chunks = [b.subarray(need)]; have = b.length - need; need = -1;
        const t0 = performance.now();
        const ev = JSON.parse(dec.decode(rec));
        stats.lastRecordBytes = rec.length;
        stats.lastParseMs = performance.now() - t0;
        onRecord(ev);
      }
    };
  }

  async function subscribeOnce() {
    const ctl = new AbortController();
    const resp = await fetch('/api/v1', {
      method: 'POST', cache: 'no-store', signal: ctl.signal,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE' }),
    });
    if (!resp.ok) throw new Error('SUBSCRIBE: ' + resp.status);
    if (!resp.body || !resp.body.getReader) { ctl.abort(); conn.fallback = true; return; }
    const reader = resp.body.getReader();
    let heartbeat = 15, last = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - last > (2 * heartbeat + 5) * 1000) ctl.abort();
    }, 1000);
    const feed = recordReader((ev) => {
      last = Date.now();
      if (ev.type === 'SUBSCRIBED') {
        heartbeat = ev.subscribed.heartbeat_interval_seconds || heartbeat;
        conn.streamOK = true; showConn();
      }
      applyEvent(ev);
    });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        last = Date.now();
        feed(value);
      }
    } finally {
      clearInterval(watchdog);
      ctl.abort();
    }
  }

  async function streamLoop() {
    // The summary first: the master encodes SUBSCRIBED's whole state on
    // its loop, and a /metrics/snapshot sent at the same time would wait
    // behind it. The subscription waits for the first snapshot (a few
    // milliseconds; at most 300).
    await Promise.race([firstMetrics, delay(300)]);
    for (;;) {
      try {
        if (await followLeader()) await subscribeOnce();
        else return;
      } catch (e) {
        console.warn('event stream:', e);
      }
      if (conn.fallback) return pollStateLoop();
      conn.streamOK = false; showConn();
      await delay(1000);
    }
  }

  // pollStateLoop is the fallback for browsers whose fetch cannot stream.
  async function pollStateLoop() {
    for (;;) {
      try {
        loadV0(await getJSON('/master/state'));
        conn.pollOK = true;
        changed();
      } catch (e) {
        conn.pollOK = false;
      }
      showConn();
      await delay(POLL_MS);
    }
  }

  let metricsArrived;
  const firstMetrics = new Promise((resolve) => { metricsArrived = resolve; });

  // embeddedSummary is the snapshot the master's page carries, if any.
  function embeddedSummary() {
    const el = document.getElementById('agora-summary');
    try {
      return el ? Promise.resolve(JSON.parse(el.textContent)) : null;
    } catch (e) {
      return null;
    }
  }

  async function metricsLoop() {
    // The first snapshot came with the page (#agora-summary), or boot.js
    // asked for it as the page loaded.
    let early = window.agoraFirstMetrics || embeddedSummary();
    for (;;) {
      try {
        const m = early ? await early : null;
        early = null;
        model.metrics = m || await getJSON('/metrics/snapshot');
        conn.pollOK = true;
        if (!stats.summaryRender && current) current.update(); // at once, not at the next frame
        changed();
      } catch (e) {
        conn.pollOK = false;
      }
      metricsArrived();
      showConn();
      await delay(POLL_MS);
    }
  }

  // ---- DOM helpers ---------------------------------------------------------

  function $(sel, root) { return (root || document).querySelector(sel); }

  // h builds an element; children are nodes or strings (as text).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const c of children.flat(3)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const enc = encodeURIComponent;
  const link = (text, href, cls) => ({ text, href, cls });
  const fwLink = (id) => link(id, '#/frameworks/' + enc(id));
  const agentLink = (id) => link(id, '#/agents/' + enc(id));
  const taskLink = (t) => link(t.id, '#/tasks/' + enc(t.fw) + '/' + enc(t.id));
  const stateCell = (s) => ({ text: s || '', cls: 'state s-' + (s || '') });

  function fmtNum(n, unit) {
    if (unit === 'mem' || unit === 'disk') {
      if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' TB';
      if (n >= 1024) return (n / 1024).toFixed(1) + ' GB';
      return Math.round(n) + ' MB';
    }
    return (Math.round(n * 100) / 100).toString();
  }
  function fmtTime(s) { return s ? new Date(s * 1000).toLocaleString() : ''; }
  const short = (s) => (s || '').replace(/^TASK_/, '');

  // setCell writes a value (string, number, or {text, href, cls}) into a td,
  // touching the DOM only when it changed.
  function setCell(td, v) {
    const base = td.dataset.base || '';
    let cls = base;
    if (v !== null && typeof v === 'object') {
      cls = ((base + ' ' + (v.cls || '')).trim());
      if (td.className !== cls) td.className = cls;
      if (v.href) {
        let a = td.firstChild;
        if (!a || a.nodeName !== 'A') { td.textContent = ''; a = td.appendChild(document.createElement('a')); }
        if (a.getAttribute('href') !== v.href) a.setAttribute('href', v.href);
        if (a.textContent !== v.text) a.textContent = v.text;
        return;
      }
      v = v.text;
    } else if (td.className !== cls) td.className = cls;
    const s = v === undefined || v === null ? '' : String(v);
    if (td.firstChild && td.firstChild.nodeName === 'A') td.textContent = '';
    if (td.textContent !== s) td.textContent = s;
  }

  const cell = (c) => h('td', { class: c.num ? 'num' : '', 'data-base': c.num ? 'num' : '' });

  // Table renders one page of rows and reuses its row elements, so an update
  // costs work proportional to the rows on screen, not to the cluster size.
  class Table {
    constructor(id, columns, empty) {
      this.columns = columns;
      this.page = 0;
      this.rows = [];
      this.empty = empty || 'None.';
      this.body = h('tbody');
      this.info = h('span', { class: 'muted' });
      this.prev = h('button', { type: 'button', class: 'prev', onclick: () => { this.page--; this.render(); } }, '‹ Prev');
      this.next = h('button', { type: 'button', class: 'next', onclick: () => { this.page++; this.render(); } }, 'Next ›');
      this.el = h('div', { id },
        h('table', {}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : '' }, c.title)))), this.body),
        this.pager = h('div', { class: 'pager' }, this.prev, this.next, this.info));
    }
    set(rows) { this.rows = rows; this.render(); }
    render() {
      const size = pageSize;
      const n = this.rows.length, pages = Math.max(1, Math.ceil(n / size));
      this.page = Math.min(Math.max(0, this.page), pages - 1);
      const from = this.page * size, to = Math.min(n, from + size);
      const want = Math.max(to - from, n === 0 ? 1 : 0);
      while (this.body.rows.length > want) this.body.lastChild.remove();
      while (this.body.rows.length < want) {
        this.body.append(h('tr', {}, this.columns.map(cell)));
      }
      if (n === 0) {
        const tr = this.body.rows[0];
        while (tr.cells.length > 1) tr.lastChild.remove();
        tr.cells[0].colSpan = this.columns.length;
        setCell(tr.cells[0], { text: this.empty, cls: 'muted' });
      } else {
        for (let i = from; i < to; i++) {
          const tr = this.body.rows[i - from];
          if (tr.cells.length !== this.columns.length) {
            tr.replaceChildren(...this.columns.map(cell));
          }
          const row = this.rows[i];
          this.columns.forEach((c, j) => setCell(tr.cells[j], c.get(row)));
        }
      }
      this.pager.hidden = pages <= 1;
      this.prev.disabled = this.page === 0;
      this.next.disabled = this.page >= pages - 1;
      const info = n === 0 ? '' : `${from + 1}–${to} of ${n}`;
      if (this.info.textContent !== info) this.info.textContent = info;
    }
  }

  function kv(pairs) {
    return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // ---- derived views -------------------------------------------------------

  function tasksOf(map, id) {
    const out = [];
    for (const k of map.get(id) || []) { const t = model.tasks.get(k); if (t) out.push(t); }
    return out;
  }
  const live = (t) => !TERMINAL.has(t.state);

  function used(tasks) {
    const u = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
    for (const t of tasks) if (live(t)) for (const r of RES) u[r] += t.res[r] || 0;
    return u;
  }

  function lastTime(t) { const s = t.statuses[t.statuses.length - 1]; return s ? s.ts : 0; }
  // statusHistory is a task's updates, led by the TASK_STAGING every task
  // starts in (the master records no status update for it).
  const statusHistory = (t) => (t.statuses.length && t.statuses[0].state === 'TASK_STAGING' ? t.statuses
    : [{ state: 'TASK_STAGING', ts: 0, message: '', reason: '', source: 'master' }].concat(t.statuses));
  const history = (t) => statusHistory(t).map((s) => short(s.state)).join(' → ');

  // startTime is when a task started staging, as far as the console knows:
  // its first status update, else when the console first heard of it.
  const startTime = (t) => (t.statuses.length && t.statuses[0].ts) || t.seen || 0;
  function fmtAge(s) {
    if (!s) return '';
    const d = Math.max(0, Math.floor(Date.now() / 1000 - s));
    if (d < 60) return d + 's';
    if (d < 3600) return Math.floor(d / 60) + 'm ' + (d % 60) + 's';
    if (d < 86400) return Math.floor(d / 3600) + 'h ' + Math.floor((d % 3600) / 60) + 'm';
    return Math.floor(d / 86400) + 'd ' + Math.floor((d % 86400) / 3600) + 'h';
  }
  const hostLink = (id) => { const a = model.agents.get(id); return link((a && a.hostname) || id, '#/agents/' + enc(id)); };

  // The columns a task table can show; taskColumns picks some, in order, so
  // the task list and the framework, agent and overview pages share them.
  const TASK_COLUMNS = {
    id: { title: 'ID', get: taskLink },
    name: { title: 'Name', get: (t) => t.name },
    state: { title: 'State', get: (t) => stateCell(t.state) },
    framework: { title: 'Framework', get: (t) => fwLink(t.fw) },
    agent: { title: 'Agent', get: (t) => agentLink(t.agent) },
    host: { title: 'Host', get: (t) => hostLink(t.agent) },
    history: { title: 'History', get: history },
    cpus: { title: 'CPUs', num: true, get: (t) => fmtNum(t.res.cpus) },
    mem: { title: 'Mem', num: true, get: (t) => fmtNum(t.res.mem, 'mem') },
    updated: { title: 'Updated', get: (t) => fmtTime(lastTime(t)) },
    age: { title: 'Age', num: true, get: (t) => fmtAge(startTime(t)) },
  };
  const taskColumns = (...names) => names.map((n) => TASK_COLUMNS[n]);
  const TASK_LIST = ['id', 'name', 'state', 'framework', 'agent', 'history', 'cpus', 'mem', 'updated'];
  const without = (name) => TASK_LIST.filter((n) => n !== name);

  // activeTasks lists the live tasks newest first, rebuilt only when a task
  // joins or leaves them (not on every update of a running task).
  let activeList = [], activeAt = -1;
  function activeTasks() {
    if (activeAt !== model.liveChanges) {
      activeAt = model.liveChanges;
      activeList = Array.from(model.live.values()).reverse();
    }
    return activeList;
  }
  // usage is a framework's live task count and resources.
  const NO_USAGE = { tasks: 0, cpus: 0, mem: 0, disk: 0, gpus: 0 };
  const usage = (fwID) => model.usage.get(fwID) || NO_USAGE;

  // ---- pages ---------------------------------------------------------------

  const pages = {};

  const frameworkColumns = [
    { title: 'ID', get: (f) => fwLink(f.id) },
    { title: 'Name', get: (f) => f.name },
    { title: 'User', get: (f) => f.user },
    { title: 'Roles', get: (f) => f.roles.join(', ') },
    { title: 'State', get: (f) => (f.completed ? 'completed' : f.connected ? 'connected' : f.active ? 'active' : 'disconnected') },
    { title: 'Active tasks', num: true, get: (f) => usage(f.id).tasks },
    { title: 'CPUs', num: true, get: (f) => fmtNum(usage(f.id).cpus) },
    { title: 'Mem', num: true, get: (f) => fmtNum(usage(f.id).mem, 'mem') },
    { title: 'Registered', get: (f) => fmtTime(f.registered) },
  ];

  pages.overview = () => {
    const cards = {};
    const card = (id, label) => (cards[id] = h('div', { class: 'card', id: 'card-' + id }, h('div', { class: 'n' }, '–'), h('div', { class: 'l' }, label)));
    const agentCards = h('div', { class: 'cards' }, card('agents-active', 'agents active'), card('agents-inactive', 'agents disconnected'),
      card('agents-unreachable', 'agents unreachable'), card('frameworks-active', 'frameworks active'));
    const taskCards = h('div', { class: 'cards', id: 'task-states' }, STATES.map((s) => card(s, short(s).toLowerCase())));
    const resTable = new Table('resources', [
      { title: 'Resource', get: (r) => r.name },
      { title: 'Total', num: true, get: (r) => fmtNum(r.total, r.name) },
      { title: 'Allocated', num: true, get: (r) => fmtNum(r.used, r.name) },
      { title: 'Offered', num: true, get: (r) => fmtNum(r.offered, r.name) },
      { title: 'Idle', num: true, get: (r) => fmtNum(Math.max(0, r.total - r.used - r.offered), r.name) },
    ]);
    const leader = h('span');
    const agentTable = new Table('overview-agents', [
      { title: 'Agent', get: (a) => agentLink(a.id) },
      { title: 'Host', get: (a) => a.hostname + ':' + a.port },
      { title: 'State', get: (a) => (a.removed ? 'unreachable' : a.active ? 'active' : 'disconnected') },
      { title: 'CPUs', num: true, get: (a) => fmtNum(a.total.cpus) },
      { title: 'Mem', num: true, get: (a) => fmtNum(a.total.mem, 'mem') },
    ], 'No agents.');
    // The landing page lists what runs, as Mesos's does: the active tasks
    // (newest first) and the active frameworks, paged like every table, so
    // only the visible page is rendered however many tasks there are.
    const taskTable = new Table('overview-tasks', taskColumns('id', 'name', 'framework', 'state', 'host', 'age', 'cpus', 'mem'), 'No active tasks.');
    const fwTable = new Table('overview-frameworks', frameworkColumns, 'No active frameworks.');
    const setN = (id, n) => { const el = cards[id].firstChild; const s = String(n); if (el.textContent !== s) el.textContent = s; };
    return {
      el: h('div', {}, h('h1', {}, 'Cluster overview'), h('p', { class: 'muted' }, 'Leading master: ', leader),
        agentCards, h('h2', {}, 'Tasks'), taskCards, h('h2', {}, 'Active frameworks'), fwTable.el,
        h('h2', {}, 'Active tasks'), taskTable.el,
        h('h2', {}, 'Resources'), resTable.el, h('h2', {}, 'Agents'), agentTable.el),
      update() {
        leader.textContent = model.leader;
        const m = model.metrics || {};
        if (!stats.subscribed) {
          // The summary first: /metrics/snapshot (small, whatever the
          // cluster's size) fills the cards while the whole state loads.
          if (!model.metrics) return;
          setN('agents-active', m['master/slaves_active'] || 0);
          setN('agents-inactive', m['master/slaves_inactive'] || 0);
          setN('agents-unreachable', m['master/slaves_unreachable'] || 0);
          setN('frameworks-active', m['master/frameworks_active'] || 0);
          for (const s of STATES) setN(s, m['master/tasks_' + s.slice(5).toLowerCase()] || 0);
          if (!stats.summaryRender) stats.summaryRender = performance.now();
          resTable.set(RES.map((name) => ({ name, total: m['master/' + name + '_total'] || 0,
            used: m['master/' + name + '_used'] || 0, offered: m['master/' + name + '_offered'] || 0 })));
          return;
        }
        let active = 0, inactive = 0, removed = 0;
        for (const a of model.agents.values()) { if (a.removed) removed++; else if (a.active) active++; else inactive++; }
        setN('agents-active', active);
        setN('agents-inactive', inactive);
        setN('agents-unreachable', Math.max(removed, m['master/slaves_unreachable'] || 0));
        const fws = [];
        for (const f of model.frameworks.values()) if (!f.completed && f.active) fws.push(f);
        setN('frameworks-active', fws.length);
        fwTable.set(fws);
        for (const s of STATES) setN(s, model.states[s] || 0);
        taskTable.set(activeTasks());
        resTable.set(RES.map((name) => ({ name, total: m['master/' + name + '_total'] || 0,
          used: m['master/' + name + '_used'] || 0, offered: m['master/' + name + '_offered'] || 0 })));
        agentTable.set([...model.agents.values()]);
      },
    };
  };

  pages.frameworks = () => {
    const active = new Table('frameworks-table', frameworkColumns, 'No frameworks.');
    const done = new Table('completed-frameworks-table', frameworkColumns, 'No completed frameworks.');
    return {
      el: h('div', {}, h('h1', {}, 'Frameworks'), active.el, h('h2', {}, 'Completed frameworks'), done.el),
      update() {
        const fws = [...model.frameworks.values()];
        active.set(fws.filter((f) => !f.completed));
        done.set(fws.filter((f) => f.completed));
      },
    };
  };

  pages.framework = (id) => {
    const info = h('div');
    const activeT = new Table('framework-active-tasks', taskColumns(...without('framework')), 'No active tasks.');
    const doneT = new Table('framework-completed-tasks', taskColumns(...without('framework')), 'No completed tasks.');
    let shown = '';
    return {
      el: h('div', {}, h('h1', {}, 'Framework ', id), info, h('h2', {}, 'Active tasks'), activeT.el,
        h('h2', {}, 'Completed tasks'), doneT.el),
      update() {
        const f = model.frameworks.get(id);
        const sig = f ? JSON.stringify(f) : '';
        if (sig !== shown) {
          shown = sig;
          info.replaceChildren(f ? kv([['Name', f.name], ['User', f.user], ['Hostname', f.hostname], ['Principal', f.principal],
            ['Roles', f.roles.join(', ')], ['State', f.completed ? 'completed' : f.connected ? 'connected' : 'disconnected'],
            ['Registered', fmtTime(f.registered)], ['Web UI', f.webui]]) : h('p', { class: 'muted' }, 'Unknown framework.'));
        }
        const tasks = tasksOf(model.byFramework, id);
        activeT.set(tasks.filter(live));
        doneT.set(tasks.filter((t) => !live(t)));
      },
    };
  };

  pages.agents = () => {
    const t = new Table('agents-table', [
      { title: 'ID', get: (a) => agentLink(a.id) },
      { title: 'Host', get: (a) => a.hostname + ':' + a.port },
      { title: 'State', get: (a) => (a.removed ? 'unreachable' : a.active ? 'active' : 'disconnected') },
      { title: 'Tasks', num: true, get: (a) => tasksOf(model.byAgent, a.id).filter(live).length },
      { title: 'CPUs (used/total)', num: true, get: (a) => fmtNum(used(tasksOf(model.byAgent, a.id)).cpus) + ' / ' + fmtNum(a.total.cpus) },
      { title: 'Mem (used/total)', num: true, get: (a) => fmtNum(used(tasksOf(model.byAgent, a.id)).mem, 'mem') + ' / ' + fmtNum(a.total.mem, 'mem') },
      { title: 'Registered', get: (a) => fmtTime(a.registered) },
    ], 'No agents.');
    return { el: h('div', {}, h('h1', {}, 'Agents'), t.el), update() { t.set([...model.agents.values()]); } };
  };

  // agentState fetches an agent's /state through the master.
  const agentState = (id) => getJSON('/agora/v1/sandbox/' + enc(id) + '/state');

  pages.agent = (id) => {
    const info = h('div');
    const resT = new Table('agent-resources', [
      { title: 'Resource', get: (r) => r.name },
      { title: 'Used', num: true, get: (r) => fmtNum(r.used, r.name) },
      { title: 'Total', num: true, get: (r) => fmtNum(r.total, r.name) },
      { title: '', get: (r) => (r.total ? Math.round((100 * r.used) / r.total) + '%' : '') },
    ]);
    const execT = new Table('agent-executors', [
      { title: 'Executor', get: (e) => e.id },
      { title: 'Framework', get: (e) => fwLink(e.fw) },
      { title: 'Tasks', num: true, get: (e) => e.tasks },
      { title: 'CPUs', num: true, get: (e) => fmtNum(e.cpus) },
      { title: 'Mem', num: true, get: (e) => fmtNum(e.mem, 'mem') },
      { title: 'Sandbox', get: (e) => (e.task ? link('browse', '#/tasks/' + enc(e.fw) + '/' + enc(e.task)) : '') },
    ], 'No executors.');
    const taskT = new Table('agent-tasks', taskColumns(...without('agent')), 'No tasks.');
    const execNote = h('p', { class: 'muted' });
    let timer = 0, shown = '';
    const loadExecutors = async () => {
      try {
        const st = await agentState(id);
        const rows = [];
        for (const f of st.frameworks || []) {
          for (const e of f.executors || []) {
            const ts = (e.tasks || []).concat(e.queued_tasks || []);
            rows.push({ id: e.id, fw: f.id, tasks: ts.length, cpus: (e.resources || {}).cpus || 0, mem: (e.resources || {}).mem || 0,
              task: (ts[0] || (e.completed_tasks || [])[0] || {}).id });
          }
        }
        execT.set(rows);
        execNote.textContent = '';
      } catch (e) {
        execNote.textContent = 'Could not read the agent\'s executors: ' + e.message;
      }
      timer = setTimeout(loadExecutors, 5000);
    };
    loadExecutors();
    return {
      el: h('div', {}, h('h1', {}, 'Agent ', id), info, h('h2', {}, 'Resources'), resT.el, h('h2', {}, 'Executors'), execNote, execT.el,
        h('h2', {}, 'Tasks'), taskT.el),
      update() {
        const a = model.agents.get(id);
        const sig = a ? JSON.stringify(a) : '';
        if (sig !== shown) {
          shown = sig;
          info.replaceChildren(a ? kv([['Host', a.hostname + ':' + a.port], ['PID', a.pid], ['Version', a.version],
            ['State', a.removed ? 'unreachable' : a.active ? 'active' : 'disconnected'], ['Registered', fmtTime(a.registered)]])
            : h('p', { class: 'muted' }, 'Unknown agent.'));
        }
        const tasks = tasksOf(model.byAgent, id), u = used(tasks);
        resT.set(a ? RES.map((name) => ({ name, used: u[name], total: a.total[name] })) : []);
        taskT.set(tasks);
      },
      unmount() { clearTimeout(timer); },
    };
  };

  pages.tasks = (q) => {
    const input = h('input', { class: 'search', id: 'task-search', type: 'search', placeholder: 'Filter by id, name, state, agent…', value: q || '' });
    const t = new Table('tasks-table', taskColumns(...TASK_LIST), 'No tasks.');
    let filterKey = '', cached = [], cachedVersion = -1;
    input.addEventListener('input', () => { t.page = 0; changed(); });
    return {
      el: h('div', {}, h('h1', {}, 'Tasks'), input, t.el),
      update() {
        const f = input.value.trim().toLowerCase();
        if (f !== filterKey || cachedVersion !== model.version) {
          filterKey = f; cachedVersion = model.version;
          cached = [];
          for (const x of model.tasks.values()) {
            if (!f || x.id.toLowerCase().includes(f) || x.name.toLowerCase().includes(f) || x.state.toLowerCase().includes(f) ||
              x.agent.toLowerCase().includes(f) || x.fw.toLowerCase().includes(f)) cached.push(x);
          }
        }
        t.set(cached);
      },
    };
  };

  // findSandbox looks a task's executor directory up in its agent's /state.
  async function findSandbox(t) {
    const st = await agentState(t.agent);
    let dir = '';
    for (const f of (st.frameworks || []).concat(st.completed_frameworks || [])) {
      if (f.id !== t.fw) continue;
      for (const e of (f.executors || []).concat(f.completed_executors || [])) {
        const ids = [].concat(e.tasks || [], e.queued_tasks || [], e.completed_tasks || []).map((x) => x.id);
        if (e.id === t.id || (t.executor && e.id === t.executor) || ids.includes(t.id)) dir = e.directory;
      }
    }
    return dir;
  }

  const filesURL = (op, agent, path, extra) =>
    '/agora/v1/sandbox/' + enc(agent) + '/files/' + op + '?path=' + enc(path) + (extra || '');

  // Tail follows one sandbox file, appending new bytes as text.
  class Tail {
    constructor(agent, path, name) {
      this.agent = agent; this.path = path; this.offset = -1; this.stopped = false;
      this.pre = h('pre', { class: 'tail', id: 'tail-' + name });
      this.note = h('span', { class: 'muted' });
      this.el = h('div', {}, h('h2', {}, name, ' ', h('a', { href: filesURL('download', agent, path), download: name }, 'download'), ' ', this.note), this.pre);
      this.poll();
    }
    async poll() {
      if (this.stopped) return;
      try {
        if (this.offset < 0) {
          const r = await getJSON(filesURL('read', this.agent, this.path, '&offset=-1'));
          this.offset = Math.max(0, r.offset - 64 * 1024);
        }
        for (let i = 0; i < 16 && !this.stopped; i++) {
          const r = await getJSON(filesURL('read', this.agent, this.path, '&offset=' + this.offset + '&length=65536'));
          if (!r.data) break;
          this.append(r.data);
          this.offset = r.offset + new TextEncoder().encode(r.data).length;
        }
        this.note.textContent = '';
      } catch (e) {
        this.note.textContent = '(' + e.message + ')';
      }
      if (!this.stopped) this.timer = setTimeout(() => this.poll(), TAIL_MS);
    }
    append(data) {
      const pre = this.pre;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(document.createTextNode(data)); // text, never markup
      if (pre.textContent.length > TAIL_KEEP) pre.textContent = pre.textContent.slice(-TAIL_KEEP);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    stop() { this.stopped = true; clearTimeout(this.timer); }
  }

  pages.task = (fw, id, browsePath) => {
    const info = h('div');
    const histT = new Table('task-history', [
      { title: 'State', get: (s) => stateCell(s.state) },
      { title: 'Time', get: (s) => fmtTime(s.ts) },
      { title: 'Source', get: (s) => s.source },
      { title: 'Reason', get: (s) => s.reason },
      { title: 'Message', get: (s) => s.message },
    ], 'No status updates yet.');
    const sandbox = h('div', { id: 'sandbox' }, h('p', { class: 'muted' }, 'Looking for the sandbox…'));
    let tails = [], shown = '', started = false, root = '', lastTry = 0;
    const listT = new Table('sandbox-files', [
      { title: 'Name', get: (e) => (e.dir ? link(e.name + '/', e.href) : e.name) },
      { title: 'Size', num: true, get: (e) => (e.dir ? '' : e.size) },
      { title: 'Mode', get: (e) => e.mode },
      { title: 'Modified', get: (e) => fmtTime(e.mtime) },
      { title: '', get: (e) => (e.dir ? '' : link('download', e.download)) },
    ], 'Empty directory.');
    const openSandbox = async (t) => {
      started = true;
      lastTry = Date.now();
      try {
        root = await findSandbox(t);
        if (!root) throw new Error('the agent does not list this task\'s executor');
      } catch (e) {
        sandbox.replaceChildren(h('p', { class: 'err' }, 'Sandbox unavailable: ' + e.message));
        started = false; // try again on the next update
        return;
      }
      const dir = browsePath && browsePath.startsWith(root) ? browsePath : root;
      const base = '#/tasks/' + enc(fw) + '/' + enc(id) + '?path=';
      const crumbs = h('p', { class: 'muted', id: 'sandbox-path' }, dir === root ? 'sandbox' : link2('sandbox', base + enc(root)), dir === root ? '' : ' / ' + dir.slice(root.length + 1));
      tails = ['stdout', 'stderr'].map((n) => new Tail(t.agent, root + '/' + n, n));
      sandbox.replaceChildren(crumbs, listT.el, h('div', { class: 'tails' }, tails.map((x) => x.el)));
      try {
        const entries = await getJSON(filesURL('browse', t.agent, dir));
        listT.set(entries.map((e) => {
          const name = e.path.slice(e.path.lastIndexOf('/') + 1);
          return { name, dir: e.mode.startsWith('d'), size: e.size, mode: e.mode, mtime: e.mtime, href: base + enc(e.path),
            download: filesURL('download', t.agent, e.path) };
        }).sort((a, b) => a.name.localeCompare(b.name)));
      } catch (e) {
        listT.set([]);
        crumbs.append(h('span', { class: 'err' }, ' (' + e.message + ')'));
      }
    };
    const link2 = (text, href) => h('a', { href }, text);
    return {
      el: h('div', {}, h('h1', {}, 'Task ', id), info, h('h2', {}, 'State history'), histT.el, h('h2', {}, 'Sandbox'), sandbox),
      update() {
        const t = model.tasks.get(key(fw, id));
        const sig = t ? [t.state, t.agent, t.name, t.statuses.length].join('|') : '';
        if (sig !== shown) {
          shown = sig;
          info.replaceChildren(t ? kv([['Name', t.name], ['State', h('span', { class: 'state s-' + t.state, id: 'task-state' }, t.state)],
            ['Framework', link2(t.fw, '#/frameworks/' + enc(t.fw))], ['Agent', link2(t.agent, '#/agents/' + enc(t.agent))],
            ['Executor', t.executor || '(command executor)'], ['Resources', RES.filter((r) => t.res[r]).map((r) => r + ': ' + fmtNum(t.res[r], r)).join(', ')]])
            : h('p', { class: 'muted' }, 'Unknown task.'));
        }
        histT.set(t ? statusHistory(t) : []);
        if (t && t.agent && !started && t.statuses.length && Date.now() - lastTry > 5000) openSandbox(t);
      },
      unmount() { for (const x of tails) x.stop(); },
    };
  };

  pages.offers = () => {
    const t = new Table('offers-table', [
      { title: 'Offer', get: (o) => o.id },
      { title: 'Framework', get: (o) => fwLink(o.framework_id) },
      { title: 'Agent', get: (o) => agentLink(o.slave_id) },
      { title: 'Role', get: (o) => (o.allocation_info || {}).role || '' },
      { title: 'CPUs', num: true, get: (o) => fmtNum((o.resources || {}).cpus || 0) },
      { title: 'Mem', num: true, get: (o) => fmtNum((o.resources || {}).mem || 0, 'mem') },
      { title: 'Disk', num: true, get: (o) => fmtNum((o.resources || {}).disk || 0, 'disk') },
    ], 'No outstanding offers.');
    const note = h('p', { class: 'muted' });
    let timer = 0;
    const load = async () => {
      try {
        const st = await getJSON('/master/frameworks');
        t.set([].concat(...(st.frameworks || []).map((f) => f.offers || [])));
        note.textContent = '';
      } catch (e) { note.textContent = e.message; }
      timer = setTimeout(load, POLL_MS);
    };
    load();
    return { el: h('div', {}, h('h1', {}, 'Offers'), note, t.el), update() {}, unmount() { clearTimeout(timer); } };
  };

  pages.roles = () => {
    const t = new Table('roles-table', [
      { title: 'Role', get: (r) => r.name },
      { title: 'Weight', num: true, get: (r) => r.weight || 1 },
      { title: 'Frameworks', num: true, get: (r) => (r.frameworks || []).length },
      { title: 'CPUs', num: true, get: (r) => fmtNum(scalars(r.allocated || r.resources).cpus) },
      { title: 'Mem', num: true, get: (r) => fmtNum(scalars(r.allocated || r.resources).mem, 'mem') },
    ], 'No roles in use.');
    const note = h('p', { class: 'muted' });
    let timer = 0;
    const load = async () => {
      try {
        const r = await operator('GET_ROLES');
        t.set((r.get_roles && r.get_roles.roles) || []);
        note.textContent = '';
      } catch (e) { note.textContent = e.message; }
      timer = setTimeout(load, POLL_MS);
    };
    load();
    return { el: h('div', {}, h('h1', {}, 'Roles'), note, t.el), update() {}, unmount() { clearTimeout(timer); } };
  };

  // ---- router --------------------------------------------------------------

  let current = null;

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const size = parseInt(params.get('page_size'), 10);
    pageSize = size > 0 ? size : PAGE_SIZE;
    let page, nav = parts[0] || 'overview';
    switch (parts[0]) {
      case undefined: page = pages.overview(); break;
      case 'frameworks': page = parts[1] ? pages.framework(parts[1]) : pages.frameworks(); break;
      case 'agents': page = parts[1] ? pages.agent(parts[1]) : pages.agents(); break;
      case 'tasks': page = parts[2] ? pages.task(parts[1], parts[2], params.get('path')) : pages.tasks(params.get('q')); break;
      case 'offers': page = pages.offers(); break;
      case 'roles': page = pages.roles(); break;
      default: page = { el: h('p', {}, 'No such page.'), update() {} }; nav = '';
    }
    if (current && current.unmount) current.unmount();
    current = page;
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
    $('#main').replaceChildren(page.el);
    page.update();
  }

  let scheduled = false;
  function changed() {
    model.version++;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (!current) return;
      const t0 = performance.now();
      current.update();
      // The page's update time (JavaScript only, not layout), the last 100.
      updateMs.push(performance.now() - t0);
      if (updateMs.length > 100) updateMs.shift();
      if (!stats.firstRender && stats.subscribed) stats.firstRender = performance.now();
    });
  }

  window.addEventListener('hashchange', route);
  document.addEventListener('DOMContentLoaded', () => {
    route();
    showConn();
    metricsLoop();
    streamLoop();
  });
})();
