// The operator console's page shell, served at /console: HTML and CSS as they are (no build step).
enum ConsolePage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Switchyard · console</title>
        <link rel="icon" href="data:,">
        <style>
          :root { --ok: #1a7f37; --warn: #9a6700; --fail: #b35900; --dead: #c62828; --wait: #5b6b7b; --info: #2a5db0; --paused: #6f42c1;
                  --muted: #57606a; --border: #d0d7de; --line: #eaeef2; --bg: #f6f8fa; --focus: #0969da; --ink: #1f2328; }
          * { box-sizing: border-box; }
          [hidden] { display: none !important; }
          body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
          a { color: #0550ae; }
          :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
          code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
          .skip { position: absolute; left: 8px; top: -40px; z-index: 10; }
          .skip:focus { top: 8px; }
          header.top { background: #24292f; color: #fff; padding: 8px 16px; display: flex; flex-wrap: wrap; gap: 6px 20px; align-items: center; }
          header.top h1 { font-size: 16px; margin: 0; white-space: nowrap; }
          header.top h1 span { font-weight: 400; opacity: .8; }
          header.top :focus-visible { outline-color: #58a6ff; }
          nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 4px; }
          nav a { color: #e6edf3; text-decoration: none; padding: 4px 8px; border-radius: 6px; display: inline-block; }
          nav a:hover { background: #32383f; }
          nav a[aria-current="page"] { background: #fff; color: #24292f; font-weight: 600; }
          .controls { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; padding: 8px 16px; background: #fff; border-bottom: 1px solid var(--border); }
          .controls form { display: flex; gap: 6px; align-items: center; margin-left: auto; }
          input, select, textarea, button { font: inherit; }
          input, select, textarea { padding: 4px 8px; border: 1px solid var(--border); border-radius: 6px; background: #fff; color: var(--ink); }
          button { padding: 4px 12px; border: 1px solid var(--border); border-radius: 6px; background: #f6f8fa; color: var(--ink); cursor: pointer; }
          button:hover { background: #eaeef2; }
          button:disabled { opacity: .55; cursor: default; }
          button.primary { background: #1f6feb; border-color: #1f6feb; color: #fff; }
          button.danger { background: var(--dead); border-color: var(--dead); color: #fff; }
          button.copy { padding: 0 6px; font-size: 12px; margin-left: 4px; vertical-align: 1px; }
          button[aria-pressed="false"] { background: #fff8c5; }
          .muted { color: var(--muted); }
          main { padding: 16px; max-width: 1440px; margin: 0 auto; }
          main:focus, main [tabindex="-1"]:focus { outline: none; }
          .dest-top { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; align-items: start; margin-bottom: 16px; }
          .dest-top .tiles { margin: 0; }
          main h2 { font-size: 20px; margin: 4px 0 12px; display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; overflow-wrap: anywhere; }
          main h2 small { font-size: 13px; font-weight: 400; color: var(--muted); }
          main h3 { font-size: 16px; margin: 22px 0 10px; overflow-wrap: anywhere; }
          section.block { background: #fff; border: 1px solid var(--border); border-radius: 8px; padding: 12px 14px; margin: 0 0 16px; }
          section.block > h3:first-child { margin-top: 0; }
          main > .cards, main > .charts, main > .table-wrap, #regulations-list { margin-bottom: 16px; }
          time, .actions button, .replay-control > button { white-space: nowrap; }
          .replay-control { min-width: 0; max-width: 100%; } .confirm button { white-space: normal; text-align: left; }
          .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin-bottom: 16px; }
          .tile { background: #fff; border: 1px solid var(--border); border-radius: 8px; padding: 10px 12px; }
          .tile .label { color: var(--muted); font-size: 12px; }
          .tile .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
          .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
          .card { background: #fff; border: 1px solid var(--border); border-left: 5px solid var(--wait); border-radius: 8px; padding: 10px 14px; min-width: 0; }
          .card[data-state="delivering"] { border-left-color: var(--ok); } .card[data-state="retrying"] { border-left-color: var(--fail); }
          .card[data-state="paused"] { border-left-color: var(--paused); } .card[data-state="refusing"] { border-left-color: var(--dead); }
          .card[data-state="idle"] { border-left-color: #8c959f; }
          .card header { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
          .card h3 { margin: 0; font-size: 16px; }
          .card .reason { margin: 6px 0; font-weight: 500; overflow-wrap: anywhere; }
          dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 12px; margin: 8px 0 0; }
          dl.facts dt { color: var(--muted); }
          dl.facts dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
          .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; background: var(--wait); white-space: nowrap; }
          .state-delivering, .state-succeeded, .state-COMPLETED, .state-FINISHED { background: var(--ok); }
          .state-retrying, .state-failed, .state-CANCELLING { background: var(--fail); }
          .state-paused, .state-RUNNING, .state-STARTING { background: var(--paused); }
          .state-refusing, .state-dead, .state-FAILED, .state-dropped { background: var(--dead); }
          .state-idle, .state-CANCELLED, .state-waiting, .state-skipped, .state-INITIALIZED, .state-pending, .state-blocked { background: #8c959f; }
          .state-in_flight { background: var(--info); }
          .credentials-failure { color: #a40e26; }
          .state-propagated { background: #bf8700; } .state-received { background: var(--info); } .state-transformed { background: #6f42c1; }
          .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px; }
          figure.chart { margin: 0; background: #fff; border: 1px solid var(--border); border-radius: 8px; padding: 8px 10px 6px; min-width: 0; }
          figure.chart figcaption { font-weight: 600; margin-bottom: 4px; overflow-wrap: anywhere; }
          .plot { position: relative; }
          .plot svg { display: block; max-width: 100%; height: auto; overflow: visible; }
          .plot svg:focus-visible { outline-offset: 0; }
          .plot .grid line { stroke: var(--line); }
          .plot .grid text, .plot text.empty { fill: var(--muted); font-size: 11px; font-family: system-ui, sans-serif; }
          .plot .guide { stroke: var(--muted); stroke-dasharray: 3 3; }
          .tooltip { position: absolute; z-index: 5; pointer-events: none; background: #fff; border: 1px solid var(--border); border-radius: 6px;
                     box-shadow: 0 4px 12px rgba(31, 35, 40, .15); padding: 6px 8px; font-size: 12px; white-space: nowrap; }
          .tooltip .tip-utc { color: var(--muted); margin-bottom: 3px; }
          .legend { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12.5px; }
          .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: 0; }
          .table-wrap { overflow-x: auto; }
          table { border-collapse: collapse; width: 100%; background: #fff; }
          th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
          th { background: var(--bg); font-weight: 600; font-size: 13px; white-space: nowrap; }
          td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
          td.wrap { overflow-wrap: anywhere; min-width: 200px; }
          tr.sub > td { background: var(--bg); padding: 8px 12px 12px; }
          tr.clickable { cursor: pointer; } tr.clickable:hover { background: #f3f8ff; }
          .actions { display: flex; flex-wrap: wrap; gap: 6px; }
          section.block > .actions, main > dl.facts { margin-bottom: 12px; }
          pre { background: var(--bg); border: 1px solid var(--line); padding: 8px; border-radius: 6px; overflow: auto; margin: 0; max-height: 520px; }
          .entry-detail-json { background: #fff8c5; }
          .entry-note { font-size: 12px; color: var(--muted); margin: 0 0 4px; }
          .attempt { border-left: 3px solid var(--border); padding: 4px 8px; margin: 6px 0; background: #fff; overflow-wrap: anywhere; }
          .attempt.succeeded { border-color: var(--ok); } .attempt.failed { border-color: var(--fail); } .attempt.dead { border-color: var(--dead); }
          .confirm { border: 1px solid #d4a72c; background: #fff8c5; border-radius: 6px; padding: 8px 10px; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
          .notice { padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
          .notice:empty { display: none; }
          .notice.ok { background: #dafbe1; border: 1px solid #4ac26b; }
          .error { color: #a40e26; background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: 8px 12px; margin: 8px 0; overflow-wrap: anywhere; }
          .error:empty { display: none; }
          .form-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px 14px; align-items: start; }
          .form-grid label, .field > label { display: block; font-weight: 600; font-size: 13px; margin-bottom: 3px; }
          .form-grid input, .form-grid select, .form-grid textarea { width: 100%; }
          fieldset { border: 1px solid var(--border); border-radius: 6px; margin: 0; padding: 6px 10px; min-width: 0; }
          .form-grid fieldset label, .form-grid label.check { display: inline-flex; gap: 6px; align-items: center; font-weight: 400; font-size: 14px; margin: 2px 14px 2px 0; }
          .form-grid input[type="checkbox"] { width: auto; margin: 0; }
          .hint { font-size: 12px; color: var(--muted); font-weight: 400; }
          progress { width: 100%; min-width: 120px; height: 12px; }
          #login { max-width: 560px; margin: 40px auto; background: #fff; border: 1px solid var(--border); border-radius: 8px; padding: 16px 20px; }
          #login h2 { margin-top: 0; font-size: 18px; }
          #login form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
          #login input { flex: 1 1 200px; }
          footer { max-width: 1440px; margin: 0 auto; padding: 8px 16px 24px; font-size: 12px; color: var(--muted); }
          @media (max-width: 700px) {
            header.top { padding: 8px 10px; }
            .controls { padding: 8px 10px; }
            .controls form { margin-left: 0; flex: 1 1 100%; }
            .controls form input { flex: 1; min-width: 0; }
            main { padding: 12px 10px; }
            .cards, .charts, .dest-top { grid-template-columns: minmax(0, 1fr); }
            .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); }
            table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
            table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
            table.stack tr { border: 1px solid var(--border); border-radius: 6px; margin-bottom: 8px; background: #fff; }
            table.stack td { border: 0; position: relative; padding: 4px 8px 4px 116px; min-height: 28px; text-align: left; white-space: normal; min-width: 0; overflow-wrap: anywhere; }
            table.stack td::before { content: attr(data-label); position: absolute; left: 8px; top: 6px; width: 100px; color: var(--muted); font-size: 12px; line-height: 1.3; }
            table.stack td.num { text-align: left; }
            table.stack tr.sub > td { padding: 8px; }
            table.stack tr.sub > td::before { content: none; }
          }
        </style>
        </head>
        <body>
        <button type="button" class="skip" id="skip">Skip to content</button>
        <header class="top">
          <h1>Switchyard <span>console</span></h1>
          <nav aria-label="Console pages">
            <ul id="nav">
              <li><a href="/console#/" data-nav="overview">Overview</a></li>
              <li><a href="/console#/destinations" data-nav="destinations">Destinations</a></li>
              <li><a href="/console#/dead-letters" data-nav="dead-letters">Dead letters</a></li>
              <li><a href="/console#/violations" data-nav="violations">Violations</a></li>
              <li><a href="/console#/schemas" data-nav="schemas">Schemas</a></li>
              <li><a href="/console#/replays" data-nav="replays">Replays</a></li>
              <li><a href="/console#/regulations" data-nav="regulations">Regulations</a></li>
              <li><a href="/live" id="live-link">Live log</a></li>
            </ul>
          </nav>
        </header>
        <div class="controls" id="controls">
          <label for="range">Range</label>
          <select id="range">
            <option value="15m">last 15 minutes</option>
            <option value="1h" selected>last hour</option>
            <option value="6h">last 6 hours</option>
            <option value="24h">last 24 hours</option>
            <option value="7d">last 7 days</option>
          </select>
          <button type="button" id="auto-refresh" aria-pressed="true">Auto-refresh every 10 s: on</button>
          <button type="button" id="refresh">Refresh now</button>
          <span id="updated" class="muted"></span>
          <form id="find-event" role="search" aria-label="Find an event">
            <input id="find-message-id" aria-label="messageId of the event to show" placeholder="messageId" autocomplete="off" spellcheck="false">
            <button type="submit">Show event</button>
          </form>
          <button type="button" id="sign-out">Sign out</button>
        </div>
        <section id="login" hidden aria-labelledby="login-title">
          <h2 id="login-title">Admin token</h2>
          <p>The console is for operators: enter the server's admin token (<code>server.adminToken</code>). It is kept in this browser tab only, and the live log uses it too.</p>
          <form id="login-form">
            <label for="token">Admin token</label>
            <input id="token" type="password" autocomplete="off">
            <button id="save-token" type="submit" class="primary">Open</button>
          </form>
          <p id="login-error" class="error" role="alert"></p>
        </section>
        <main id="view" tabindex="-1" aria-live="off"></main>
        <footer><span id="zone"></span></footer>
        <script src="/console/entry.js"></script>
        <script src="/console/charts.js"></script>
        <script src="/console/app.js"></script>
        <script src="/console/pages.js"></script>
        </body>
        </html>

        """#
}
