// The live delivery log page: plain HTML, CSS and JavaScript, served as it is (no build step).
enum LivePage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Switchyard · live delivery log</title>
        <style>
          :root { --ok: #1a7f37; --fail: #b35900; --dead: #c62828; --wait: #5b6b7b; --recv: #2a5db0; --bg: #f6f8fa; }
          * { box-sizing: border-box; }
          body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #fff; }
          header { padding: 10px 16px; background: #24292f; color: #fff; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
          header h1 { font-size: 15px; margin: 0; }
          #summary { font-variant-numeric: tabular-nums; opacity: .9; }
          #connection { margin-left: auto; font-size: 12px; }
          #connection.live::before { content: "●"; color: #3fb950; margin-right: 4px; }
          #connection.down::before { content: "●"; color: #f85149; margin-right: 4px; }
          .bar { display: flex; gap: 8px; padding: 8px 16px; background: var(--bg); border-bottom: 1px solid #d0d7de; flex-wrap: wrap; align-items: center; }
          .bar input, .bar select { font: inherit; padding: 3px 6px; border: 1px solid #d0d7de; border-radius: 4px; }
          .bar button { font: inherit; padding: 3px 10px; border: 1px solid #d0d7de; border-radius: 4px; background: #fff; cursor: pointer; }
          main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); height: calc(100vh - 96px); }
          #table-wrap { overflow: auto; border-right: 1px solid #d0d7de; }
          table { border-collapse: collapse; width: 100%; }
          th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2; white-space: nowrap; }
          th { position: sticky; top: 0; background: var(--bg); font-weight: 600; }
          tbody tr { cursor: pointer; }
          tbody tr:hover, tbody tr.selected { background: #ddf4ff; }
          td.mid, td.err { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
          td.mid { max-width: 150px; overflow: hidden; text-overflow: ellipsis; }
          td.err { max-width: 220px; overflow: hidden; text-overflow: ellipsis; color: var(--dead); }
          .status { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff; font-size: 11px; }
          .status-succeeded { background: var(--ok); } .status-failed { background: var(--fail); } .status-dead { background: var(--dead); }
          .status-waiting { background: var(--wait); } .status-received { background: var(--recv); } .status-transformed { background: #6f42c1; }
          .status-skipped, .status-dropped { background: #8c959f; } .status-propagated { background: #bf8700; }
          #detail { overflow: auto; padding: 12px 16px; }
          #detail h2 { font-size: 14px; margin: 0 0 8px; } #detail h3 { font-size: 13px; margin: 14px 0 6px; }
          pre { background: var(--bg); padding: 8px; border-radius: 4px; overflow: auto; font-size: 12px; margin: 0; }
          .attempt { border-left: 3px solid #d0d7de; padding: 4px 8px; margin: 6px 0; }
          .attempt.succeeded { border-color: var(--ok); } .attempt.failed { border-color: var(--fail); } .attempt.dead { border-color: var(--dead); }
          #login { padding: 24px 16px; } #login[hidden] { display: none; }
          .entry-detail-json { background: #fff8c5; } .entry-note { font-size: 12px; color: #57606a; margin: 0 0 4px; }
          button.copy { font: inherit; font-size: 11px; padding: 0 6px; margin-left: 4px; border: 1px solid #d0d7de; border-radius: 4px; background: #fff; cursor: pointer; vertical-align: 1px; }
          #detail h2 a.story-link { color: inherit; } #detail code { font-size: 12px; }
          .muted { color: #57606a; }
        </style>
        </head>
        <body>
        <header>
          <h1>Switchyard · live delivery log</h1>
          <span id="summary" class="muted">…</span>
          <span id="connection" class="down">offline</span>
        </header>
        <section id="login" hidden>
          <p>The live log is for operators: enter the server's admin token (<code>server.adminToken</code>). It is kept in this tab only.</p>
          <input id="token" type="password" placeholder="admin token" autocomplete="off"> <button id="save-token">Open</button>
          <p id="login-error" class="muted"></p>
        </section>
        <div class="bar" id="filters">
          <input id="filter-source" placeholder="source">
          <input id="filter-destination" placeholder="destination">
          <select id="filter-status">
            <option value="">any status</option><option>received</option><option>transformed</option><option>succeeded</option>
            <option>failed</option><option>dead</option><option>waiting</option><option>skipped</option><option>dropped</option>
            <option>propagated</option>
          </select>
          <input id="filter-event" placeholder="event name">
          <input id="filter-user" placeholder="userId">
          <input id="filter-message" placeholder="messageId" aria-label="messageId">
          <button id="apply">Apply</button>
          <button id="pause">Pause</button>
          <span id="paused-count" class="muted"></span>
        </div>
        <main>
          <div id="table-wrap">
            <table id="records">
              <thead><tr><th>time</th><th>status</th><th>source</th><th>destination</th><th>type</th><th>event</th><th>messageId</th><th>attempt</th><th>error</th></tr></thead>
              <tbody></tbody>
            </table>
          </div>
          <aside id="detail"><p class="muted">Select a row to see the event, what it became, and every attempt.</p></aside>
        </main>
        <script src="/console/entry.js"></script>
        <script>
        "use strict";
        const MAX_ROWS = 500;
        const state = { token: sessionStorage.getItem("switchyard.adminToken") || "", controller: null, lastId: null, paused: false, held: [], heldCount: 0, selected: null };
        const $ = (id) => document.getElementById(id);

        function headers() { return { "Authorization": "Bearer " + state.token }; }

        function filters() {
          const params = new URLSearchParams();
          const pairs = [["source", "filter-source"], ["destination", "filter-destination"], ["status", "filter-status"], ["event", "filter-event"], ["userId", "filter-user"], ["messageId", "filter-message"]];
          for (const [key, id] of pairs) { const v = $(id).value.trim(); if (v) params.set(key, v); }
          return params;
        }

        function cell(text, cls) { const td = document.createElement("td"); td.textContent = text == null ? "" : String(text); if (cls) td.className = cls; return td; }

        function row(r) {
          const tr = document.createElement("tr");
          tr.dataset.messageId = r.messageId;
          tr.dataset.id = r.id;
          tr.appendChild(cell(new Date(r.at).toLocaleTimeString(undefined, { hour12: false }) + "." + r.at.slice(20, 23)));
          const st = document.createElement("td"); const badge = document.createElement("span");
          badge.className = "status status-" + r.status; badge.textContent = r.status; st.appendChild(badge); tr.appendChild(st);
          tr.appendChild(cell(r.source)); tr.appendChild(cell(r.destination ? r.destination + (r.rule ? " [" + r.rule + "]" : "") : r.destination)); tr.appendChild(cell(r.type)); tr.appendChild(cell(r.event));
          const idCell = cell(r.messageId, "mid"); idCell.title = r.messageId; tr.appendChild(idCell); tr.appendChild(cell(r.attempt));
          const err = r.errorCode ? r.errorCode + (r.httpStatus ? " (HTTP " + r.httpStatus + ")" : "") + (r.errorMessage ? ": " + r.errorMessage : "") : (r.errorMessage || "");
          const errCell = cell(err, "err"); errCell.title = err; tr.appendChild(errCell);
          tr.addEventListener("click", () => select(r.messageId, tr));
          return tr;
        }

        function add(records, atTop) {
          const body = document.querySelector("#records tbody");
          for (const r of records) {
            const tr = row(r);
            if (atTop) body.insertBefore(tr, body.firstChild); else body.appendChild(tr);
          }
          while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
        }

        function onRecord(r) {
          state.lastId = r.id;
          // While paused only the newest rows the table can show are kept, so a long pause does not grow the tab's memory.
          if (state.paused) { state.held.push(r); state.heldCount++; if (state.held.length > MAX_ROWS) state.held.shift(); $("paused-count").textContent = state.heldCount + " new while paused"; return; }
          add([r], true);
          if (state.selected === r.messageId) showDetail(r.messageId);
        }

        function copyable(parent, text, label) { const code = document.createElement("code"); code.textContent = text; parent.append(code, copyButton(text, label)); }

        function entrySection(pane, entry) {
          const h3 = document.createElement("h3"); h3.textContent = "Entry as sent"; pane.appendChild(h3);
          pane.append(...entryNodes(entry));
        }

        async function showDetail(messageId) {
          const pane = $("detail");
          const res = await fetch("/v1/events/" + encodeURIComponent(messageId), { headers: headers() });
          if (!res.ok) { pane.textContent = "Could not load the event: " + res.status + " " + (await res.text()); return; }
          const story = await res.json();
          pane.innerHTML = "";
          // The heading links to the event's story in the console.
          const h = document.createElement("h2"); const link = document.createElement("a"); link.className = "story-link";
          link.href = "/console#/events/" + encodeURIComponent(story.messageId); link.textContent = "Event " + story.messageId; link.title = "Open this event's story in the console";
          h.append(link, copyButton(story.messageId, "Copy message id")); pane.appendChild(h);
          const meta = document.createElement("p"); meta.className = "muted"; meta.textContent = "from " + story.source + ", received " + story.receivedAt; pane.appendChild(meta);
          const section = (title, value) => { const h3 = document.createElement("h3"); h3.textContent = title; pane.appendChild(h3); const pre = document.createElement("pre"); pre.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2); pane.appendChild(pre); return pre; };
          section("Original event", story.event).id = "detail-event";
          for (const job of story.jobs) {
            const h3 = document.createElement("h3"); h3.textContent = "→ " + job.destination + (job.rule ? " [" + job.rule + "]" : "") + ": " + job.state + " after " + job.attempts + " attempt(s)" + (job.nextAttemptAt ? ", next try " + job.nextAttemptAt : ""); pane.appendChild(h3);
            if (job.jobId != null) { h3.append(" · job "); copyable(h3, String(job.jobId), "Copy job id"); }
            // What the destination's transformations (user code) made of the event, and their log() lines.
            const script = story.records.find((r) => r.kind === "transformation" && r.destination === job.destination && r.rule === job.rule);
            if (script) {
              const names = (script.detail && script.detail.transformations || []).join(", ");
              if (script.detail && script.detail.events) section("After transformations (" + names + ")", script.detail.events).className = "detail-transformation";
              if (script.errorMessage) { const p = document.createElement("p"); p.className = "detail-transformation-" + script.status; p.textContent = script.errorMessage; pane.appendChild(p); }
              if (script.detail && script.detail.logs) section("log() lines", script.detail.logs.join("\n"));
            }
            const entry = story.records.find((r) => r.kind === "transformed" && r.destination === job.destination && r.rule === job.rule);
            if (entry) entrySection(pane, entry.detail);
            for (const r of story.records.filter((r) => (r.kind === "attempt" || r.kind === "dead" || r.kind === "replayed") && r.destination === job.destination && r.rule === job.rule)) {
              const div = document.createElement("div"); div.className = "attempt " + r.status;
              const lines = [r.kind === "attempt" ? "attempt " + r.attempt + " → " + r.status : r.kind + " → " + r.status, "at " + r.at];
              // EventBridge's EventId, or a Kinesis record's ShardId/SequenceNumber.
              if (r.reference) lines.push("delivered as " + r.reference);
              if (r.errorCode) lines.push("error " + r.errorCode + (r.httpStatus ? " (HTTP " + r.httpStatus + ")" : ""));
              if (r.errorMessage) lines.push(r.errorMessage);
              if (r.nextRetryAt) lines.push("next retry " + r.nextRetryAt);
              div.textContent = lines.join(" · ");
              // The destination's request id and the batch id, each with a copy button.
              for (const [label, value] of [["request", r.requestId], ["batch", r.batchId]]) {
                if (value) { div.append(" · " + label + " "); copyable(div, value, "Copy " + label + " id"); }
              }
              pane.appendChild(div);
            }
          }
          // Destinations the event was not sent to for lack of consent: they have no job.
          for (const r of story.records.filter((r) => r.kind === "skipped")) {
            const h3 = document.createElement("h3"); h3.className = "detail-skipped"; h3.textContent = "→ " + r.destination + ": skipped, " + r.errorMessage; pane.appendChild(h3);
          }
          // What the source's tracking plan found: each violation's place, message and type.
          for (const r of story.records.filter((r) => r.kind === "violation")) {
            const plan = (r.detail && r.detail.trackingPlan) || "";
            const h3 = document.createElement("h3"); h3.className = "detail-violation"; h3.textContent = "Tracking plan " + plan + ": " + r.status; pane.appendChild(h3);
            for (const v of (r.detail && r.detail.violations) || []) {
              const div = document.createElement("div"); div.className = "attempt";
              div.textContent = ((v.meta && v.meta.instancePath) || "/") + (v.meta && v.meta.property ? " '" + v.meta.property + "'" : "") + ": " + v.message + " (" + v.type + ")";
              pane.appendChild(div);
            }
          }
        }

        function select(messageId, tr) {
          document.querySelectorAll("#records tbody tr.selected").forEach((el) => el.classList.remove("selected"));
          tr.classList.add("selected");
          state.selected = messageId;
          showDetail(messageId);
        }

        async function loadHistory() {
          const params = filters(); params.set("limit", "100");
          const res = await fetch("/v1/deliveries?" + params, { headers: headers() });
          if (res.status === 401 || res.status === 403) { askToken(await res.text()); return false; }
          const page = await res.json();
          document.querySelector("#records tbody").innerHTML = "";
          add(page.records, false);
          state.lastId = page.records.length ? page.records[0].id : 0;
          return true;
        }

        async function stream() {
          if (state.controller) state.controller.abort();
          const controller = new AbortController(); state.controller = controller;
          while (!controller.signal.aborted) {
            try {
              const h = headers(); if (state.lastId != null) h["Last-Event-ID"] = String(state.lastId);
              const res = await fetch("/v1/live?" + filters(), { headers: h, signal: controller.signal });
              if (res.status === 401 || res.status === 403) { askToken(await res.text()); return; }
              $("connection").className = "live"; $("connection").textContent = "live";
              const reader = res.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
              for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buffer += decoder.decode(value, { stream: true });
                let cut;
                while ((cut = buffer.indexOf("\n\n")) >= 0) {
                  const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
                  let event = "message", data = "";
                  for (const line of block.split("\n")) {
                    if (line.startsWith("event: ")) event = line.slice(7);
                    else if (line.startsWith("data: ")) data += line.slice(6);
                  }
                  if (!data) continue;
                  if (event === "dropped") { $("paused-count").textContent = JSON.parse(data).dropped + " records skipped: this page read too slowly"; continue; }
                  onRecord(JSON.parse(data));
                }
              }
            } catch (e) { if (controller.signal.aborted) return; }
            $("connection").className = "down"; $("connection").textContent = "reconnecting";
            await new Promise((r) => setTimeout(r, 1000));
          }
        }

        async function refreshSummary() {
          if (!state.token) return;
          try {
            const res = await fetch("/v1/summary", { headers: headers() });
            if (!res.ok) return;
            const s = await res.json();
            const received = Object.entries(s.received).map(([k, v]) => k + " " + v).join(", ") || "0";
            const dests = Object.entries(s.destinations).map(([k, d]) => k + ": " + d.delivered + " delivered, " + d.retries + " retries, " + d.deadLetters + " dead, queue " + d.queueDepth + " (oldest " + d.oldestWaitingSeconds + "s)" + (d.paused ? ", paused: destination unavailable, next try in " + d.probeInSeconds + "s" : "")).join(" · ");
            const dups = Object.entries(s.duplicates || {}).map(([k, v]) => k + " " + v).join(", ");
            $("summary").textContent = "received: " + received + (dups ? " · duplicates dropped: " + dups : "") + (dests ? " · " + dests : "");
          } catch (e) {}
        }

        function askToken(message) {
          $("login").hidden = false; $("login-error").textContent = message || "";
          $("connection").className = "down"; $("connection").textContent = "locked";
        }

        // Filters given in the address (the console links to /live?messageId=…) fill the filter bar once.
        const linked = new URLSearchParams(location.search);
        for (const [key, id] of [["source", "filter-source"], ["destination", "filter-destination"], ["status", "filter-status"], ["event", "filter-event"], ["userId", "filter-user"], ["messageId", "filter-message"]]) {
          if (linked.get(key)) $(id).value = linked.get(key);
        }

        async function start() {
          if (!state.token) { askToken(""); return; }
          $("login").hidden = true;
          if (await loadHistory()) { stream(); refreshSummary(); }
        }

        $("save-token").addEventListener("click", () => { state.token = $("token").value.trim(); sessionStorage.setItem("switchyard.adminToken", state.token); start(); });
        $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") $("save-token").click(); });
        $("apply").addEventListener("click", () => { state.lastId = null; start(); });
        $("pause").addEventListener("click", () => {
          state.paused = !state.paused; $("pause").textContent = state.paused ? "Resume" : "Pause";
          if (!state.paused) { add(state.held.reverse(), true); state.held = []; state.heldCount = 0; $("paused-count").textContent = ""; }
        });
        setInterval(refreshSummary, 3000);
        start();
        </script>
        </body>
        </html>

        """#
}
