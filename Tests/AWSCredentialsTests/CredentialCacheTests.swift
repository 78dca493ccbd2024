import AWSSigV4
import SwitchyardCore
import Testing

@testable import AWSCredentialProviders

func at(_ seconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: seconds * 1000) }

func creds(_ id: String, obtained: Int64, expires: Int64?) -> TemporaryCredentials {
    TemporaryCredentials(
        AWSCredentials(accessKeyID: id, secretAccessKey: "s", sessionToken: "t"),
        expiration: expires.map(at),
        obtained: at(obtained)
    )
}

@Suite("The credential cache's state machine", .timeLimit(.minutes(2)))
struct CredentialCacheTests {
    @Test(
        "refresh ahead: 5 minutes before an hour's credentials expire, a quarter ahead for short ones; unusable a minute (or a twelfth) before"
    )
    func timing() {
        let hour = creds("A", obtained: 0, expires: 3600)
        #expect(hour.refreshAt == at(3300) && hour.unusableAt == at(3540))
        let short = creds("B", obtained: 0, expires: 15)
        #expect(
            short.refreshAt == Timestamp(millisecondsSinceEpoch: 11_250) && short.unusableAt == Timestamp(millisecondsSinceEpoch: 13_750)
        )
        #expect(creds("C", obtained: 0, expires: nil).refreshAt == nil, "keys that never expire are never refreshed")
    }

    @Test("one fetch however many callers wait; they all get its result")
    func singleFlight() {
        var cache = CredentialCache<Int>()
        guard case .fetch = cache.get(now: at(0), waiter: 1) else {
            Issue.record("first caller should fetch")
            return
        }
        guard case .wait = cache.get(now: at(0), waiter: 2), case .wait = cache.get(now: at(0), waiter: 3) else {
            Issue.record("others should wait")
            return
        }
        let (waiters, result) = cache.fetched(.success(creds("A", obtained: 0, expires: 60)), now: at(1))
        #expect(waiters == [2, 3])
        #expect((try? result.get())?.accessKeyID == "A")
        guard case .use(let c) = cache.get(now: at(2), waiter: 4) else {
            Issue.record("cached credentials should be used")
            return
        }
        #expect(c.accessKeyID == "A")
    }

    @Test("a background refresh keeps the current credentials in use while it runs")
    func backgroundRefresh() {
        var cache = CredentialCache<Int>()
        _ = cache.get(now: at(0), waiter: 0)
        _ = cache.fetched(.success(creds("A", obtained: 0, expires: 60)), now: at(0))
        let tooEarly = cache.startRefresh(now: at(10))
        #expect(!tooEarly, "not due before 45 s")
        let dueNow = cache.startRefresh(now: at(46))
        #expect(dueNow)
        let again = cache.startRefresh(now: at(46))
        #expect(!again, "one refresh at a time")
        guard case .use(let old) = cache.get(now: at(47), waiter: 1) else {
            Issue.record("should use the old ones")
            return
        }
        #expect(old.accessKeyID == "A")
        _ = cache.fetched(.success(creds("B", obtained: 47, expires: 107)), now: at(47))
        guard case .use(let new) = cache.get(now: at(48), waiter: 2) else {
            Issue.record("should use the new ones")
            return
        }
        #expect(new.accessKeyID == "B")
    }

    @Test("a failed refresh: valid credentials stay in use, then callers get the failure; retries back off; recovery ends it")
    func failures() {
        var cache = CredentialCache<Int>()
        _ = cache.get(now: at(0), waiter: 0)
        _ = cache.fetched(.success(creds("A", obtained: 0, expires: 60)), now: at(0))
        let due = cache.startRefresh(now: at(46))
        #expect(due)
        let error = CredentialError(provider: "container", message: "HTTP 500")
        _ = cache.fetched(.failure(error), now: at(46))
        #expect(cache.nextRefresh() == at(47), "retried after 1 s")
        guard case .use = cache.get(now: at(50), waiter: 1) else {
            Issue.record("still valid at 50 s")
            return
        }
        let retryDue = cache.startRefresh(now: at(47))
        #expect(retryDue)
        _ = cache.fetched(.failure(error), now: at(47))
        #expect(cache.nextRefresh() == at(49), "then after 2 s")
        // Past 55 s (a twelfth of the lifetime before expiry) they are never handed out.
        guard case .fetch = cache.get(now: at(56), waiter: 2) else {
            Issue.record("expired credentials must not be used")
            return
        }
        guard case .wait = cache.get(now: at(56), waiter: 3) else {
            Issue.record("should wait")
            return
        }
        let (waiters, result) = cache.fetched(.failure(error), now: at(56))
        #expect(waiters == [3])
        #expect(throws: CredentialError.self) { try result.get() }
        // The provider recovers.
        guard case .fetch = cache.get(now: at(60), waiter: 4) else {
            Issue.record("should fetch")
            return
        }
        _ = cache.fetched(.success(creds("B", obtained: 60, expires: 120)), now: at(60))
        #expect(cache.nextRefresh() == at(105), "back to refreshing ahead of expiry")
    }
}
