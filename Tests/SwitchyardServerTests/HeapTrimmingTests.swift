import Logging
import NIOConcurrencyHelpers
import SwitchyardServer
import Testing

@Suite("Handing freed heap back", .timeLimit(.minutes(1)))
struct HeapTrimmingTests {
    @Test("trims once the heap grew by the threshold since the last trim, not before")
    func growth() {
        var policy = HeapTrimPolicy(growth: 10)
        let decisions = [100, 109, 110].map { policy.shouldTrim(resident: $0) }
        #expect(decisions == [false, false, true])
        policy.trimmed(leaving: 104)
        let after = [110, 114].map { policy.shouldTrim(resident: $0) }
        #expect(after == [false, true])
    }

    @Test("a heap that shrank on its own lowers the baseline")
    func shrinking() {
        var policy = HeapTrimPolicy(growth: 10)
        let decisions = [100, 80].map { policy.shouldTrim(resident: $0) }
        #expect(decisions == [false, false])
        #expect(policy.baseline == 80)
        let grown = policy.shouldTrim(resident: 90)
        #expect(grown)
    }

    @Test("the service trims after a burst, then leaves a steady heap alone until shut down")
    func service() async throws {
        let mib = 1 << 20
        // The first look, a burst, what the trim left, then steady.
        let heap = FakeHeap(readings: [100 * mib, 140 * mib, 105 * mib] + Array(repeating: 106 * mib, count: 20))
        let service = HeapTrimService(heap: heap, interval: .zero, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            for await _ in heap.exhausted { break }
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(heap.trims == 1)
    }

    #if os(Linux)
    @Test("reads the process's anonymous resident memory")
    func systemHeap() throws {
        let resident = try #require(SystemHeap().residentBytes())
        #expect(resident > 1 << 20)
        SystemHeap().trim()
    }
    #endif
}

/// A heap that reads out a list of resident sizes, counts trims, and says when the list is used up.
private final class FakeHeap: ProcessHeap {
    private let state: NIOLockedValueBox<(readings: [Int], next: Int, trims: Int)>
    let exhausted: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init(readings: [Int]) {
        state = NIOLockedValueBox((readings, 0, 0))
        (exhausted, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var trims: Int { state.withLockedValue { $0.trims } }

    func residentBytes() -> Int? {
        let (reading, done) = state.withLockedValue { state in
            let reading = state.readings[min(state.next, state.readings.count - 1)]
            state.next += 1
            return (reading, state.next >= state.readings.count)
        }
        if done { signal.yield() }
        return reading
    }

    func trim() { state.withLockedValue { $0.trims += 1 } }
}
