import Foundation

/// JSON Schema's seven types.
enum SchemaType: String, Sendable, Hashable, CaseIterable {
    case null, boolean, object, array, number, string, integer

    /// Whether `value` is of this type; a number with a zero fraction (`1.0`) is an integer.
    func admits(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.null, .null), (.boolean, .bool), (.object, .object), (.array, .array), (.string, .string), (.number, .number):
            return true
        case (.integer, .number(let text)): return SchemaNumber.isInteger(text)
        default: return false
        }
    }
}

/// Numbers as JSON Schema compares them: by value, whatever their text (`1` equals `1.0`).
enum SchemaNumber {
    static func value(_ text: String) -> Double { Double(text) ?? .nan }

    static func isInteger(_ text: String) -> Bool {
        if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return true }
        let d = value(text)
        return d.isFinite && d == d.rounded(.towardZero)
    }

    /// `value` is an integer multiple of `divisor`: exactly in decimal where it fits, else in binary.
    static func isMultiple(_ text: String, of divisor: String) -> Bool {
        if let v = Decimal(string: text, locale: nil), let d = Decimal(string: divisor, locale: nil), !d.isZero, v.isFinite, d.isFinite,
            abs(v.exponent) < 100, abs(d.exponent) < 100
        {
            var quotient = v / d
            var rounded = Decimal()
            NSDecimalRound(&rounded, &quotient, 0, .down)
            if quotient.isFinite { return rounded == quotient }
        }
        let q = value(text) / value(divisor)
        if q.isFinite { return q == q.rounded(.towardZero) }
        // Too large to divide: an integer is a multiple of any 1/k.
        let inverse = 1 / value(divisor)
        return isInteger(text) && inverse.isFinite && inverse == inverse.rounded()
    }
}

/// Equality as `enum`, `const` and `uniqueItems` mean it: numbers by value, objects whatever
/// their keys' order.
func schemaEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    // By code points: Swift's `==` would equate "é" with "e" and a combining accent.
    case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
    case (.number(let x), .number(let y)): return x == y || SchemaNumber.value(x) == SchemaNumber.value(y)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { schemaEqual($0, $1) }
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (key, value) in x {
            guard let other = y[key], schemaEqual(value, other) else { return false }
        }
        return true
    default: return false
    }
}

extension JSONValue {
    /// The name JSON Schema gives this value's type (`integer` for whole numbers).
    var schemaTypeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number(let text): return SchemaNumber.isInteger(text) ? "integer" : "number"
        }
    }
}
