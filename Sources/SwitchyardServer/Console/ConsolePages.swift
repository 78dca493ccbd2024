// The operator console's other pages, served at /console/pages.js: dead letters, violations, schemas, replays, regulations, stories.
enum ConsolePages {
    static let js = #"""
        "use strict";
        // The console's other pages: dead letters, violations, schemas, replays, regulations and one event's
        // story. They use the helpers of /console/app.js (h, api, route, swap, timeEl, count, replayControl…).

        // ---- Dead letters: groups by destination and error code --------------------------------------------

        // What an expanded row last showed, so a refresh redraws it at once (no jump) while it loads again.
        const shown = new Map();
        function toggleRow(tr, key, columns, noun, what, fill) {
          const button = h('button', { type: 'button', class: 'toggle', 'aria-expanded': 'false', 'data-key': 'toggle:' + key });
          const label = (open) => {
            button.setAttribute('aria-expanded', String(open)); button.textContent = (open ? 'Hide ' : 'Show ') + noun;
            button.setAttribute('aria-label', (open ? 'Hide the ' : 'Show the ') + noun + ' of ' + what);
          };
          label(false);
          const open = () => {
            const cell = h('td', { colspan: columns }, shown.has(key) ? shown.get(key).map((n) => n.cloneNode(true)) : h('p', { class: 'muted' }, 'Loading…'));
            tr.after(h('tr', { class: 'sub' }, cell)); label(true);
            Promise.resolve(fill(cell)).then(() => shown.set(key, [...cell.childNodes].map((n) => n.cloneNode(true))));
          };
          button.addEventListener('click', () => {
            const sub = tr.nextElementSibling && tr.nextElementSibling.classList.contains('sub') ? tr.nextElementSibling : null;
            if (sub) { sub.remove(); state.expanded.delete(key); label(false); } else { state.expanded.add(key); open(); }
          });
          if (state.expanded.has(key)) queueMicrotask(open);
          return button;
        }

        async function fillWith(cell, promise, render) {
          try { cell.replaceChildren(render(await promise)); } catch (e) { cell.replaceChildren(errorBox(e)); }
        }

        async function deadLettersPage(main, params, ctx) {
          const res = await api('/v1/dead-letters/groups');
          if (!ctx.alive()) return;
          const byDestination = new Map();
          for (const g of res.groups) { if (!byDestination.has(g.destination)) byDestination.set(g.destination, []); byDestination.get(g.destination).push(g); }
          const total = res.groups.reduce((a, g) => a + g.count, 0);
          const page = [h('h2', {}, 'Dead letters', h('small', {}, count(total, 'dead letter'))), notice('replay-status')];
          if (!res.groups.length) page.push(h('p', { id: 'no-dead-letters' }, 'No dead letters: every event was delivered or is still being tried.'));
          if (res.truncated) page.push(h('p', { class: 'muted' }, 'Only the largest groups are shown.'));
          const headers = ['Error code', 'Events', 'First', 'Last', 'Example reason', 'Actions'];
          for (const [destination, groups] of byDestination) {
            const sum = groups.reduce((a, g) => a + g.count, 0);
            const rows = groups.sort((a, b) => b.count - a.count).map((g) => {
              const key = 'dl:' + destination + '|' + g.errorCode;
              const tr = row(headers, [h('code', {}, g.errorCode), h('td', { class: 'num' }, fmtInt(g.count)), timeEl(g.oldest), timeEl(g.newest), h('td', { class: 'wrap' }, g.example), h('div', { class: 'actions' })],
                { class: 'dl-group', 'data-destination': destination, 'data-error-code': g.errorCode, 'data-count': g.count });
              const query = '/v1/dead-letters?destination=' + encodeURIComponent(destination) + '&errorCode=' + encodeURIComponent(g.errorCode) + '&limit=50';
              const toggle = toggleRow(tr, key, headers.length, 'letters', destination + ' with ' + g.errorCode,
                (cell) => fillWith(cell, api(query), (r) => r.deadLetters.length ? deadLetterTable(r.deadLetters) : h('p', {}, 'None left.')));
              tr.lastChild.lastChild.append(toggle, replayControl({ label: 'Replay these', cls: 'replay-group', n: g.count, body: { destination, errorCode: g.errorCode }, what: destination + ', ' + g.errorCode, key: 'replay:' + key }));
              return tr;
            });
            page.push(h('section', { class: 'block dl-destination', 'data-destination': destination, 'aria-label': 'Dead letters of ' + destination },
              h('h3', {}, destinationLink(destination), ' ', h('small', { class: 'muted' }, count(sum, 'dead letter'))),
              h('div', { class: 'actions' }, replayControl({ label: 'Replay all ' + count(sum, 'dead letter') + ' of ' + destination, cls: 'replay-all', n: sum, body: { destination },
                what: 'every dead letter of ' + destination, key: 'replay-all:' + destination })),
              table(headers, rows)));
          }
          swap(main, page, ctx);
        }

