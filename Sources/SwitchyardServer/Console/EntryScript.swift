// What the live page and the console both show of an event: the entry as the destination saw it, and copy buttons.
enum EntryScript {
    static let js = #"""
        "use strict";
        // Shared by /live and /console (served as /console/entry.js): one way to show an entry and to copy an id.

        // A copy button for the text just before it; without the clipboard API it selects that text instead.
        function copyButton(text, label) {
          const b = document.createElement("button");
          b.type = "button"; b.className = "copy"; b.textContent = "Copy"; b.title = label; b.setAttribute("aria-label", label);
          b.addEventListener("click", async (e) => {
            e.stopPropagation();
            const done = (words) => { b.textContent = words; setTimeout(() => { b.textContent = "Copy"; }, 1500); };
            try {
              await navigator.clipboard.writeText(text);
              done("Copied");
            } catch (err) {
              const target = b.previousElementSibling;
              if (!target) return;
              const range = document.createRange(); range.selectNodeContents(target);
              const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
              done("Selected: press Ctrl+C");
            }
          });
          return b;
        }

        // An EventBridge entry's Detail (a JSON string) or a Kinesis record's Data (the log keeps it decoded; base64 on
        // the wire) as the JSON it carries; null when it is neither.
        function entryPayload(entry) {
          if (!entry || typeof entry !== "object") return null;
          if (typeof entry.Detail === "string") { try { return { key: "Detail", value: JSON.parse(entry.Detail), note: "Detail is sent as a JSON string; shown here formatted." }; } catch (e) { return null; } }
          if (typeof entry.Data !== "string") return null;
          try { const v = JSON.parse(entry.Data); if (v && typeof v === "object") return { key: "Data", value: v, note: "Data is sent base64-encoded; shown here as the JSON it carries." }; } catch (e) { /* base64? */ }
          try {
            const text = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(entry.Data), (c) => c.charCodeAt(0)));
            return { key: "Data", value: JSON.parse(text), note: "Data is base64 of JSON; shown here decoded and formatted." };
          } catch (e) { return null; }
        }

        // The entry as sent, its payload shown formatted in place (class entry-detail-json) with a note saying so: the
        // nodes to append, a note and a <pre class="detail-entry">.
        function entryNodes(entry) {
          const pre = document.createElement("pre"); pre.className = "detail-entry";
          const payload = entryPayload(entry);
          if (!payload) { pre.textContent = typeof entry === "string" ? entry : JSON.stringify(entry, null, 2); return [pre]; }
          const note = document.createElement("p"); note.className = "entry-note"; note.textContent = payload.note;
          const marker = JSON.stringify("entry-payload-" + Math.random().toString(36).slice(2));
          const text = JSON.stringify(Object.assign({}, entry, { [payload.key]: JSON.parse(marker) }), null, 2), at = text.indexOf(marker);
          const indent = text.slice(text.lastIndexOf("\n", at) + 1, at).match(/^ */)[0];
          const span = document.createElement("span"); span.className = "entry-detail-json";
          span.textContent = JSON.stringify(payload.value, null, 2).split("\n").join("\n" + indent);
          pre.append(text.slice(0, at), span, text.slice(at + marker.length));
          return [note, pre];
        }
        """#
}
