import AWSSigV4
import SwitchyardCore
import Testing

@testable import SwitchyardArchive

@Suite("Archive names and S3's signing", .timeLimit(.minutes(1)))
struct ArchiveLayoutTests {
    @Test("an event's window is its receipt hour in UTC; keys sort in log order and name their window")
    func keys() throws {
        let at = try #require(Timestamp(rfc3339: "2026-12-06T17:59:59.999Z"))
        #expect(ArchiveLayout.window(of: at) == "2026-12-06/17")
        #expect(ArchiveLayout.start(ofWindow: "2026-12-06/17") == Timestamp(rfc3339: "2026-12-06T17:00:00Z"))
        #expect(ArchiveLayout.start(ofWindow: "2026-12-06") == nil)
        let key = ArchiveLayout.dataKey(source: "web", window: "2026-12-06/17", from: 41, through: 9_000)
        #expect(key == "web/2026-12-06/17/0000000000000000041-0000000000000009000.ndjson.gz")
        #expect(ArchiveLayout.manifestKey(forData: key) == "web/2026-12-06/17/0000000000000000041-0000000000000009000.manifest.json")
        #expect(ArchiveLayout.window(ofKey: key) == "2026-12-06/17")
        #expect(ArchiveLayout.window(ofKey: "web/notes.txt") == nil)
        #expect(
            ArchiveLayout.dataKey(source: "web", window: "w", from: 9, through: 10)
                < ArchiveLayout.dataKey(source: "web", window: "w", from: 10, through: 11)
        )
    }

    @Test(
        "a source's directory cannot climb out of the archive or collide with another's",
        arguments: [
            ("web", "web"), ("..", "%2E."), (".hidden", "%2Ehidden"), ("a/b", "a%2Fb"), ("a%2Fb", "a%252Fb"), ("", "%00"),
            ("café", "caf%C3%A9"),
        ]
    )
    func directories(_ source: String, _ directory: String) {
        #expect(ArchiveLayout.directory(source: source) == directory)
    }

    @Test("S3's own example: PutObject signed with its payload's SHA-256 gives AWS's signature")
    func s3SigningVector() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1",
            service: "s3"
        )
        let signature = signer.sign(
            .init(
                method: "PUT",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test%24file.text",
                headers: [
                    ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                    ("x-amz-content-sha256", SigV4Signer.hexSHA256(body)),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                body: body
            ),
            amzDate: "20130524T000000Z"
        )
        #expect(signature.authorization.hasSuffix("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
        #expect(signature.authorization.contains("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"))
    }

    @Test("S3's XML answers: keys of a listing and an error's code, entities decoded")
    func xml() {
        let listing =
            "<ListBucketResult><Contents><Key>a/b&amp;c</Key></Contents><Contents><Key>d</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>"
        #expect(S3XML.values(of: "Key", in: listing) == ["a/b&c", "d"])
        #expect(S3XML.values(of: "Code", in: "<Error><Code>SignatureDoesNotMatch</Code></Error>") == ["SignatureDoesNotMatch"])
    }
}