        // ---- Violations: the tracking plans' latest records, grouped ------------------------------------

        async function violationsPage(main, params, ctx) {
          const res = await api('/v1/violations?limit=100');
          if (!ctx.alive()) return;
          const groups = new Map();
          for (const r of res.records) {
            const list = (r.detail && r.detail.violations) || [{ type: 'Unknown-Violation', message: r.errorMessage || '' }];
            for (const v of list) {
              const key = [r.source, r.event || r.type || '', v.type].join('|');
              if (!groups.has(key)) groups.set(key, { source: r.source, event: r.event || r.type || '(no name)', type: v.type, count: 0, ids: new Set(), last: r.at, example: v.message });
              const g = groups.get(key); g.count++; g.ids.add(r.messageId);
              if (Date.parse(r.at) > Date.parse(g.last)) g.last = r.at;
            }
          }
          const gh = ['Source', 'Event', 'Type', 'Count', 'Events', 'Last seen', 'Example'];
          const rh = ['Time', 'Source', 'Event', 'Outcome', 'Plan', 'Violations', 'messageId'];
          const place = (v) => ((v.meta && v.meta.instancePath) || '/') + (v.meta && v.meta.property ? ' \u2018' + v.meta.property + '\u2019' : '') + ': ' + v.message + ' (' + v.type + ')';
          swap(main, [
            h('h2', {}, 'Violations', h('small', {}, 'the latest ' + count(res.records.length, 'violating event'))),
            res.records.length ? null : h('p', {}, 'No tracking plan violations recorded.'),
            h('section', { class: 'block' }, h('h3', {}, 'By source, event and type'), table(gh, [...groups.values()].sort((a, b) => b.count - a.count).map((g) =>
              row(gh, [g.source, g.event, h('code', {}, g.type), h('td', { class: 'num' }, fmtInt(g.count)), h('td', { class: 'num' }, fmtInt(g.ids.size)), timeEl(g.last), h('td', { class: 'wrap' }, g.example)],
                { class: 'violation-group', 'data-source': g.source, 'data-event': g.event, 'data-type': g.type, 'data-count': g.count })))),
            h('section', { class: 'block' }, h('h3', {}, 'Latest'), table(rh, res.records.map((r) => row(rh, [timeEl(r.at), r.source, r.event || r.type || '', badge(r.status),
              (r.detail && r.detail.trackingPlan) || '', h('td', { class: 'wrap' }, ((r.detail && r.detail.violations) || []).map((v) => h('div', {}, place(v)))),
              r.status === 'dropped' ? h('code', {}, r.messageId) : storyLink(r.messageId)], { class: 'violation', 'data-message-id': r.messageId })))),
          ], ctx);
        }

        // ---- Schemas discovered from live traffic ---------------------------------------------------------

        function changesText(c) {
          if (!c) return 'first version';
          const parts = c.added.map((p) => '+ ' + p).concat(c.removed.map((p) => '\u2212 ' + p), c.retyped.map((r) => '~ ' + r.path + ': ' + r.from + ' \u2192 ' + r.to));
          return parts.length ? parts.join(', ') : 'no change in places';
        }

