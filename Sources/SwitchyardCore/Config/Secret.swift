/// A value that must never be shown: write keys, AWS keys, admin tokens. Printing, logging or
/// encoding it gives `***`; only `reveal()` hands out the real text, at the place that uses it.
public struct Secret: Sendable, Hashable, Codable, CustomStringConvertible, CustomDebugStringConvertible, ExpressibleByStringLiteral {
    private let value: String

    public init(_ value: String) {
        self.value = value
    }

    public init(stringLiteral value: String) {
        self.value = value
    }

    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Secret.mask)
    }

    public static let mask = "***"

    public func reveal() -> String { value }
    public var isEmpty: Bool { value.isEmpty }
    public var description: String { Secret.mask }
    public var debugDescription: String { Secret.mask }
}
