// The operator console's small SVG time-series charts, served at /console/charts.js (plain JavaScript).
enum ConsoleCharts {
    static let js = #"""
        "use strict";
        // Charts.timeSeries(figure, options) draws lines over light areas in an SVG: a time axis in the
        // browser's zone, y ticks with units, a legend with totals, and a tooltip (mouse, or the arrow keys
        // once the chart has focus) with the local time, UTC and each value. Redrawn when the window resizes.
        window.Charts = (function () {
          const NS = 'http://www.w3.org/2000/svg';
          const MINUTE = 60000, HOUR = 3600000, DAY = 86400000;
          const INTERVALS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY];
          const drawn = new Map();

          function svg(name, attrs, parent) {
            const e = document.createElementNS(NS, name);
            for (const k in attrs) e.setAttribute(k, attrs[k]);
            if (parent) parent.appendChild(e);
            return e;
          }

          function niceMax(max) {
            if (!(max > 0)) return { top: 1, step: 0.25 };
            const raw = max / 4, mag = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / mag;
            const step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
            return { top: Math.ceil(max / step - 1e-9) * step, step };
          }

          // Tick times aligned in the browser's zone (whole local minutes, hours or midnights).
          function timeTicks(from, to, most) {
            const interval = INTERVALS.find((i) => (to - from) / i <= most) || INTERVALS[INTERVALS.length - 1];
            const ticks = [];
            if (interval >= DAY) {
              const d = new Date(from); d.setHours(0, 0, 0, 0);
              while (d.getTime() < from) d.setDate(d.getDate() + 1);
              for (; d.getTime() <= to; d.setDate(d.getDate() + interval / DAY)) ticks.push(d.getTime());
            } else {
              const offset = new Date(from).getTimezoneOffset() * MINUTE;
              for (let t = Math.ceil((from - offset) / interval) * interval + offset; t <= to; t += interval) ticks.push(t);
            }
            return { ticks, interval };
          }

          function tickLabel(t, interval) {
            const d = new Date(t);
            if (interval >= DAY || (interval >= 6 * HOUR && d.getHours() === 0 && d.getMinutes() === 0)) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
            return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
          }

          function utc(t) { return new Date(t).toISOString().slice(0, 19).replace('T', ' ') + ' UTC'; }

          function local(t, withSeconds) {
            return new Date(t).toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: withSeconds ? '2-digit' : undefined });
          }

          // options: { title, describe (range words), times: [ISO], step (s), from, to, format(v), formatTotal(v),
          //            series: [{ name, values: [number|null], total, color }] }
          function timeSeries(figure, options) {
            for (const f of drawn.keys()) if (!f.isConnected) drawn.delete(f);
            drawn.set(figure, options);
            const fmt = options.format || String, fmtTotal = options.formatTotal || fmt;
            figure.classList.add('chart');
            figure.replaceChildren();
            const caption = document.createElement('figcaption'); caption.textContent = options.title; figure.appendChild(caption);
            const times = (options.times || []).map((t) => Date.parse(t));
            const stepMs = (options.step || 60) * 1000;
            const summary = options.series.map((s) => s.name + ' ' + fmtTotal(s.total)).join(', ');
            const plot = document.createElement('div'); plot.className = 'plot'; figure.appendChild(plot);
            const width = Math.max(260, Math.floor(plot.clientWidth || figure.clientWidth || 600));
            const height = width < 480 ? 150 : 180;
            const root = svg('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', tabindex: '0', 'aria-label': options.title + ', ' + (options.describe || '') + ': ' + summary }, plot);
            if (options.key) root.dataset.key = options.key;
            const values = options.series.flatMap((s) => s.values).filter((v) => v != null);
            let { top, step } = niceMax(values.length ? Math.max(...values) : 0);
            if (options.integer && step < 1) { step = 1; top = Math.max(1, Math.ceil(top)); }
            const yLabels = [];
            for (let v = 0; v <= top + step / 2; v += step) yLabels.push([v, fmt(v)]);
            const left = 10 + 6.5 * Math.max(...yLabels.map(([, l]) => l.length)), right = 12, topPad = 10, bottom = 24;
            const from = options.from ? Date.parse(options.from) : times[0], to = options.to ? Date.parse(options.to) : times[times.length - 1] + stepMs;
            const x = (t) => left + ((t - from) / Math.max(1, to - from)) * (width - left - right);
            const y = (v) => topPad + (1 - v / top) * (height - topPad - bottom);
            const grid = svg('g', { class: 'grid' }, root);
            for (const [v, label] of yLabels) {
              svg('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }, grid);
              svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, grid).textContent = label;
            }
            const { ticks, interval } = timeTicks(from, to, Math.max(2, Math.floor((width - left - right) / 70)));
            for (const t of ticks) {
              svg('line', { x1: x(t), x2: x(t), y1: height - bottom, y2: height - bottom + 4 }, grid);
              svg('text', { x: x(t), y: height - 6, 'text-anchor': 'middle' }, grid).textContent = tickLabel(t, interval);
            }
            if (!times.length || !values.length) {
              svg('text', { x: (left + width - right) / 2, y: height / 2, 'text-anchor': 'middle', class: 'empty' }, root).textContent = 'No data in this range';
            }
            const center = (i) => x(Math.min(to, times[i] + stepMs / 2));
            for (const s of options.series) {
              let run = [];
              const flush = () => {
                if (!run.length) return;
                const pts = run.map((i) => center(i).toFixed(1) + ',' + y(s.values[i]).toFixed(1));
                if (run.length === 1) svg('circle', { cx: center(run[0]), cy: y(s.values[run[0]]), r: 2.5, fill: s.color }, root);
                else {
                  svg('polygon', { points: center(run[0]).toFixed(1) + ',' + y(0) + ' ' + pts.join(' ') + ' ' + center(run[run.length - 1]).toFixed(1) + ',' + y(0), fill: s.color, 'fill-opacity': 0.08 }, root);
                  svg('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.75, 'stroke-linejoin': 'round' }, root);
                }
                run = [];
              };
              s.values.forEach((v, i) => { if (v == null || i >= times.length) flush(); else run.push(i); });
              flush();
            }
            // Hover and keyboard: a guide line, a dot per series, and the tooltip.
            const guide = svg('line', { class: 'guide', y1: topPad, y2: height - bottom, visibility: 'hidden' }, root);
            const dots = options.series.map((s) => svg('circle', { r: 3.5, fill: s.color, stroke: '#fff', 'stroke-width': 1.5, visibility: 'hidden' }, root));
            const tip = document.createElement('div'); tip.className = 'tooltip'; tip.hidden = true; tip.setAttribute('aria-live', 'polite'); plot.appendChild(tip);
            let current = -1;
            const show = (i) => {
              if (!times.length) return;
              current = Math.max(0, Math.min(times.length - 1, i));
              const cx = center(current);
              guide.setAttribute('x1', cx); guide.setAttribute('x2', cx); guide.setAttribute('visibility', 'visible');
              options.series.forEach((s, n) => {
                const v = s.values[current];
                dots[n].setAttribute('visibility', v == null ? 'hidden' : 'visible');
                if (v != null) { dots[n].setAttribute('cx', cx); dots[n].setAttribute('cy', y(v)); }
              });
              const t = times[current];
              tip.replaceChildren();
              const head = document.createElement('div'); head.className = 'tip-time';
              head.textContent = local(t, stepMs < MINUTE) + ' \u2013 ' + new Date(t + stepMs).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: stepMs < MINUTE ? '2-digit' : undefined });
              const sub = document.createElement('div'); sub.className = 'tip-utc'; sub.textContent = utc(t);
              tip.append(head, sub);
              for (const s of options.series) {
                const row = document.createElement('div'); row.className = 'tip-row';
                const sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = s.color;
                const v = s.values[current];
                row.append(sw, s.name + ': ', v == null ? 'no data' : fmt(v));
                tip.appendChild(row);
              }
              tip.hidden = false;
              const w = tip.offsetWidth;
              tip.style.left = (cx + 12 + w > width ? Math.max(0, cx - 12 - w) : cx + 12) + 'px';
              tip.style.top = topPad + 'px';
            };
            const hide = () => { tip.hidden = true; guide.setAttribute('visibility', 'hidden'); dots.forEach((d) => d.setAttribute('visibility', 'hidden')); };
            root.addEventListener('mousemove', (e) => {
              const box = root.getBoundingClientRect(), px = (e.clientX - box.left) * (width / box.width);
              let best = 0;
              times.forEach((_, i) => { if (Math.abs(center(i) - px) < Math.abs(center(best) - px)) best = i; });
              show(best);
            });
            root.addEventListener('mouseleave', () => { if (document.activeElement !== root) hide(); });
            root.addEventListener('focus', () => show(current >= 0 ? current : times.length - 1));
            root.addEventListener('blur', hide);
            root.addEventListener('keydown', (e) => {
              const moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: times.length - 1 };
              if (e.key in moves) { e.preventDefault(); show(moves[e.key]); } else if (e.key === 'Escape') hide();
            });
            const legend = document.createElement('ul'); legend.className = 'legend';
            for (const s of options.series) {
              const li = document.createElement('li');
              const sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = s.color;
              const total = document.createElement('strong'); total.textContent = fmtTotal(s.total);
              li.append(sw, s.name + ' ', total);
              if (s.note) li.title = s.note;
              legend.appendChild(li);
            }
            figure.appendChild(legend);
            return figure;
          }

          let pending = null;
          window.addEventListener('resize', () => {
            clearTimeout(pending);
            pending = setTimeout(() => {
              for (const [figure, options] of drawn) {
                if (!figure.isConnected) drawn.delete(figure); else timeSeries(figure, options);
              }
            }, 150);
          });

          return { timeSeries, utc };
        })();

        """#
}