        async function schemasPage(main, params, ctx) {
          const res = await api('/v1/schemas');
          if (!ctx.alive()) return;
          const bySource = new Map();
          for (const m of res.schemas) { if (!bySource.has(m.source)) bySource.set(m.source, []); bySource.get(m.source).push(m); }
          const headers = ['Event', 'Events', 'Versions', 'First seen', 'Last seen', 'Details'];
          const vh = ['Version', 'Events', 'First seen', 'Last seen', 'Digest', 'Changes'];
          const page = [h('h2', {}, 'Schemas', h('small', {}, count(res.schemas.length, 'event model') + ' discovered from live traffic'))];
          if (!res.schemas.length) page.push(h('p', {}, 'No schemas discovered yet: they appear after the first events (and the next flush).'));
          for (const [source, models] of bySource) {
            const rows = models.map((m) => {
              const name = m.event ? m.type + ' \u201c' + m.event + '\u201d' : m.type, key = 'schema:' + [m.source, m.type, m.event || ''].join('|');
              const tr = row(headers, [h('strong', {}, name), h('td', { class: 'num' }, count(m.events), m.sampled ? h('div', { class: 'hint' }, fmtInt(m.inferred) + ' inferred (sampled)') : null),
                h('td', { class: 'num' }, fmtInt(m.versions.length)), timeEl(m.firstSeen), timeEl(m.lastSeen), h('div', { class: 'actions' })],
                { class: 'schema-model', 'data-source': m.source, 'data-type': m.type, 'data-event': m.event || '', 'data-versions': m.versions.length });
              const query = '/v1/schemas/export?source=' + encodeURIComponent(m.source) + '&type=' + encodeURIComponent(m.type) + (m.event ? '&event=' + encodeURIComponent(m.event) : '') + '&format=jsonschema';
              const toggle = toggleRow(tr, key, headers.length, 'versions', name, async (cell) => {
                const json = h('div', { class: 'schema-json' });
                await fillWith(json, api(query), (schema) => h('pre', {}, JSON.stringify(schema, null, 2)));
                cell.replaceChildren(table(vh, m.versions.map((v) => row(vh, [fmtInt(v.version), h('td', { class: 'num' }, fmtInt(v.events)), timeEl(v.firstSeen), timeEl(v.lastSeen),
                  h('code', {}, v.digest.slice(0, 12)), h('td', { class: 'wrap' }, changesText(v.changes))]))),
                  h('h4', {}, 'JSON Schema (every version merged)'), json);
              });
              tr.lastChild.lastChild.append(toggle);
              return tr;
            });
            page.push(h('section', { class: 'block', 'data-source': source }, h('h3', {}, source), table(headers, rows)));
          }
          swap(main, page, ctx);
        }

        // ---- Replays of archived events -------------------------------------------------------------------

        function localInput(date) {
          const p = (n) => String(n).padStart(2, '0');
          return date.getFullYear() + '-' + p(date.getMonth() + 1) + '-' + p(date.getDate()) + 'T' + p(date.getHours()) + ':' + p(date.getMinutes()) + ':' + p(date.getSeconds());
        }
        const words = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

        function replayCard(r) {
          const p = r.progress || {}, live = r.state === 'STARTING' || r.state === 'RUNNING';
          const share = r.state === 'COMPLETED' ? 1 : p.filesTotal > 0 ? p.filesDone / p.filesTotal : live ? null : 0;
          const bar = h('progress', { max: '100', 'aria-label': 'Progress of ' + r.name, 'data-percent': share == null ? '' : Math.round(share * 100) });
          if (share != null) bar.value = Math.round(share * 100);
          const cancel = live ? h('button', { type: 'button', class: 'cancel-run', 'data-name': r.name, 'data-key': 'cancel-run:' + r.name }, 'Cancel ' + r.name) : null;
          if (cancel) cancel.addEventListener('click', async () => {
            cancel.disabled = true;
            try { await api('/v1/replays/' + encodeURIComponent(r.name), { method: 'DELETE' }); say('replay-run-status', 'Replay ' + r.name + ' is being cancelled.'); } catch (e) { say('replay-run-status', e.message, true); }
            refreshNow();
          });
          const filter = r.filter && Object.keys(r.filter).length ? Object.entries(r.filter).map(([k, v]) => k + ': ' + (Array.isArray(v) ? v.join(', ') : JSON.stringify(v))).join('; ') : 'every event';
          return h('article', { class: 'card replay', 'data-name': r.name, 'data-state': r.state },
            h('header', {}, h('h3', {}, r.name), badge(r.state)),
            h('div', { class: 'progress-line' }, bar, h('div', { class: 'muted' }, share == null ? (live ? 'reading…' : '')
              : fmtInt(share * 100) + '%' + (p.filesTotal ? ' · ' + fmtInt(p.filesDone) + ' of ' + count(p.filesTotal, 'archive file') : ''))),
            facts([
              ['Range', [timeEl(r.from), ' to ', timeEl(r.to)]],
              ['Destinations', r.destinations.join(', ')],
              ['Filter', h('code', {}, filter)],
              ['Events', count(p.eventsRead || 0) + ' read, ' + fmtInt(p.eventsSent || 0) + ' sent, ' + fmtInt(p.eventsSkipped || 0) + ' skipped'],
              ['Last replayed', timeEl(p.lastReplayedTime, 'nothing yet')],
              ['Rate', 'at most ' + fmtInt(r.rate) + ' events/s'],
              ['Started', timeEl(r.createdAt)],
              r.finishedAt ? ['Finished', timeEl(r.finishedAt)] : null,
              r.reason ? ['Reason', r.reason] : null,
            ]),
            cancel ? h('div', { class: 'actions' }, cancel) : null);
        }

