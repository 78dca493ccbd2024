// The operator console's app, served at /console/app.js: login, routes, overview and destination pages.
enum ConsoleScript {
    static let js = #"""
        "use strict";
        // The operator console: the admin token, hash routes, the range and auto-refresh, the shared helpers,
        // the overview and the destination pages. /console/pages.js adds the other pages; /console/charts.js draws.
        const TOKEN_KEY = 'switchyard.adminToken';
        const RANGE_KEY = 'switchyard.console.range';
        const RANGES = { '15m': ['10s', 'the last 15 minutes'], '1h': ['1m', 'the last hour'], '6h': ['5m', 'the last 6 hours'], '24h': ['15m', 'the last 24 hours'], '7d': ['2h', 'the last 7 days'] };
        const REFRESH_MS = 10000;
        const COLORS = { delivered: '#1a7f37', retried: '#b35900', deadLettered: '#c62828', p50: '#2a5db0', p95: '#6f42c1', p99: '#c62828', queue: '#5b6b7b',
          received: '#2a5db0', duplicates: '#8c959f', refused: '#c62828', violations: '#bf8700', filtered: '#6f42c1', suppressed: '#8250df' };
        const state = { token: sessionStorage.getItem(TOKEN_KEY) || '', range: sessionStorage.getItem(RANGE_KEY) || '1h', auto: true, view: 0, update: null, expanded: new Set() };
        const routes = [];
        const $ = (id) => document.getElementById(id);

        // ---- DOM and formatting helpers ------------------------------------------------------------------

        function h(tag, attrs, ...children) {
          const e = document.createElement(tag);
          for (const [k, v] of Object.entries(attrs || {})) {
            if (v == null || v === false) continue;
            if (k === 'class') e.className = v;
            else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
            else e.setAttribute(k, v === true ? '' : String(v));
          }
          for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
          return e;
        }

