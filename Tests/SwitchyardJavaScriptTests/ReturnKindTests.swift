import SwitchyardJavaScript
import Testing

@Suite struct ReturnKindTests {
    @Test(.timeLimit(.minutes(1))) func objectIsPassedThroughAndChanged() async throws {
        let pool = try Fixture.pool(
            """
            export function transformEvent(event, metadata) {
              event.properties = { seen: true };
              return event;
            }
            """
        )
        let r = await Fixture.one(pool, ["messageId": "a", "event": "e"])
        let out = try #require(Fixture.objects(r.outcome))
        #expect(out.count == 1)
        #expect(out[0]["event"] as? String == "e")
        #expect((out[0]["properties"] as? [String: Any])?["seen"] as? Bool == true)
    }

    @Test(.timeLimit(.minutes(1))) func arrayFansOut() async throws {
        let pool = try Fixture.pool("export function transformEvent(e) { return [ {...e, n: 1}, {...e, n: 2}, {...e, n: 3} ]; }")
        let out = try #require(Fixture.objects(await Fixture.one(pool).outcome))
        #expect(out.map { $0["n"] as? Int } == [1, 2, 3])
    }

    @Test(.timeLimit(.minutes(1))) func nullUndefinedAndEmptyArrayDrop() async throws {
        for body in ["return null;", "return;", "return [];", "return undefined;"] {
            let pool = try Fixture.pool("export function transformEvent(e) { \(body) }")
            #expect(await Fixture.one(pool).outcome == .dropped, "\(body)")
        }
    }

    @Test(.timeLimit(.minutes(1))) func numberStringAndBadArraysFail() async throws {
        let number = try Fixture.pool("export function transformEvent(e) { return 42; }")
        #expect(
            Fixture.failure(await Fixture.one(number).outcome)
                == "transformEvent returned a number; return an event object, an array of events, or nothing"
        )
        let string = try Fixture.pool("export function transformEvent(e) { return 'x'; }")
        #expect(
            Fixture.failure(await Fixture.one(string).outcome)
                == "transformEvent returned a string; return an event object, an array of events, or nothing"
        )
        let mixed = try Fixture.pool("export function transformEvent(e) { return [e, 5]; }")
        #expect(Fixture.failure(await Fixture.one(mixed).outcome)?.contains("a number at index 1") == true)
    }

    @Test(.timeLimit(.minutes(1))) func throwReportsLine() async throws {
        let pool = try Fixture.pool(
            """
            export function transformEvent(event) {
              const a = 1;
              return event.properties.x;
            }
            """
        )
        let message = try #require(Fixture.failure(await Fixture.one(pool).outcome))
        #expect(message == "TypeError: undefined is not an object (evaluating 'event.properties.x') at line 3")
        #expect(await Fixture.stillWorks(try Fixture.pool("export function transformEvent(e) { return e; }")))
    }

    @Test(.timeLimit(.minutes(1))) func thrownErrorAndNonErrorValues() async throws {
        let pool = try Fixture.pool(
            """
            export function transformEvent(event) {
              if (event.kind === "str") throw "plain text";
              throw new Error("bad event " + event.kind);
            }
            """
        )
        #expect(Fixture.failure(await Fixture.one(pool, ["kind": "x"]).outcome) == "Error: bad event x at line 3")
        #expect(Fixture.failure(await Fixture.one(pool, ["kind": "str"]).outcome) == "plain text")
    }

    @Test(.timeLimit(.minutes(1))) func asyncFunctionsSettle() async throws {
        let pool = try Fixture.pool(
            """
            async function enrich(e) { await null; return { ...e, enriched: true }; }
            export async function transformEvent(event) {
              const e = await enrich(event);
              await Promise.resolve();
              return e;
            }
            """
        )
        let out = try #require(Fixture.objects(await Fixture.one(pool).outcome))
        #expect(out.first?["enriched"] as? Bool == true)
        let rejecting = try Fixture.pool("export async function transformEvent(e) { await null; throw new TypeError('nope'); }")
        #expect(Fixture.failure(await Fixture.one(rejecting).outcome) == "TypeError: nope at line 1")
        let never = try Fixture.pool("export function transformEvent(e) { return new Promise(() => {}); }")
        #expect(Fixture.failure(await Fixture.one(never).outcome)?.contains("never settled") == true)
    }

    @Test(.timeLimit(.minutes(1))) func unserializableResultsFail() async throws {
        let cycle = try Fixture.pool("export function transformEvent(e) { e.self = e; return e; }")
        #expect(Fixture.failure(await Fixture.one(cycle).outcome)?.contains("cyclic") == true)
        let bigint = try Fixture.pool("export function transformEvent(e) { e.n = 10n; return e; }")
        #expect(Fixture.failure(await Fixture.one(bigint).outcome)?.contains("BigInt") == true)
        let huge = try Fixture.pool(
            "export function transformEvent(e) { e.big = 'x'.repeat(1 << 20); return e; }",
            limits: JavaScriptLimits(timeout: .seconds(2), maxOutputBytes: 1 << 19)
        )
        #expect(Fixture.failure(await Fixture.one(huge).outcome)?.contains("larger than") == true)
    }

    @Test(.timeLimit(.minutes(1))) func exportListForm() async throws {
        let pool = try Fixture.pool(
            """
            const tag = "listed";
            function handle(event) { event.tag = tag; return event; }
            export { handle as transformEvent };
            """
        )
        #expect(Fixture.objects(await Fixture.one(pool).outcome)?.first?["tag"] as? String == "listed")
        let plain = try Fixture.pool("function transformEvent(e) { e.p = 1; return e; }\nexport { transformEvent };")
        #expect(Fixture.objects(await Fixture.one(plain).outcome)?.first?["p"] as? Int == 1)
    }
}