        async function replaysPage(main, params, ctx) {
          const [list, dests] = await Promise.allSettled([api('/v1/replays'), api('/v1/destinations')]);
          if (!ctx.alive()) return;
          const box = h('div', { id: 'replays-list', class: 'cards' });
          const fill = (l) => {
            const replays = l.replays.slice().sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
            box.replaceChildren(...(replays.length ? replays.map(replayCard) : [h('p', { class: 'muted' }, 'No replays yet.')]));
          };
          if (list.status === 'fulfilled') fill(list.value); else box.replaceChildren(errorBox(list.reason));
          const now = new Date(Math.ceil(Date.now() / 60000) * 60000);
          const field = (id, label, input, hint) => h('div', {}, h('label', { for: id }, label, hint ? h('span', { class: 'hint' }, ' ' + hint) : null), input);
          const names = dests.status === 'fulfilled' ? dests.value.destinations.map((d) => d.name) : [];
          const stamp = () => 'replay-' + localInput(new Date()).replace(/[-:]/g, '').replace('T', '-');
          const form = h('form', { id: 'replay-form', class: 'form-grid', novalidate: true },
            field('replay-name', 'Name', h('input', { id: 'replay-name', required: true, maxlength: '64', value: stamp(), autocomplete: 'off' }), '(letters, digits, . - _)'),
            field('replay-from', 'From', h('input', { id: 'replay-from', type: 'datetime-local', step: '1', required: true, value: localInput(new Date(now - 3600000)) }), '(your time)'),
            field('replay-to', 'To', h('input', { id: 'replay-to', type: 'datetime-local', step: '1', required: true, value: localInput(now) }), '(your time)'),
            h('fieldset', { id: 'replay-destinations' }, h('legend', {}, 'Destinations'),
              names.length ? names.map((n) => h('label', {}, h('input', { type: 'checkbox', name: 'destination', value: n }), n)) : errorBox(dests.reason || 'No destinations.')),
            field('replay-events', 'Only these events', h('input', { id: 'replay-events', placeholder: 'Order Completed, Signed Up' }), '(optional, comma-separated)'),
            field('replay-sources', 'Only these sources', h('input', { id: 'replay-sources', placeholder: 'web' }), '(optional)'),
            field('replay-rate', 'Rate', h('input', { id: 'replay-rate', type: 'number', min: '1', max: '100000', placeholder: '1000' }), '(events/s, optional)'),
            h('div', {}, h('label', { for: 'replay-force', class: 'check' }, h('input', { type: 'checkbox', id: 'replay-force' }), 'Force'),
              h('div', { class: 'hint' }, 'Start even if another replay sends part of this range to the same destinations.')),
            h('div', {}, h('button', { type: 'submit', class: 'primary', id: 'replay-start' }, 'Start replay')));
          form.addEventListener('submit', async (e) => {
            e.preventDefault();
            const get = (id) => $(id).value.trim();
            const from = new Date(get('replay-from')), to = new Date(get('replay-to'));
            const destinations = [...form.querySelectorAll('input[name=destination]:checked')].map((i) => i.value);
            const problem = !get('replay-name') ? 'Give the replay a name.' : isNaN(from) || isNaN(to) ? 'Give the range: from and to.' : !destinations.length ? 'Choose at least one destination.' : null;
            if (problem) { say('replay-form-status', problem, true); return; }
            const body = { name: get('replay-name'), from: from.toISOString(), to: to.toISOString(), destinations };
            const filter = {};
            if (words(get('replay-events')).length) filter.events = words(get('replay-events'));
            if (words(get('replay-sources')).length) filter.sources = words(get('replay-sources'));
            if (Object.keys(filter).length) body.filter = filter;
            if (get('replay-rate')) body.rate = Number(get('replay-rate'));
            if ($('replay-force').checked) body.force = true;
            $('replay-start').disabled = true;
            try {
              const started = await api('/v1/replays', { method: 'POST', body });
              say('replay-form-status', 'Replay ' + started.name + ' started (' + started.state + ').');
              $('replay-name').value = stamp();
              fill(await api('/v1/replays'));
            } catch (err) { say('replay-form-status', err.message, true); }
            $('replay-start').disabled = false;
          });
          swap(main, [h('h2', {}, 'Replays'), notice('replay-run-status'), box,
            h('section', { class: 'block', 'aria-labelledby': 'replay-form-title' }, h('h3', { id: 'replay-form-title' }, 'Start a replay'),
              h('p', { class: 'muted' }, 'Sends the events received in a time range again (from the archive, then the store) to the destinations you choose.'), form, notice('replay-form-status'))], ctx);
          return async (c) => { try { const l = await api('/v1/replays'); if (c.alive()) fill(l); } catch (e) { if (c.alive()) box.replaceChildren(errorBox(e)); } };
        }

