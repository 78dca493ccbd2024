import AWSSigV4
import AsyncHTTPClient
import Foundation
import Metrics
import SwitchyardCore
import Testing

@testable import AWSCredentialProviders

/// A chain over this environment; instance metadata is off unless a test asks for it.
func resolve(_ env: [String: String], explicit: AWSCredentials? = nil, metadata: Bool = false) async -> CredentialChain.Outcome {
    var environment = env
    if !metadata { environment["AWS_EC2_METADATA_DISABLED"] = "true" }
    let chain = CredentialChain(
        environment: environment,
        region: "us-east-1",
        httpClient: HTTPClient.shared,
        metricsFactory: NOOPMetricsHandler.instance
    )
    return await chain.resolve(explicit: explicit)
}

func found(_ outcome: CredentialChain.Outcome) -> (any CredentialProvider)? {
    if case .found(let provider) = outcome { return provider }
    return nil
}

func withAWSFiles(credentials: String = "", config: String = "", _ body: ([String: String], URL) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try credentials.write(to: dir.appendingPathComponent("credentials"), atomically: true, encoding: .utf8)
    try config.write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8)
    try await body(
        [
            "AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("credentials").path,
            "AWS_CONFIG_FILE": dir.appendingPathComponent("config").path,
        ],
        dir
    )
}

@Suite("The credential chain, in the AWS SDKs' order", .timeLimit(.minutes(2)))
struct CredentialChainTests {
    @Test("the destination's keys win, then the environment")
    func explicitThenEnvironment() async throws {
        let env = ["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "tok"]
        let explicit = AWSCredentials(accessKeyID: "CFG", secretAccessKey: "cfgsecret")
        #expect(try await found(resolve(env, explicit: explicit))?.fetch().credentials == explicit)
        let fromEnv = try #require(found(await resolve(env)))
        #expect(
            try await fromEnv.fetch().credentials
                == AWSCredentials(accessKeyID: "ENVKEY", secretAccessKey: "envsecret", sessionToken: "tok")
        )
        #expect(fromEnv.kind == "environment")
    }

    @Test("with several configured at once, the order is environment, web identity, profile, container, instance metadata")
    func order() async throws {
        try await withAWSFiles(credentials: "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n") { files, dir in
            let all = files.merging([
                "AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_WEB_IDENTITY_TOKEN_FILE": dir.appendingPathComponent("token").path,
                "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
            ]) { $1 }
            #expect(found(await resolve(all))?.kind == "environment")
            var rest = all
            rest["AWS_ACCESS_KEY_ID"] = nil
            #expect(found(await resolve(rest))?.kind == "web-identity")
            rest["AWS_WEB_IDENTITY_TOKEN_FILE"] = nil
            #expect(found(await resolve(rest))?.kind == "profile")
            rest["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
            #expect(found(await resolve(rest))?.description == "container credentials (http://169.254.170.2/v2/credentials/x)")
        }
    }

    @Test("nothing configured: every step says why it gave nothing")
    func nothing() async {
        guard case .nothing(let nothing) = await resolve(["HOME": "/nonexistent"]) else {
            Issue.record("found something")
            return
        }
        #expect(
            nothing.description.hasPrefix(
                "no AWS credentials found; tried its configuration (no accessKeyID and accessKey); the environment"
            )
        )
        #expect(nothing.description.contains("web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)"))
        #expect(nothing.description.contains("profile \"default\""))
        #expect(nothing.description.contains("container credentials"))
        #expect(nothing.description.hasSuffix("instance metadata (AWS_EC2_METADATA_DISABLED=true)"))
    }

