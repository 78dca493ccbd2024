import SwitchyardJavaScript
import Testing

@Suite struct ApiTests {
    @Test(.timeLimit(.minutes(1))) func metadataLookupAndLogs() async throws {
        let pool = try Fixture.pool(
            """
            export function transformEvent(event, metadata) {
              const m = metadata(event);
              log("source", m.sourceId, { n: 1 });
              event.src = m.sourceId ?? "none";
              event.unknown = JSON.stringify(metadata({ messageId: "zzz" }));
              return event;
            }
            """
        )
        let results = await pool.run(
            "t",
            inputs: [
                Fixture.input(["messageId": "a"], metadata: ["sourceId": "S1"]),
                Fixture.input(["messageId": "b"], metadata: ["sourceId": "S2"]),
            ]
        )
        #expect(Fixture.objects(results[0].outcome)?.first?["src"] as? String == "S1")
        #expect(Fixture.objects(results[1].outcome)?.first?["src"] as? String == "S2")
        #expect(Fixture.objects(results[0].outcome)?.first?["unknown"] as? String == "{}")
        #expect(results[0].logs == ["source S1 {\"n\":1}"])
        #expect(results[1].logs == ["source S2 {\"n\":1}"])
    }

    @Test(.timeLimit(.minutes(1))) func logLinesAreCapped() async throws {
        let pool = try Fixture.pool("export function transformEvent(e) { for (let i = 0; i < 500; i++) log('x'.repeat(5000)); return e; }")
        let r = await Fixture.one(pool)
        #expect(r.logs.count == 100)
        #expect(r.logs.allSatisfy { $0.count == 1000 })
    }

    @Test(.timeLimit(.minutes(1))) func batchFanInAndFanOutByMessageId() async throws {
        let pool = try JavaScriptPool(
            programs: [
                Fixture.source(
                    """
                    export function transformBatch(events, metadata) {
                      log("batch of", events.length);
                      const out = [];
                      for (const e of events) {
                        if (e.messageId === "drop") continue;
                        out.push({ ...e, source: metadata(e).sourceId });
                        if (e.messageId === "twice") out.push({ ...e, copy: true });
                      }
                      out.push({ summary: true });   // no messageId: goes to the first input
                      return out;
                    }
                    """
                )
            ],
            libraries: [],
            limits: Fixture.fast,
            threads: 1
        )
        let results = await pool.run(
            "t",
            inputs: [
                Fixture.input(["messageId": "one"], metadata: ["sourceId": "A"]),
                Fixture.input(["messageId": "drop"]),
                Fixture.input(["messageId": "twice"], metadata: ["sourceId": "C"]),
            ]
        )
        let first = try #require(Fixture.objects(results[0].outcome))
        #expect(first.count == 2)
        #expect(first[0]["source"] as? String == "A")
        #expect(first[1]["summary"] as? Bool == true)
        #expect(results[1].outcome == .dropped)
        let third = try #require(Fixture.objects(results[2].outcome))
        #expect(third.count == 2)
        #expect(third[1]["copy"] as? Bool == true)
        #expect(results.allSatisfy { $0.logs == ["batch of 3"] })
    }

    @Test(.timeLimit(.minutes(1))) func batchThrowOrBadReturnFailsAll() async throws {
        let throwing = try JavaScriptPool(
            programs: [Fixture.source("export function transformBatch(events) {\n  throw new Error('batch broke');\n}")],
            libraries: [],
            limits: Fixture.fast,
            threads: 1
        )
        let results = await throwing.run("t", inputs: [Fixture.input(["messageId": "a"]), Fixture.input(["messageId": "b"])])
        #expect(results.map { Fixture.failure($0.outcome) } == ["Error: batch broke at line 2", "Error: batch broke at line 2"])
        let object = try JavaScriptPool(
            programs: [Fixture.source("export function transformBatch(events) { return events[0]; }")],
            libraries: [],
            limits: Fixture.fast,
            threads: 1
        )
        let bad = await object.run("t", inputs: [Fixture.input(["messageId": "a"])])
        #expect(Fixture.failure(bad[0].outcome) == "transformBatch returned an object; return an array of events")
    }

    @Test(.timeLimit(.minutes(1))) func invalidInputFailsAlone() async throws {
        let pool = try Fixture.pool("export function transformEvent(e) { return e; }")
        let results = await pool.run("t", inputs: [(Array("not json".utf8), Array("{}".utf8)), Fixture.input(["messageId": "ok"])])
        #expect(Fixture.failure(results[0].outcome) == "the input event is not a JSON object")
        #expect(Fixture.objects(results[1].outcome)?.first?["messageId"] as? String == "ok")
    }

    @Test(.timeLimit(.minutes(1))) func unsupportedGlobalsExplainThemselves() async throws {
        let pool = try Fixture.pool(
            """
            export async function transformEvent(event) {
              const which = event.which;
              if (which === "fetch") await fetch("https://example.com");
              if (which === "fetchV2") await fetchV2("https://example.com");
              if (which === "geolocation") await geolocation("1.1.1.1");
              if (which === "getCredential") getCredential("key");
              return { kinds: [typeof setTimeout, typeof require, typeof process, typeof WebAssembly, typeof XMLHttpRequest].join(",") };
            }
            """
        )
        for name in ["fetch", "fetchV2", "geolocation", "getCredential"] {
            let message = Fixture.failure(await Fixture.one(pool, ["which": name]).outcome)
            #expect(
                message?.hasPrefix(
                    "Error: \(name) is not available in Switchyard transformations: transformations run inside the server without network access"
                ) == true,
                "\(message ?? "nil")"
            )
        }
        #expect(
            Fixture.objects(await Fixture.one(pool, ["which": "none"]).outcome)?.first?["kinds"] as? String
                == "undefined,undefined,undefined,undefined,undefined"
        )
    }

    @Test(.timeLimit(.minutes(1))) func topLevelHelpersWork() async throws {
        let pool = try Fixture.pool(
            """
            const DENY = ["spam", "bot"];
            function cyrb53(str) { let h = 0; for (const c of str) h = (h * 31 + c.charCodeAt(0)) | 0; return Math.abs(h); }
            const re = /^[a-z]+\\/x`{/i;   // a regex with a slash and backtick: must not confuse the rewriter
            const t = `export ${DENY.length} import`;
            export function transformEvent(event) {
              if (DENY.includes(event.event)) return null;
              event.bucket = cyrb53(event.userId) % 10;
              event.t = t;
              return event;
            }
            """
        )
        #expect(await Fixture.one(pool, ["event": "spam"]).outcome == .dropped)
        let out = try #require(Fixture.objects(await Fixture.one(pool, ["event": "ok", "userId": "u1"]).outcome))
        #expect(out[0]["bucket"] is Int)
        #expect(out[0]["t"] as? String == "export 2 import")
    }

    @Test(.timeLimit(.minutes(1))) func shutdownFailsLaterRuns() async throws {
        let pool = try Fixture.pool("export function transformEvent(e) { return e; }", threads: 2)
        #expect(await Fixture.stillWorks(pool))
        pool.shutdown()
        let after = await Fixture.one(pool)
        #expect(Fixture.failure(after.outcome) == "the JavaScript pool was shut down")
        pool.shutdown()  // twice is fine
    }

    @Test(.timeLimit(.minutes(1))) func unknownProgramName() async throws {
        let pool = try Fixture.pool("export function transformEvent(e) { return e; }")
        let r = await pool.run("missing", inputs: [Fixture.input([:])])
        #expect(Fixture.failure(r[0].outcome) == "no transformation named \"missing\"")
    }
}