        // ---- Regulations: suppression and deletion --------------------------------------------------------

        const REMOVED = [['events', 'event'], ['waitingJobs', 'waiting job'], ['deliveredJobs', 'delivered job'], ['deadLetters', 'dead letter'], ['logRecords', 'log record'], ['messageIndexEntries', 'index entry'], ['dedupMarks', 'dedup mark']];

        async function regulationsPage(main, params, ctx) {
          const box = h('div', { id: 'regulations-list' });
          const headers = ['ID', 'Type', 'Subjects', 'Status', 'Recorded', 'Finished', 'Removed'];
          const fill = (res) => {
            const list = res.data.regulations;
            box.replaceChildren(list.length ? table(headers, list.map((r) => row(headers, [copyable(r.id, 'Copy regulation id'), h('code', {}, r.regulationType),
              h('td', { class: 'num' }, fmtInt(r.subjectCount) + ' ' + (r.subjectType === 'ANONYMOUS_ID' ? 'anonymous ' + plural(r.subjectCount, 'id') : 'user ' + plural(r.subjectCount, 'id'))),
              badge(r.overallStatus), timeEl(r.createdAt), timeEl(r.finishedAt, '—'),
              r.removed ? REMOVED.filter(([k]) => r.removed[k]).map(([k, label]) => count(r.removed[k], label)).join(', ') || 'nothing yet' : 'n/a (no deletion)'],
              { class: 'regulation', 'data-id': r.id, 'data-status': r.overallStatus }))) : h('p', { class: 'muted' }, 'No regulations recorded.'));
          };
          fill(await api('/v1/regulations?limit=100'));
          if (!ctx.alive()) return;
          const type = h('select', { id: 'regulation-type' }, ['SUPPRESS_ONLY', 'SUPPRESS_WITH_DELETE', 'DELETE_INTERNAL', 'UNSUPPRESS'].map((t) => h('option', { value: t }, t)));
          const subject = h('select', { id: 'regulation-subject-type' }, h('option', { value: 'USER_ID' }, 'USER_ID (userId)'), h('option', { value: 'ANONYMOUS_ID' }, 'ANONYMOUS_ID (anonymousId)'));
          const ids = h('textarea', { id: 'regulation-ids', rows: '3', placeholder: 'u1\nu2', spellcheck: 'false' });
          const submit = h('button', { type: 'submit', class: 'primary', id: 'regulation-submit' }, 'Record regulation');
          const form = h('form', { id: 'regulation-form', class: 'form-grid' },
            h('div', {}, h('label', { for: 'regulation-type' }, 'Type'), type), h('div', {}, h('label', { for: 'regulation-subject-type' }, 'Subjects are'), subject),
            h('div', {}, h('label', { for: 'regulation-ids' }, 'Ids ', h('span', { class: 'hint' }, '(one per line or comma-separated)')), ids), h('div', {}, submit));
          const post = async (body) => {
            submit.disabled = true;
            try {
              const res = await api('/v1/regulations', { method: 'POST', body });
              say('regulation-status', 'Regulation ' + res.data.regulateId + ' recorded (' + res.data.regulation.overallStatus + ').');
              ids.value = ''; fill(await api('/v1/regulations?limit=100'));
            } catch (e) { say('regulation-status', e.message, true); }
            submit.disabled = false;
          };
          form.addEventListener('submit', (e) => {
            e.preventDefault();
            form.querySelectorAll('.confirm').forEach((c) => c.remove());
            const list = ids.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
            if (!list.length) { say('regulation-status', 'Give at least one id.', true); return; }
            const body = { regulationType: type.value, subjectType: subject.value, subjectIds: list };
            if (!/DELETE/.test(type.value)) { post(body); return; }
            const yes = h('button', { type: 'button', class: 'danger confirm-regulation' }, 'Confirm: delete what is stored of ' + count(list.length, 'subject'));
            const no = h('button', { type: 'button' }, 'Cancel');
            const box2 = h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm the deletion' }, h('span', {}, 'Every stored event of these subjects is deleted, and cannot be brought back.'), yes, no);
            yes.addEventListener('click', () => { box2.remove(); post(body); });
            no.addEventListener('click', () => { box2.remove(); submit.focus(); });
            form.append(box2); yes.focus();
          });
          swap(main, [h('h2', {}, 'Regulations'), box, h('section', { class: 'block', 'aria-labelledby': 'regulation-form-title' },
            h('h3', { id: 'regulation-form-title' }, 'Suppress or delete a user\u2019s events'), form, notice('regulation-status'))], ctx);
          return async (c) => { try { const r = await api('/v1/regulations?limit=100'); if (c.alive()) fill(r); } catch (e) { if (c.alive()) box.replaceChildren(errorBox(e)); } };
        }