    @Test("instance metadata that does not answer is tried last, and named")
    func metadataProbe() async {
        let outcome = await resolve(["HOME": "/nonexistent", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"], metadata: true)
        guard case .nothing(let nothing) = outcome else {
            Issue.record("found something")
            return
        }
        #expect(
            nothing.tried.last?.hasPrefix("instance metadata (http://127.0.0.1:9): no answer from http://127.0.0.1:9/latest/api/token")
                == true
        )
    }

    @Test("profiles: static keys from either file, by AWS_PROFILE; the credentials file wins")
    func staticProfiles() async throws {
        try await withAWSFiles(
            credentials:
                "[default]\naws_access_key_id=DEF\naws_secret_access_key = defsecret\n# comment\n[prod]\naws_access_key_id = PROD\naws_secret_access_key = prodsecret\naws_session_token = ptok\n",
            config:
                "[profile staging]\nregion = eu-west-1\naws_access_key_id = STG\naws_secret_access_key = stgsecret\n[profile prod]\naws_access_key_id = OLD\n"
        ) { files, _ in
            func keys(_ profile: String?) async throws -> AWSCredentials? {
                let env = profile.map { files.merging(["AWS_PROFILE": $0]) { $1 } } ?? files
                return try await found(resolve(env))?.fetch().credentials
            }
            let byDefault = try await keys(nil)
            let prod = try await keys("prod")
            let staging = try await keys("staging")
            #expect(byDefault?.accessKeyID == "DEF")
            #expect(prod == AWSCredentials(accessKeyID: "PROD", secretAccessKey: "prodsecret", sessionToken: "ptok"))
            #expect(staging?.accessKeyID == "STG")
            #expect(found(await resolve(files.merging(["AWS_PROFILE": "nope"]) { $1 })) == nil)
        }
    }

    @Test("a profile's role_arn is assumed with its source_profile, its credential_source or its web identity")
    func roleProfiles() async throws {
        let config = """
            [profile base]
            aws_access_key_id = BASE
            aws_secret_access_key = basesecret
            [profile publisher]
            role_arn = arn:aws:iam::123456789012:role/publisher
            source_profile = base
            external_id = ext-1
            role_session_name = sy
            duration_seconds = 900
            [profile two-hops]
            role_arn = arn:aws:iam::210987654321:role/other
            source_profile = publisher
            [profile from-env]
            role_arn = arn:aws:iam::123456789012:role/publisher
            credential_source = Environment
            [profile irsa]
            role_arn = arn:aws:iam::123456789012:role/web
            web_identity_token_file = /var/run/token
            [profile loop-a]
            role_arn = arn:aws:iam::123456789012:role/a
            source_profile = loop-b
            [profile loop-b]
            role_arn = arn:aws:iam::123456789012:role/b
            source_profile = loop-a
            [profile lonely]
            role_arn = arn:aws:iam::123456789012:role/a
            [profile script]
            credential_process = /usr/local/bin/get-creds --account 1
            """
        try await withAWSFiles(config: config) { files, _ in
            func profile(_ name: String, _ extra: [String: String] = [:]) async -> CredentialChain.Outcome {
                await resolve(files.merging(["AWS_PROFILE": name]) { $1 }.merging(extra) { $1 })
            }
            let publisher = try #require(found(await profile("publisher")) as? AssumeRoleProvider)
            #expect(publisher.roleArn == "arn:aws:iam::123456789012:role/publisher" && publisher.externalId == "ext-1")
            #expect(publisher.sessionName == "sy" && publisher.durationSeconds == 900)
            #expect(publisher.source.provider.description == "profile base")
            let twoHops = try #require(found(await profile("two-hops")) as? AssumeRoleProvider)
            #expect((twoHops.source.provider as? AssumeRoleProvider)?.roleArn == "arn:aws:iam::123456789012:role/publisher")
            #expect(
                (found(await profile("from-env", ["AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "s", "AWS_PROFILE": "from-env"])))?
                    .kind == "environment",
                "the environment comes before profiles in the chain"
            )
            #expect((found(await profile("irsa")) as? WebIdentityProvider)?.tokenFile == "/var/run/token")
            #expect((found(await profile("script")) as? ProcessCredentialProvider)?.command == "/usr/local/bin/get-creds --account 1")
            for (name, message) in [
                ("loop-a", "makes a loop"), ("lonely", "role_arn needs source_profile, credential_source or web_identity_token_file"),
            ] {
                guard case .misconfigured(let problem) = await profile(name) else {
                    Issue.record("\(name) resolved")
                    continue
                }
                #expect(problem.description.contains(message), "\(problem)")
            }
        }
    }

    @Test(
        "container credentials: plain http only to this machine or the container agents' addresses",
        arguments: [
            ("http://127.0.0.1:8080/creds", true), ("http://localhost/creds", true), ("http://[::1]:80/x", true),
            ("http://169.254.170.2/v2/credentials", true), ("http://169.254.170.23/v1/credentials", true),
            ("http://[fd00:ec2::23]/v1", true),
            ("https://creds.example.com/x", true), ("http://creds.example.com/x", false), ("http://10.0.0.1/x", false),
            ("ftp://127.0.0.1/", false),
        ]
    )
    func containerHosts(url: String, allowed: Bool) {
        #expect(ContainerCredentialProvider.isAllowed(url) == allowed)
    }

    @Test("a plain-http full URI to another host is refused, not silently skipped")
    func containerRefused() async {
        guard
            case .misconfigured(let problem) = await resolve([
                "HOME": "/nonexistent", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.1.2.3/creds",
            ])
        else {
            Issue.record("accepted")
            return
        }
        #expect(problem.description.contains("use https"))
    }

    @Test("credentials never print their secrets")
    func redacted() {
        let text = "\(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "very-secret", sessionToken: "token-secret"))"
        #expect(!text.contains("very-secret") && !text.contains("token-secret") && text.contains("AKID"))
    }

    @Test("endpoint precedence: configuration, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the region's; STS is regional")
    func endpoint() {
        func resolve(_ explicit: String?, _ env: [String: String], region: String = "us-east-1") -> String {
            EndpointResolver.endpoint(
                explicit: explicit,
                serviceEnvName: "EVENTBRIDGE",
                hostPrefix: "events",
                region: region,
                environment: env
            )
        }
        let env = ["AWS_ENDPOINT_URL_EVENTBRIDGE": "http://svc:1", "AWS_ENDPOINT_URL": "http://all:2"]
        #expect(resolve("http://cfg:3", env) == "http://cfg:3")
        #expect(resolve(nil, env) == "http://svc:1")
        #expect(resolve(nil, ["AWS_ENDPOINT_URL": "http://all:2"]) == "http://all:2")
        #expect(resolve(nil, [:], region: "eu-west-1") == "https://events.eu-west-1.amazonaws.com")
        #expect(resolve(nil, [:], region: "cn-north-1") == "https://events.cn-north-1.amazonaws.com.cn")
        #expect(STSClient(region: "eu-west-1", environment: [:], httpClient: .shared)?.url == "https://sts.eu-west-1.amazonaws.com/")
        #expect(
            STSClient(region: "eu-west-1", environment: ["AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000"], httpClient: .shared)?.hostHeader
                == "127.0.0.1:5000"
        )
    }
}

@Suite("What the providers answer", .timeLimit(.minutes(2)))
struct ProviderAnswerTests {
    @Test("STS's XML: the credentials, or the error with its code")
    func sts() throws {
        let xml = """
            <AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s&amp;cret</SecretAccessKey>\
            <SessionToken>tok</SessionToken><Expiration>2026-12-01T11:34:24.129188Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>
            """
        let c = try STSClient.credentials(fromXML: xml, provider: "STS AssumeRole")
        #expect(c.credentials == AWSCredentials(accessKeyID: "ASIAX", secretAccessKey: "s&cret", sessionToken: "tok"))
        #expect(c.expiration?.rfc3339 == "2026-12-01T11:34:24.129Z")
        #expect(
            SigV4Signer.uriEncode("arn:aws:iam::1:role/a b+c") == "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc",
            "form bodies are encoded as AWS signs"
        )
    }

    @Test("credential_process output: Version 1, the keys, an optional token and expiry")
    func process() throws {
        let ok = try ProcessCredentialProvider.parse(
            Array(#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T00:00:00Z"}"#.utf8),
            provider: "p"
        )
        #expect(ok.credentials.sessionToken == "T" && ok.expiration != nil)
        #expect(throws: CredentialError.self) {
            try ProcessCredentialProvider.parse(Array(#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"S"}"#.utf8), provider: "p")
        }
        #expect(throws: CredentialError.self) {
            try ProcessCredentialProvider.parse(Array(#"{"Version":1,"AccessKeyId":"A"}"#.utf8), provider: "p")
        }
    }

    @Test("credential_process runs the command; a failing one says how it failed")
    func runsTheCommand() async throws {
        let good = ProcessCredentialProvider(
            command: #"printf '{"Version": 1, "AccessKeyId": "PROC", "SecretAccessKey": "s"}'"#,
            profile: "script"
        )
        #expect(try await good.fetch().credentials.accessKeyID == "PROC")
        let bad = ProcessCredentialProvider(command: "echo 'no such account' >&2; exit 3", profile: "script")
        await #expect(
            throws: CredentialError(
                provider: "credential_process of profile script",
                message: "the command exited with status 3: no such account"
            )
        ) { try await bad.fetch() }
    }
}