        const NUMBER = new Intl.NumberFormat();
        function fmtInt(n) { return n == null ? '—' : NUMBER.format(Math.round(n)); }
        function fmtNum(n, digits) { return new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(n); }
        function plural(n, word) { return n === 1 ? word : /[^aeiou]y$/.test(word) ? word.slice(0, -1) + 'ies' : word + 's'; }
        function count(n, word) { return n == null ? '—' : fmtInt(n) + ' ' + plural(Math.round(n), word || 'event'); }
        function compact(n, word) { return (n >= 10000 ? new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 }).format(n) : fmtNum(n, 2)) + ' ' + plural(n, word || 'event'); }
        function duration(s) {
          if (s == null) return '—';
          s = Math.max(0, Math.round(s));
          if (s < 60) return s + ' s';
          const m = Math.floor(s / 60);
          if (m < 60) return m + ' min' + (m < 10 && s % 60 ? ' ' + (s % 60) + ' s' : '');
          const hr = Math.floor(m / 60);
          if (hr < 48) return hr + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
          return fmtInt(Math.floor(hr / 24)) + ' d' + (hr % 24 ? ' ' + (hr % 24) + ' h' : '');
        }
        function ms(v) { return v == null ? '—' : v < 1000 ? fmtNum(v, v < 10 ? 1 : 0) + ' ms' : v < 60000 ? fmtNum(v / 1000, 1) + ' s' : duration(v / 1000); }
        function perSecond(n, seconds) {
          const r = seconds > 0 ? n / seconds : 0;
          if (r === 0 || r >= 1) return fmtNum(r, r < 10 ? 1 : 0) + ' events/s';
          return r * 60 >= 1 ? fmtNum(r * 60, 1) + ' events/min' : fmtNum(r * 3600, 1) + ' events/h';
        }
        function ago(iso) {
          const s = (Date.now() - Date.parse(iso)) / 1000;
          if (isNaN(s)) return '';
          return Math.abs(s) < 5 ? 'just now' : s > 0 ? duration(s) + ' ago' : 'in ' + duration(-s);
        }
        // A time in the browser's zone, with the UTC time on hover; `precise` adds milliseconds.
        function timeEl(iso, none, precise) {
          const d = iso ? new Date(iso) : null;
          if (!d || isNaN(d)) return h('span', { class: 'muted' }, iso || none || '—');
          const now = new Date(), options = { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: precise ? 3 : undefined };
          if (d.toDateString() !== now.toDateString()) Object.assign(options, { month: 'short', day: 'numeric' }, d.getFullYear() !== now.getFullYear() ? { year: 'numeric' } : {});
          return h('time', { datetime: iso, title: precise ? iso.replace('T', ' ').replace('Z', ' UTC') : Charts.utc(d.getTime()) }, d.toLocaleString(undefined, options));
        }
        // A message after an action (role=status); it survives the page's refreshes, not a navigation.
        function notice(id) { return h('p', { id, class: 'notice', role: 'status', tabindex: '-1', 'data-persist': true }); }
        function say(id, text, failed) { const e = $(id); if (e) { e.className = failed ? 'error' : 'notice ok'; e.textContent = text; } }
        function badge(text) { return h('span', { class: 'badge state-' + text }, text); }
        function errorBox(e) { return h('p', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e)); }
        function facts(pairs) { return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])); }
        function table(headers, rows, cls) {
          return h('div', { class: 'table-wrap' }, h('table', { class: cls || 'stack' },
            h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', class: /^(Events|Count|Attempts|Subjects|Versions)$/.test(t) ? 'num' : null }, t)))), h('tbody', {}, rows)));
        }
        function row(headers, cells, attrs) { return h('tr', attrs, cells.map((c, i) => c instanceof HTMLTableCellElement ? (c.dataset.label = headers[i], c) : h('td', { 'data-label': headers[i] }, c))); }
        function storyLink(id) { return h('a', { href: '/console#/events/' + encodeURIComponent(id), class: 'mono' }, id); }
        function destinationLink(name) { return h('a', { href: '/console#/destinations/' + encodeURIComponent(name) }, name); }

        function copyable(text, label) { return h('span', { class: 'copyable' }, h('code', {}, text), copyButton(text, label)); }

        // ---- The API ------------------------------------------------------------------------------------

        class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }
        function errorText(text) {
          try { const j = JSON.parse(text); if (j && typeof j.error === 'string') return j.error; if (j && typeof j.message === 'string') return j.message; } catch (e) { /* plain text */ }
          return text.trim();
        }
        async function api(path, options) {
          options = options || {};
          const init = { method: options.method || 'GET', headers: { Authorization: 'Bearer ' + state.token }, cache: 'no-store' };
          if (options.body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(options.body); }
          let res;
          try { res = await fetch(path, init); } catch (e) { throw new ApiError(0, 'The server could not be reached (' + e.message + ').'); }
          const text = await res.text();
          if (res.status === 401 || res.status === 403) { askToken(errorText(text) || 'The token was refused.'); throw new ApiError(res.status, errorText(text)); }
          if (!res.ok) throw new ApiError(res.status, init.method + ' ' + path.split('?')[0] + ' failed (HTTP ' + res.status + '): ' + (errorText(text) || res.statusText));
          try { return text ? JSON.parse(text) : null; } catch (e) { throw new ApiError(res.status, path.split('?')[0] + ' answered something that is not JSON: ' + text.slice(0, 200)); }
        }
        // The range's series; a step under a minute reaches only as far back as the server's stats.recent, so
        // when it is refused the server's own step is asked for instead, and the page says why.
        async function fetchStats() {
          const base = '/v1/stats?from=' + state.range, step = RANGES[state.range][0];
          try { return await api(base + '&step=' + step); } catch (e) {
            if (e.status !== 400 || !/s$/.test(step)) throw e;
            const stats = await api(base);
            stats.note = 'Steps of ' + step + ' are not kept that far back on this server (' + e.message.replace(/^.*?: /, '') + '); one point per ' + duration(stats.step) + ' instead.';
            return stats;
          }
        }
        function rangeWords() { return RANGES[state.range][1]; }

        // ---- Login, routes, refresh ---------------------------------------------------------------------

        function askToken(message) {
          $('login').hidden = false; $('view').hidden = true;
          $('login-error').textContent = message || '';
          $('token').focus();
        }

        function route(pattern, nav, render) { routes.push({ pattern, nav, render }); }

        // Replaces the page's content, keeping the focused control (by id or data-key) and the scroll position.
        function swap(main, content, ctx, charts) {
          const active = document.activeElement;
          const key = active && main.contains(active) ? (active.id ? '#' + CSS.escape(active.id) : active.dataset.key ? '[data-key="' + CSS.escape(active.dataset.key) + '"]' : null) : null;
          const y = window.scrollY;
          const kept = new Map([...main.querySelectorAll('[data-persist]')].map((e) => [e.id, e]));
          main.replaceChildren(...content.flat(Infinity).filter((c) => c != null && c !== false));
          for (const e of main.querySelectorAll('[data-persist]')) { const old = kept.get(e.id); if (old) e.replaceWith(old); }
          for (const [figure, options] of charts || []) Charts.timeSeries(figure, options);
          const again = key && main.querySelector(key);
          if (again) again.focus({ preventScroll: true });
          if (ctx.refresh) window.scrollTo(0, y);
        }

        async function show(refresh) {
          if (!state.token) { askToken(''); return; }
          const main = $('view');
          // An open confirmation, or a control being typed in, is never swept away by the timer.
          if (refresh === 'auto' && (main.querySelector('.confirm') || (main.contains(document.activeElement) && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)))) return;
          let path = location.hash.replace(/^#/, '') || '/';
          try { path = decodeURIComponent(path); } catch (e) { /* shown as typed */ }
          let match = null, params = [];
          for (const r of routes) { const m = r.pattern.exec(path); if (m) { match = r; params = m.slice(1); break; } }
          const id = refresh ? state.view : ++state.view;
          const ctx = { refresh: Boolean(refresh), alive: () => id === state.view };
          document.querySelectorAll('#nav a[data-nav]').forEach((a) => { if (match && a.dataset.nav === match.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); });
          try {
            if (!match) { main.replaceChildren(h('h2', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '/console#/' }, 'Back to the overview'), '.')); return; }
            if (refresh && state.update) await state.update(ctx);
            else {
              if (!refresh) { state.update = null; main.replaceChildren(h('p', { class: 'muted' }, 'Loading…')); }
              const update = await match.render(main, params, ctx);
              if (!refresh) state.update = typeof update === 'function' ? update : null;
            }
            if (!ctx.alive()) return;
            $('updated').replaceChildren('Updated ', timeEl(new Date().toISOString()));
            if (!refresh) {
              const heading = main.querySelector('h2');
              if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: true }); }
              document.title = (heading ? heading.textContent + ' · ' : '') + 'Switchyard console';
            }
          } catch (e) {
            if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return;
            if (ctx.alive()) main.replaceChildren(h('h2', {}, 'Something went wrong'), errorBox(e));
          }
        }
        function refreshNow() { return show(true); }

        // ---- Destinations: health cards and charts ------------------------------------------------------

        function healthCard(d) {
          const failure = d.lastFailure;
          const c = d.credentials, refresh = c && (c.refreshesAt || c.expiresAt);
          const refreshWords = !refresh ? '' : !c.refreshesAt ? ', refreshed before then' : Date.parse(refresh) > Date.now() ? ', refreshes ' : ', refreshed ';
          const credentials = c ? [c.provider, c.expiresAt ? [', expires ', timeEl(c.expiresAt)] : ', no expiry', refresh ? [refreshWords, c.refreshesAt ? [timeEl(refresh), ' (' + ago(refresh) + ')'] : ''] : '',
            c.failure ? h('div', { class: 'credentials-failure' }, h('strong', {}, 'Last refresh failed: '), c.failure) : null] : null;
          return h('article', { class: 'card health-card', 'data-destination': d.name, 'data-state': d.state, 'data-dead-letters': d.deadLetters, 'data-queue-depth': d.queueDepth },
            h('header', {}, h('h3', {}, destinationLink(d.name)), badge(d.state), h('span', { class: 'muted' }, d.type)),
            d.reason ? h('p', { class: 'reason' }, d.reason) : null,
            facts([
              ['State since', d.since ? [timeEl(d.since), ' (' + ago(d.since) + ')'] : '—'],
              d.pausedUntil ? ['Paused until', [timeEl(d.pausedUntil), ' (' + ago(d.pausedUntil) + ')']] : null,
              ['Last delivered', d.lastDeliveredAt ? [timeEl(d.lastDeliveredAt), ' (' + ago(d.lastDeliveredAt) + ')'] : 'never'],
              failure ? ['Last failure', h('span', { class: 'last-failure' }, h('strong', {}, failure.code || 'error'), failure.message ? ': ' + failure.message : '', ' ', failure.at ? ['(', timeEl(failure.at), ')'] : '')] : null,
              ['Credentials', credentials || '—'],
              ['Waiting', [count(d.queueDepth), d.queueDepth ? ', oldest ' + duration(d.oldestWaitingSeconds) : '']],
              ['Dead letters', d.deadLetters ? h('a', { href: '/console#/dead-letters', class: 'dead-letters' }, count(d.deadLetters)) : count(d.deadLetters || 0)],
            ]));
        }

        function seriesFrame(stats) { return { times: stats.times, step: stats.step, from: stats.from, to: stats.to, describe: rangeWords() }; }
        function zeros(stats) { return stats.times.map(() => null); }

        function destinationCharts(name, d, stats) {
          d = d || { totals: { latencyMs: {} }, latencyMs: {} };
          const t = d.totals || {}, lat = t.latencyMs || {}, z = zeros(stats), frame = seriesFrame(stats);
          const queue = d.queueDepth || z, latest = [...queue].reverse().find((v) => v != null);
          const figures = [
            [h('figure', { 'data-chart': 'deliveries', 'data-destination': name, 'data-total-delivered': t.delivered || 0, 'data-total-retried': t.retried || 0, 'data-total-dead-lettered': t.deadLettered || 0 }),
              Object.assign({ title: name + ': deliveries per ' + duration(stats.step), key: 'chart:deliveries:' + name, integer: true, format: (v) => compact(v), formatTotal: (v) => count(v || 0),
                series: [['delivered', 'delivered'], ['retried', 'retried'], ['deadLettered', 'dead-lettered']].map(([k, label]) => ({ name: label, values: d[k] || z, total: t[k] || 0, color: COLORS[k] })) }, frame)],
            [h('figure', { 'data-chart': 'latency', 'data-destination': name, 'data-p50': lat.p50, 'data-p95': lat.p95, 'data-p99': lat.p99 }),
              Object.assign({ title: name + ': send latency', key: 'chart:latency:' + name, integer: true, format: ms,
                series: ['p50', 'p95', 'p99'].map((k) => ({ name: k, values: (d.latencyMs || {})[k] || z, total: lat[k], color: COLORS[k] })) }, frame)],
            [h('figure', { 'data-chart': 'queue', 'data-destination': name, 'data-current': latest == null ? '' : latest }),
              Object.assign({ title: name + ': waiting in the queue', key: 'chart:queue:' + name, integer: true, format: (v) => compact(v), formatTotal: (v) => 'now ' + count(v),
                series: [{ name: 'queue depth', values: queue, total: latest, color: COLORS.queue }] }, frame)],
          ];
          return figures;
        }

        function sourceChart(name, s, stats) {
          const t = s.totals || {}, z = zeros(stats);
          const refusedTotal = Object.values(t.refused || {}).reduce((a, b) => a + b, 0);
          const refused = z.map((_, i) => { let sum = null; for (const arr of Object.values(s.refused || {})) if (arr[i] != null) sum = (sum || 0) + arr[i]; return sum; });
          const byStatus = Object.entries(t.refused || {}).map(([k, v]) => 'HTTP ' + k + ': ' + fmtInt(v)).join(', ');
          const keys = ['received', 'duplicates', 'refused', 'violations', 'filtered'].concat(t.suppressed ? ['suppressed'] : []);
          const figure = h('figure', { 'data-chart': 'source', 'data-source': name, 'data-total-received': t.received || 0, 'data-total-duplicates': t.duplicates || 0, 'data-total-refused': refusedTotal,
            'data-total-violations': t.violations || 0, 'data-total-filtered': t.filtered || 0, 'data-total-suppressed': t.suppressed || 0 });
          return [figure, Object.assign({ title: (name === '(unknown)' ? '(unknown): refused requests with an unknown write key' : name) + ' per ' + duration(stats.step), key: 'chart:source:' + name,
            integer: true, format: (v) => compact(v), formatTotal: (v) => fmtInt(v || 0),
            series: keys.map((k) => k === 'refused' ? { name: 'refused requests', values: refused, total: refusedTotal, color: COLORS[k], note: byStatus }
              : { name: k, values: s[k] || z, total: t[k] || 0, color: COLORS[k] }) }, seriesFrame(stats))];
        }

        function tile(id, label, value, raw) { return h('div', { class: 'tile', id, 'data-value': raw }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value)); }

        function totalsTiles(stats) {
          const sum = (obj, f) => Object.values(obj || {}).reduce((a, x) => a + (f(x.totals || {}) || 0), 0);
          const received = sum(stats.sources, (t) => t.received), refused = sum(stats.sources, (t) => Object.values(t.refused || {}).reduce((a, b) => a + b, 0));
          const delivered = sum(stats.destinations, (t) => t.delivered), retried = sum(stats.destinations, (t) => t.retried), dead = sum(stats.destinations, (t) => t.deadLettered);
          const seconds = (Date.parse(stats.to) - Date.parse(stats.from)) / 1000;
          return h('div', { class: 'tiles', id: 'totals' },
            tile('total-received', 'Received', count(received), received), tile('total-delivered', 'Delivered', count(delivered), delivered),
            tile('delivery-rate', 'Delivery rate (average)', perSecond(delivered, seconds), seconds > 0 ? delivered / seconds : 0),
            tile('total-retried', 'Retried', count(retried), retried), tile('total-dead-lettered', 'Dead-lettered', count(dead), dead),
            tile('total-refused', 'Refused requests', count(refused, 'request'), refused));
        }

        async function overview(main, params, ctx) {
          const [dests, stats] = await Promise.allSettled([api('/v1/destinations'), fetchStats()]);
          if (!ctx.alive()) return;
          const page = [h('h2', {}, 'Overview', h('small', {}, rangeWords()))], charts = [];
          page.push(stats.status === 'fulfilled' ? totalsTiles(stats.value) : errorBox(stats.reason));
          page.push(h('h3', {}, 'Destinations'));
          const list = dests.status === 'fulfilled' ? dests.value.destinations : [];
          page.push(dests.status === 'fulfilled' ? h('div', { class: 'cards', id: 'health' }, list.map(healthCard)) : errorBox(dests.reason));
          if (stats.status === 'fulfilled') {
            const s = stats.value, names = [...new Set(list.map((d) => d.name).concat(Object.keys(s.destinations || {})))];
            for (const name of names) {
              const figures = destinationCharts(name, s.destinations[name], s);
              charts.push(...figures);
              page.push(h('section', { class: 'block dest-section', 'data-destination': name, 'aria-label': name + ' charts' }, h('h3', {}, destinationLink(name)), h('div', { class: 'charts' }, figures.map(([f]) => f))));
            }
            const sources = Object.keys(s.sources || {}).sort();
            const sourceFigures = sources.map((name) => sourceChart(name, s.sources[name], s));
            charts.push(...sourceFigures);
            page.push(h('h3', {}, 'Sources'), sources.length ? h('div', { class: 'charts', id: 'sources' }, sourceFigures.map(([f]) => f)) : h('p', { class: 'muted' }, 'Nothing received in ' + rangeWords() + '.'));
            const memory = s.resolution === 'second' ? ', from this node\u2019s memory' : '';
            page.push(h('p', { class: 'muted', id: 'resolution' }, s.note || 'One point per ' + duration(s.step) + ' (' + s.resolution + ' resolution' + memory + ').'));
          }
          swap(main, page, ctx, charts);
        }

        async function destinationsIndex(main, params, ctx) {
          const res = await api('/v1/destinations');
          if (!ctx.alive()) return;
          swap(main, [h('h2', {}, 'Destinations'), res.destinations.length ? h('div', { class: 'cards', id: 'health' }, res.destinations.map(healthCard)) : h('p', {}, 'No destinations are configured.')], ctx);
        }

        async function destinationPage(main, [name], ctx) {
          const [dests, stats, letters] = await Promise.allSettled([api('/v1/destinations'), fetchStats(), api('/v1/dead-letters?destination=' + encodeURIComponent(name) + '&limit=100')]);
          if (!ctx.alive()) return;
          if (dests.status === 'rejected') throw dests.reason;
          const d = dests.value.destinations.find((x) => x.name === name);
          if (!d) { swap(main, [h('h2', {}, name), errorBox('No destination is named \u201c' + name + '\u201d.'), h('a', { href: '/console#/destinations' }, 'All destinations')], ctx); return; }
          const page = [h('h2', {}, d.name, badge(d.state), h('small', {}, d.type + ' · ' + rangeWords()))], charts = [];
          page.push(h('div', { class: 'dest-top' }, healthCard(d), h('div', { class: 'tiles' }, tile('waiting', 'Waiting', count(d.queueDepth), d.queueDepth),
            tile('oldest-waiting', 'Oldest waiting', d.queueDepth ? duration(d.oldestWaitingSeconds) : '—', d.oldestWaitingSeconds), tile('dead-letter-count', 'Dead letters', count(d.deadLetters), d.deadLetters))));
          if (stats.status === 'fulfilled') { const figures = destinationCharts(name, stats.value.destinations[name], stats.value); charts.push(...figures); page.push(h('div', { class: 'charts' }, figures.map(([f]) => f))); }
          else page.push(errorBox(stats.reason));
          const rules = d.rules || [];
          const rh = ['Rule', 'Action', 'Pattern', 'DetailType'];
          page.push(h('section', { class: 'block', id: 'rules' }, h('h3', {}, 'Rules'), rules.length
            ? table(rh, rules.map((r) => row(rh, [h('code', {}, r.name), r.action || '',
              r.pattern == null ? h('span', { class: 'muted' }, 'every event') : h('pre', {}, JSON.stringify(r.pattern, null, 2)), r.detailType || ''], { class: 'rule', 'data-rule': r.name })))
            : h('p', { class: 'muted' }, 'No rules: every event routed here becomes one entry.')));
          const section = h('section', { class: 'block', id: 'destination-dead-letters' }, h('h3', {}, 'Dead letters'), notice('replay-status'));
          if (letters.status === 'rejected') section.append(errorBox(letters.reason));
          else {
            const list = letters.value.deadLetters.slice().sort((a, b) => Date.parse(b.deadAt) - Date.parse(a.deadAt));
            if (d.deadLetters) {
              section.append(h('div', { class: 'actions' }, replayControl({ label: 'Replay all ' + count(d.deadLetters, 'dead letter'), cls: 'replay-all', n: d.deadLetters,
                body: { destination: name }, what: 'every dead letter of ' + name, key: 'replay-all:' + name })));
            }
            section.append(list.length ? deadLetterTable(list) : h('p', { class: 'muted' }, 'No dead letters.'));
            if (list.length < d.deadLetters) section.append(h('p', { class: 'muted' }, 'The newest ' + fmtInt(list.length) + ' of ' + count(d.deadLetters, 'dead letter') + '.'));
          }
          page.push(section);
          swap(main, page, ctx, charts);
        }

        function deadLetterTable(letters) {
          const headers = ['Dead-lettered', 'messageId', 'Event', 'Source', 'Attempts', 'Reason'];
          return table(headers, letters.map((l) => row(headers, [timeEl(l.deadAt), storyLink(l.messageId), (l.event || l.type) + (l.rule ? ' [' + l.rule + ']' : ''), l.source,
            h('td', { class: 'num' }, fmtInt(l.attempts)), h('td', { class: 'wrap' }, l.reason)], { class: 'dead-letter', 'data-message-id': l.messageId, 'data-job-id': l.jobId })));
        }

        // "Replay these" → an in-page confirmation → POST /v1/replay → "N events replayed" in #replay-status.
        function replayControl({ label, cls, n, body, what, key }) {
          const wrap = h('div', { class: 'replay-control' });
          const button = h('button', { type: 'button', class: cls, 'data-key': key, 'data-count': n }, label);
          button.addEventListener('click', () => {
            if (wrap.querySelector('.confirm')) return;
            const confirm = h('button', { type: 'button', class: 'danger confirm-replay', 'data-key': key + ':confirm' }, 'Confirm replay of ' + count(n));
            const cancel = h('button', { type: 'button', class: 'confirm-cancel' }, 'Cancel');
            const box = h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm the replay' }, h('span', {}, 'Put ' + count(n) + ' (' + what + ') back in the queue? Their attempts start over.'), confirm, cancel);
            cancel.addEventListener('click', () => { box.remove(); button.focus(); });
            confirm.addEventListener('click', async () => {
              confirm.disabled = cancel.disabled = true;
              try {
                const answer = await api('/v1/replay', { method: 'POST', body });
                say('replay-status', count(answer.replayed) + ' replayed');
              } catch (e) {
                say('replay-status', 'The replay failed: ' + e.message, true);
              }
              box.remove();
              await refreshNow();
              const again = $('replay-status'); if (again) again.focus();
            });
            wrap.append(box);
            confirm.focus();
          });
          wrap.prepend(button);
          return wrap;
        }

        // ---- Start --------------------------------------------------------------------------------------

        route(/^\/?$/, 'overview', overview);
        route(/^\/destinations\/?$/, 'destinations', destinationsIndex);
        route(/^\/destinations\/(.+)$/, 'destinations', destinationPage);

        document.addEventListener('DOMContentLoaded', () => {
          $('range').value = RANGES[state.range] ? state.range : (state.range = '1h');
          const offset = -new Date().getTimezoneOffset(), zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'your time zone';
          const utcOffset = 'UTC' + (offset < 0 ? '\u2212' : '+') + String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0') + ':' + String(Math.abs(offset) % 60).padStart(2, '0');
          $('zone').textContent = offset === 0 && /^(UTC|Etc\/UTC|GMT)$/.test(zone) ? 'Times are in UTC.' : 'Times are in ' + zone + ' (' + utcOffset + ' now); hover over a time to see it in UTC.';
          $('login-form').addEventListener('submit', (e) => {
            e.preventDefault();
            const token = $('token').value.trim();
            if (!token) { $('login-error').textContent = 'Enter the admin token.'; return; }
            state.token = token; sessionStorage.setItem(TOKEN_KEY, token); $('token').value = '';
            $('login').hidden = true; $('view').hidden = false;
            show(false);
          });
          $('sign-out').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); state.token = ''; $('view').replaceChildren(); askToken('Signed out.'); });
          $('range').addEventListener('change', () => { state.range = $('range').value; sessionStorage.setItem(RANGE_KEY, state.range); refreshNow(); });
          $('refresh').addEventListener('click', refreshNow);
          $('auto-refresh').addEventListener('click', () => {
            state.auto = !state.auto;
            $('auto-refresh').setAttribute('aria-pressed', String(state.auto));
            $('auto-refresh').textContent = 'Auto-refresh every 10 s: ' + (state.auto ? 'on' : 'paused');
          });
          $('find-event').addEventListener('submit', (e) => { e.preventDefault(); const id = $('find-message-id').value.trim(); if (id) location.hash = '/events/' + encodeURIComponent(id); });
          $('skip').addEventListener('click', () => { const heading = $('view').querySelector('h2'); (heading || $('view')).focus(); });
          window.addEventListener('hashchange', () => show(false));
          setInterval(() => { if (state.auto && state.token && $('login').hidden && document.visibilityState === 'visible') show('auto'); }, REFRESH_MS);
          if (state.token) { $('login').hidden = true; show(false); } else askToken('');
        });

        """#
}