        // ---- One event's story ------------------------------------------------------------------------------

        function recordLine(r) {
          const parts = [r.kind === 'attempt' ? 'attempt ' + r.attempt + ' \u2192 ' + r.status : r.kind + ' \u2192 ' + r.status, ['at ', timeEl(r.at, null, true)]];
          if (r.reference) parts.push(['delivered as ', copyable(r.reference, 'Copy reference')]);
          if (r.errorCode) parts.push('error ' + r.errorCode + (r.httpStatus ? ' (HTTP ' + r.httpStatus + ')' : ''));
          if (r.errorMessage) parts.push(r.errorMessage);
          if (r.nextRetryAt) parts.push(['next retry ', timeEl(r.nextRetryAt)]);
          if (r.requestId) parts.push(['request ', copyable(r.requestId, 'Copy request id')]);
          if (r.batchId) parts.push(['batch ', copyable(r.batchId, 'Copy batch id')]);
          return h('div', { class: 'attempt ' + r.status }, parts.map((p, i) => (i ? [' · ', p] : p)));
        }

        async function storyPage(main, [id], ctx) {
          let story;
          try { story = await api('/v1/events/' + encodeURIComponent(id)); } catch (e) {
            if (e.status !== 404) throw e;
            swap(main, [h('h2', {}, 'Event ', h('code', {}, id)), errorBox(e), h('p', {}, h('a', { class: 'live-link', href: '/live?messageId=' + encodeURIComponent(id) }, 'Look for it in the live log'))], ctx);
            return;
          }
          if (!ctx.alive()) return;
          const ev = story.event || {}, records = story.records || [];
          const page = [h('h2', { id: 'story-title' }, 'Event ', h('code', { class: 'message-id' }, story.messageId), copyButton(story.messageId, 'Copy message id')),
            h('p', {}, h('a', { class: 'live-link', href: '/live?messageId=' + encodeURIComponent(story.messageId) }, 'Show this event in the live log')),
            facts([['Source', story.source], ['Received', timeEl(story.receivedAt, null, true)], ['Type', ev.type || '—'], ev.event ? ['Event', ev.event] : null, ['User', ev.userId || ev.anonymousId || '—']])];
          const jh = ['Destination', 'State', 'Attempts', 'Next attempt', 'Last error'];
          page.push(h('section', { class: 'block' }, h('h3', {}, 'Destinations'), story.jobs.length ? table(jh, story.jobs.map((j) => row(jh, [[destinationLink(j.destination), j.rule ? ' [' + j.rule + ']' : '',
            j.jobId != null ? [' ', copyable(String(j.jobId), 'Copy job id')] : ''], badge(j.state), h('td', { class: 'num' }, fmtInt(j.attempts)), timeEl(j.nextAttemptAt, '—'),
            h('td', { class: 'wrap' }, j.lastError && j.state === 'succeeded' ? h('span', { class: 'muted' }, 'before: ' + j.lastError) : j.lastError || '')],
          { class: 'story-job-row', 'data-destination': j.destination, 'data-state': j.state }))) : h('p', { class: 'muted' }, 'No jobs: the event went to no destination.')));
          page.push(h('section', { class: 'block' }, h('h3', {}, 'Original event'), h('pre', { id: 'story-event' }, JSON.stringify(story.event, null, 2))));
          for (const job of story.jobs) {
            const mine = (r) => r.destination === job.destination && r.rule === job.rule;
            const section = h('section', { class: 'block story-job', 'data-destination': job.destination },
              h('h3', {}, '\u2192 ' + job.destination + (job.rule ? ' [' + job.rule + ']' : '') + ': ' + job.state + ' after ' + count(job.attempts, 'attempt')), job.nextAttemptAt ? h('p', {}, 'Next try ', timeEl(job.nextAttemptAt)) : null);
            const script = records.find((r) => r.kind === 'transformation' && mine(r));
            if (script) {
              const d = script.detail || {};
              if (d.events) section.append(h('h4', {}, 'After transformations (' + (d.transformations || []).join(', ') + ')'), h('pre', { class: 'detail-transformation' }, JSON.stringify(d.events, null, 2)));
              if (script.errorMessage) section.append(h('p', { class: 'detail-transformation-' + script.status }, script.errorMessage));
              if (d.logs) section.append(h('h4', {}, 'log() lines'), h('pre', {}, d.logs.join('\n')));
            }
            const entry = records.filter((r) => r.kind === 'transformed' && mine(r)).pop();
            if (entry) section.append(h('h4', {}, 'Entry as sent'), ...entryNodes(entry.detail));
            for (const r of records.filter((r) => (r.kind === 'attempt' || r.kind === 'dead' || r.kind === 'replayed') && mine(r))) section.append(recordLine(r));
            page.push(section);
          }
          for (const r of records.filter((r) => r.kind === 'skipped')) page.push(h('p', { class: 'detail-skipped' }, '\u2192 ' + r.destination + ': skipped, ' + r.errorMessage));
          for (const r of records.filter((r) => r.kind === 'violation')) {
            page.push(h('section', { class: 'block detail-violation' }, h('h3', {}, 'Tracking plan ' + ((r.detail && r.detail.trackingPlan) || '') + ': ' + r.status),
              ((r.detail && r.detail.violations) || []).map((v) => h('div', { class: 'attempt' }, ((v.meta && v.meta.instancePath) || '/') + ': ' + v.message + ' (' + v.type + ')'))));
          }
          const rh = ['Time', 'Record', 'Status', 'Destination', 'Attempt', 'Note'];
          page.push(h('section', { class: 'block' }, h('h3', {}, 'Every record'), table(rh, records.map((r) => row(rh, [timeEl(r.at, null, true), r.kind, badge(r.status), r.destination || '', r.attempt == null ? '' : fmtInt(r.attempt),
            h('td', { class: 'wrap' }, r.errorCode ? r.errorCode + (r.errorMessage ? ': ' + r.errorMessage : '') : r.errorMessage || r.reference || '')], { class: 'story-record', 'data-kind': r.kind })))));
          swap(main, page, ctx);
        }

        route(/^\/dead-letters\/?$/, 'dead-letters', deadLettersPage);
        route(/^\/violations\/?$/, 'violations', violationsPage);
        route(/^\/schemas\/?$/, 'schemas', schemasPage);
        route(/^\/replays\/?$/, 'replays', replaysPage);
        route(/^\/regulations\/?$/, 'regulations', regulationsPage);
        route(/^\/events\/(.+)$/, null, storyPage);

        """#
}
