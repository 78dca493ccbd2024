import Testing

@testable import SwitchyardCore

/// Cases written from the EventBridge user guide's pages on event patterns and content filtering.
func matches(_ pattern: String, _ event: String) throws -> Bool {
    try EventPattern(json: pattern).matches(JSONParser.parse(Array(event.utf8)))
}

func refusal(_ pattern: String) -> String? {
    do {
        _ = try EventPattern(json: pattern)
        return nil
    } catch {
        return error.reason
    }
}

let ec2Event = """
    {"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"EC2 Instance State-change Notification",
     "source":"aws.ec2","account":"111122223333","time":"2017-12-22T18:43:48Z","region":"us-west-1",
     "resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
     "detail":{"instance-id":"i-1234567890abcdef0","state":"terminated","c-count":5,"d-count":3.018e2,
               "x-limit":301.8,"source-ip":"10.0.0.123","ipv6":"2001:db8:1234:1a00:9691:9503:25ad:1761",
               "location":"eu-central-1","filename":"Users/doc/readme.txt","isItCold":false,"null-value":null,
               "Instance":{"Type":"t2.micro"},"tags":["prod","web"]}}
    """

@Suite("Event patterns match as EventBridge matches", .timeLimit(.minutes(2)))
struct EventPatternMatchTests {
    @Test(
        "exact values: strings exactly, numbers as numbers, booleans and null as themselves",
        arguments: [
            (#"{"source":["aws.ec2"]}"#, true),
            (#"{"source":["AWS.EC2"]}"#, false),
            (#"{"source":["aws.s3","aws.ec2"]}"#, true),
            (#"{"detail":{"c-count":[5]}}"#, true),
            (#"{"detail":{"c-count":[5.0]}}"#, true),
            (#"{"detail":{"d-count":[301.8]}}"#, true),
            (#"{"detail":{"c-count":["5"]}}"#, false),
            (#"{"detail":{"isItCold":[false]}}"#, true),
            (#"{"detail":{"isItCold":["false"]}}"#, false),
            (#"{"detail":{"null-value":[null]}}"#, true),
            (#"{"detail":{"null-value":[""]}}"#, false),
            (#"{"detail":{"missing":[null]}}"#, false),
        ]
    )
    func exact(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "every field must match; nested fields follow the event's nesting; an array matches by any element",
        arguments: [
            (#"{"source":["aws.ec2"],"detail":{"state":["terminated"],"instance-id":["i-1234567890abcdef0"]}}"#, true),
            (#"{"source":["aws.ec2"],"detail":{"state":["running"]}}"#, false),
            (#"{"detail":{"Instance":{"Type":["t2.micro"]}}}"#, true),
            (#"{"detail":{"Instance":["t2.micro"]}}"#, false),
            (#"{"detail":{"tags":["web"]}}"#, true),
            (#"{"resources":["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0","other"]}"#, true),
            (#"{"detail":{"tags":["staging"]}}"#, false),
        ]
    )
    func structure(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "prefix, suffix, their equals-ignore-case forms, and equals-ignore-case",
        arguments: [
            (#"{"detail":{"location":[{"prefix":"eu-"}]}}"#, true),
            (#"{"detail":{"location":[{"prefix":"EU-"}]}}"#, false),
            (#"{"detail":{"location":[{"prefix":{"equals-ignore-case":"EU-"}}]}}"#, true),
            (#"{"detail":{"filename":[{"suffix":".txt"}]}}"#, true),
            (#"{"detail":{"filename":[{"suffix":{"equals-ignore-case":".TXT"}}]}}"#, true),
            (#"{"detail":{"filename":[{"suffix":".png"}]}}"#, false),
            (#"{"detail-type":[{"equals-ignore-case":"ec2 instance state-change notification"}]}"#, true),
            (#"{"detail":{"c-count":[{"prefix":"5"}]}}"#, false),
            (#"{"detail":{"location":[{"prefix":""}]}}"#, true),
        ]
    )
    func strings(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "anything-but: a value, a list, prefix, suffix, wildcard, equals-ignore-case; never a missing field",
        arguments: [
            (#"{"detail":{"state":[{"anything-but":"initializing"}]}}"#, true),
            (#"{"detail":{"state":[{"anything-but":["stopped","terminated"]}]}}"#, false),
            (#"{"detail":{"c-count":[{"anything-but":[1,2,3]}]}}"#, true),
            (#"{"detail":{"c-count":[{"anything-but":5}]}}"#, false),
            (#"{"detail":{"state":[{"anything-but":{"prefix":"term"}}]}}"#, false),
            (#"{"detail":{"filename":[{"anything-but":{"suffix":".png"}}]}}"#, true),
            (#"{"detail":{"filename":[{"anything-but":{"wildcard":"*/doc/*"}}]}}"#, false),
            (#"{"detail":{"state":[{"anything-but":{"equals-ignore-case":["TERMINATED","STOPPED"]}}]}}"#, false),
            (#"{"detail":{"missing":[{"anything-but":"x"}]}}"#, false),
            (#"{"detail":{"c-count":[{"anything-but":{"prefix":"5"}}]}}"#, true),
        ]
    )
    func anythingBut(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "numeric comparisons and ranges, on numbers only",
        arguments: [
            (#"{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}"#, true),
            (#"{"detail":{"c-count":[{"numeric":[">",5]}]}}"#, false),
            (#"{"detail":{"d-count":[{"numeric":["<",10]}]}}"#, false),
            (#"{"detail":{"x-limit":[{"numeric":["=",301.8]}]}}"#, true),
            (#"{"detail":{"x-limit":[{"numeric":[">=",301.8,"<",302]}]}}"#, true),
            (#"{"detail":{"state":[{"numeric":[">",0]}]}}"#, false),
        ]
    )
    func numeric(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "exists: true needs a leaf value, false its absence (an object is not a leaf)",
        arguments: [
            (#"{"detail":{"state":[{"exists":true}]}}"#, true),
            (#"{"detail":{"state":[{"exists":false}]}}"#, false),
            (#"{"detail":{"nothing":[{"exists":false}]}}"#, true),
            (#"{"detail":{"nothing":[{"exists":true}]}}"#, false),
            (#"{"detail":{"Instance":[{"exists":true}]}}"#, false),
            (#"{"detail":{"null-value":[{"exists":true}]}}"#, true),
        ]
    )
    func exists(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "wildcard: * for any run of characters (none included), \\* for a star",
        arguments: [
            (#"{"detail":{"filename":[{"wildcard":"Users/*/readme.txt"}]}}"#, true),
            (#"{"detail":{"filename":[{"wildcard":"*.txt"}]}}"#, true),
            (#"{"detail":{"filename":[{"wildcard":"Users/doc*/readme.txt"}]}}"#, true),
            (#"{"detail":{"filename":[{"wildcard":"*.png"}]}}"#, false),
            (#"{"detail":{"filename":[{"wildcard":"Users/\\*/readme.txt"}]}}"#, false),
        ]
    )
    func wildcard(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test(
        "cidr, IPv4 and IPv6; addresses written differently are the same address",
        arguments: [
            (#"{"detail":{"source-ip":[{"cidr":"10.0.0.0/24"}]}}"#, true),
            (#"{"detail":{"source-ip":[{"cidr":"10.0.1.0/24"}]}}"#, false),
            (#"{"detail":{"ipv6":[{"cidr":"2001:db8:1234:1a00::/64"}]}}"#, true),
            (#"{"detail":{"ipv6":[{"cidr":"2001:db8:1234:1b00::/64"}]}}"#, false),
            (#"{"detail":{"state":[{"cidr":"10.0.0.0/8"}]}}"#, false),
            (#"{"detail":{"ipv6":["2001:0db8:1234:1a00:9691:9503:25ad:1761"]}}"#, true),
        ]
    )
    func cidr(pattern: String, expected: Bool) throws {
        #expect(try matches(pattern, ec2Event) == expected)
    }

    @Test("$or: any branch, each with the fields beside it")
    func or() throws {
        let pattern = #"{"source":["aws.ec2"],"$or":[{"detail":{"c-count":[{"numeric":[">",10]}]}},{"detail":{"state":["terminated"]}}]}"#
        #expect(try matches(pattern, ec2Event))
        let neither = #"{"source":["aws.ec2"],"$or":[{"detail":{"c-count":[{"numeric":[">",10]}]}},{"detail":{"state":["running"]}}]}"#
        #expect(try !matches(neither, ec2Event))
        let wrongSource = #"{"source":["aws.s3"],"$or":[{"detail":{"state":["terminated"]}},{"detail":{"c-count":[5]}}]}"#
        #expect(try !matches(wrongSource, ec2Event))
    }

    @Test("fields must match within one element of an array they share")
    func arrayConsistency() throws {
        let event = #"{"detail":{"items":[{"name":"a","size":1},{"name":"b","size":2}]}}"#
        #expect(try matches(#"{"detail":{"items":{"name":["a"],"size":[1]}}}"#, event))
        #expect(try !matches(#"{"detail":{"items":{"name":["a"],"size":[2]}}}"#, event))
    }

    @Test("a miss names the first field of the pattern that no value satisfied")
    func missNamesTheField() throws {
        let pattern = try EventPattern(json: #"{"source":["aws.ec2"],"detail":{"state":["running"]}}"#)
        #expect(pattern.match(try JSONParser.parse(Array(ec2Event.utf8))) == .noMatch(field: "detail.state"))
    }
}

@Suite("Event patterns EventBridge refuses are refused, with its reason", .timeLimit(.minutes(2)))
struct EventPatternValidationTests {
    @Test(
        "each is refused as EventBridge refuses it",
        arguments: [
            (#"["not","an","object"]"#, "Filter is not an object"),
            (#"{"source":"aws.ec2"}"#, #""source" must be an object or an array"#),
            (#"{"source":[]}"#, "Empty arrays are not allowed"),
            (#"{"detail":{}}"#, "Empty objects are not allowed"),
            (#"{"a":[{"EXISTS":true}]}"#, "Unrecognized match type EXISTS"),
            (#"{"a":[{"prefix":["x"]}]}"#, "prefix match pattern must be a string"),
            (#"{"a":[{"suffix":5}]}"#, "suffix match pattern must be a string"),
            (#"{"a":[{"equals-ignore-case":["x"]}]}"#, "equals-ignore-case match pattern must be a string"),
            (#"{"a":[{"wildcard":5}]}"#, "wildcard match pattern must be a string"),
            (#"{"a":[{"wildcard":"ab**c"}]}"#, "Consecutive wildcard characters at pos 3"),
            (#"{"a":[{"wildcard":"a\\bc"}]}"#, "Invalid escape character at pos 2"),
            (#"{"a":[{"numeric":10}]}"#, "Value of numeric must be an array."),
            (#"{"a":[{"numeric":[">",0,">",0]}]}"#, "Bad numeric range operator: >"),
            (#"{"a":[{"numeric":[">",0,"<"]}]}"#, "Value of < must be numeric"),
            (#"{"a":[{"numeric":[">",10,"<",5]}]}"#, "Bottom must be less than top"),
            (#"{"a":[{"numeric":["=","x"]}]}"#, "Value of equals must be numeric"),
            (#"{"a":[{"exists":"yes"}]}"#, "exists match pattern must be either true or false."),
            (#"{"a":[{"anything-but":null}]}"#, "Value of anything-but must be an array or single string/number value."),
            (#"{"a":[{"anything-but":["x",null]}]}"#, "Inside anything but list, start|null|boolean is not supported."),
            (
                #"{"a":[{"anything-but":["x",1]}]}"#,
                "Inside anything but list, either all values are number or string, mixed type is not supported"
            ),
            (#"{"a":[{"anything-but":{"prefix":""}}]}"#, "Null prefix/suffix not allowed"),
            (#"{"a":[{"anything-but":{"anything-but":"x"}}]}"#, "Unsupported anything-but pattern: anything-but"),
            (
                #"{"a":[{"anything-but":{"equals-ignore-case":[1]}}]}"#,
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            ),
            (#"{"a":[{"cidr":"10.0.0.0"}]}"#, "Malformed CIDR, one '/' required"),
            (#"{"a":[{"cidr":"10.0.0.0/x"}]}"#, "Malformed CIDR, mask bits must be an integer"),
            (#"{"a":[{"cidr":"xx.11.xx/24"}]}"#, "Nonstandard IP address: xx.11.xx"),
            (#"{"a":[{"prefix":"x","suffix":"y"}]}"#, "Only one key allowed in match expression"),
            (#"{"a":[["x"]]}"#, "Match value must be String, number, true, false, or null"),
            (#"{"$or":[{"a":["x"]}]}"#, "There must have at least 2 Objects in $or relationship."),
            (#"{"$or":{"a":["x"]}}"#, "It must be an Array followed with $or."),
            (
                #"{"a":[{"wildcard":"*:*:*:*:*:event-bus/*"}]}"#,
                "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character"
            ),
        ]
    )
    func refused(pattern: String, reason: String) {
        #expect(refusal(pattern) == reason)
    }

    @Test("$or may not multiply past 1000 combinations")
    func combinations() {
        let or = "[" + (0..<11).map { #"{"f\#($0)":["x"]}"# }.joined(separator: ",") + "]"
        let pattern = #"{"a":{"$or":\#(or)},"b":{"$or":\#(or)},"c":{"$or":\#(or)}}"#
        #expect(refusal(pattern)?.contains("more than 1000 rule combinations") == true)
    }

    @Test("wildcard complexity is counted as event-ruler counts it")
    func complexity() throws {
        for (text, expected) in [("*", 1), ("*ab", 2), ("*aa", 3), ("aa*", 2), ("a*bbb", 4), ("*ab*ad", 4), ("a*b*bb", 5)] {
            #expect(Wildcard.complexity(of: [try Wildcard(text)], cap: 100) == expected, "\(text)")
        }
        #expect(Wildcard.complexity(of: [try Wildcard("*abc"), try Wildcard("*abcde")], cap: 100) == 4, "patterns on one field add up")
        #expect(refusal(#"{"a":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}"#) == nil)
    }
}
