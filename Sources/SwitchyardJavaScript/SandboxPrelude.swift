/// The JavaScript run in every context before user code. It is a function expression called
/// with `(signal, limits)`: `signal` is a native function telling the Swift side that a guarded
/// allocation passed the memory limit; it returns the driver object the Swift side calls. Nothing it keeps (the allocation counter, the driver) is reachable from user code.
enum SandboxPrelude {
    static let script = #"""
        (function (signal, limits) {
          "use strict";
          const G = globalThis;
          const freeze = (obj, name, value) => Object.defineProperty(obj, name, { value, writable: false, enumerable: false, configurable: false });

          // Not ECMAScript, or a way around the memory bound: removed.
          delete G.WebAssembly;
          for (const name of ["fetch", "fetchV2", "geolocation", "getCredential"]) {
            freeze(G, name, function () {
              throw new Error(name + " is not available in Switchyard transformations: transformations run inside the server without network access");
            });
          }

          // Single native allocations happen before the periodic check can see them, so they are charged here.
          let allocated = 0;
          const charge = (bytes) => {
            if (!(bytes > 0)) return;
            allocated += bytes;
            if (allocated > limits.memoryLimit) { signal(); throw new RangeError(limits.memoryMessage); }
          };
          const elementsOf = (arg) => {
            if (typeof arg === "number") return arg;
            if (arg !== null && typeof arg === "object" && !(arg instanceof ArrayBuffer)) {
              const n = Number(arg.length);
              if (n > 0) return n;
              if (typeof arg.size === "number") return arg.size;
            }
            return 0;
          };
          const guard = (name, bytesOf) => {
            const C = G[name];
            if (typeof C !== "function") return;
            const P = new Proxy(C, {
              construct(target, args, newTarget) { charge(bytesOf(args, C)); return Reflect.construct(target, args, newTarget); },
            });
            freeze(C.prototype, "constructor", P);
            freeze(G, name, P);
          };
          guard("ArrayBuffer", (args) => Math.max(Number(args[0]) || 0, Number(args[1] && args[1].maxByteLength) || 0));
          for (const name of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
            "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
            guard(name, (args, C) => elementsOf(args[0]) * C.BYTES_PER_ELEMENT);
          }
          const wrap = (proto, name, bytesOf) => {
            const original = proto[name];
            if (typeof original !== "function") return;
            freeze(proto, name, { [name](...args) { charge(bytesOf(this, args)); return Reflect.apply(original, this, args); } }[name]);
          };
          wrap(ArrayBuffer.prototype, "slice", (self) => self.byteLength);
          wrap(ArrayBuffer.prototype, "transfer", (self, a) => a[0] === undefined ? self.byteLength : Number(a[0]));
          wrap(ArrayBuffer.prototype, "resize", (self, a) => Number(a[0]) - self.byteLength);
          wrap(String.prototype, "repeat", (self, a) => String(self).length * Number(a[0]) * 2);
          wrap(String.prototype, "padStart", (self, a) => Number(a[0]) * 2);
          wrap(String.prototype, "padEnd", (self, a) => Number(a[0]) * 2);
          wrap(Array.prototype, "fill", (self, a) => Math.min(Number(self.length) || 0, 2 ** 32) * 8);

          // log(): one line per call, objects as JSON, kept per input.
          let logs = [];
          const show = (v) => {
            if (typeof v === "string") return v;
            if (v !== null && typeof v === "object") { try { const j = JSON.stringify(v); if (j !== undefined) return j; } catch (e) {} }
            try { return String(v); } catch (e) { return Object.prototype.toString.call(v); }
          };
          const log = function log(...args) {
            if (logs.length >= limits.maxLogLines) return;
            let line = args.map(show).join(" ");
            if (line.length > 1000) line = line.slice(0, 1000);
            logs.push(line);
          };
          freeze(G, "log", log);
          const consoleObject = {};
          for (const m of ["log", "info", "warn", "error", "debug", "trace"]) consoleObject[m] = log;
          freeze(G, "console", Object.freeze(consoleObject));

          // metadata(event): the metadata of the input whose messageId the event carries.
          let metaById = new Map();
          let indexById = new Map();
          const metadata = function metadata(event) {
            const id = event !== null && typeof event === "object" ? event.messageId : undefined;
            return (id !== undefined && metaById.get(id)) || {};
          };
          freeze(G, "metadata", metadata);

          // Libraries: registered by handle; `import x from` takes the default export or the whole object.
          const libraries = new Map();
          freeze(G, "__sy_lib", function (handle, wantsDefault) {
            const lib = libraries.get(handle);
            if (lib === undefined) throw new Error('import from "' + handle + '" failed. Module not found.');
            return wantsDefault && "default" in lib ? lib.default : lib;
          });

          const promiseResolve = Promise.resolve;
          const promiseThen = Promise.prototype.then;
          const isArray = Array.isArray;
          const kindOf = (v) => (v === null ? "null" : isArray(v) ? "an array" : typeof v === "object" ? "an object" : "a " + typeof v);
          const isEvent = (v) => v !== null && typeof v === "object" && !isArray(v);
          const describe = (e) => {
            let text;
            try {
              if (e !== null && typeof e === "object" && "message" in e) {
                const name = String(e.name || "Error");
                text = e.message === "" ? name : name + ": " + String(e.message);
              } else text = String(e);
            } catch (_) { text = "a thrown value that cannot be shown"; }
            try {
              if (e !== null && typeof e === "object" && typeof e.line === "number") {
                text += " at line " + e.line;
                if (e.sourceURL && e.sourceURL !== limits.programOrigin) text += " of " + e.sourceURL;
              }
            } catch (_) {}
            return text;
          };

          let inputs = [];
          let state = null;
          return {
            register(handles, exports) { for (const h of handles) libraries.set(h, Object.freeze(exports)); },
            begin(events, metas) {
              inputs = events; metaById = new Map(); indexById = new Map();
              for (let i = 0; i < events.length; i++) {
                const id = events[i].messageId;
                if (id !== undefined && !indexById.has(id)) { indexById.set(id, i); metaById.set(id, metas[i]); }
              }
            },
            start(fn, index) {
              logs = []; allocated = 0;
              const s = { done: false };
              state = s;
              try {
                const r = fn(index < 0 ? inputs : inputs[index], metadata);
                if (r !== null && (typeof r === "object" || typeof r === "function") && typeof r.then === "function") {
                  Reflect.apply(promiseThen, Reflect.apply(promiseResolve, Promise, [r]), [
                    (v) => { s.done = true; s.value = v; },
                    (e) => { s.done = true; s.error = e; },
                  ]);
                } else { s.done = true; s.value = r; }
              } catch (e) { s.done = true; s.error = e; }
            },
            finish(batch) {
              const s = state; state = null;
              const out = { logs };
              const fn = batch ? "transformBatch" : "transformEvent";
              if (!s.done) { out.error = fn + "'s promise never settled (Switchyard transformations have no timers or network to wait for)"; return out; }
              if ("error" in s) { out.error = describe(s.error); return out; }
              const v = s.value;
              if (batch) {
                if (!isArray(v)) { out.error = "transformBatch returned " + kindOf(v) + "; return an array of events"; return out; }
              } else if (v === null || v === undefined) { out.dropped = true; return out; }
              else if (!isArray(v)) {
                if (isEvent(v)) { out.events = [v]; out.owners = [0]; return out; }
                out.error = "transformEvent returned " + kindOf(v) + "; return an event object, an array of events, or nothing";
                return out;
              }
              for (let i = 0; i < v.length; i++) {
                if (!isEvent(v[i])) { out.error = fn + " returned an array holding " + kindOf(v[i]) + " at index " + i + "; each element must be an event object"; return out; }
              }
              if (v.length === 0 && !batch) { out.dropped = true; return out; }
              out.events = v.slice();
              out.owners = v.map((e) => (batch ? (indexById.get(e.messageId) ?? 0) : 0));
              return out;
            },
          };
        })
        """#
}
