/// Compact JSON output that matches JavaScript's `JSON.stringify`: no spaces, `/` and non-ASCII
/// left as they are, control characters escaped. Destinations forward it byte-for-byte, so parity
/// with rudder-transformer depends on these rules.
extension JSONValue {
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    public var jsonString: String {
        String(decoding: serialized(), as: UTF8.self)
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let array):
            out.append(UInt8(ascii: "["))
            for (n, element) in array.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for n in 0..<object.keys.count {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(object.keys[n], to: &out)
                out.append(UInt8(ascii: ":"))
                object.values[n].write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            // Most strings need no escape at all: copy them in one go.
            var clean = true
            for b in utf8 where b < 0x20 || b == 0x22 || b == 0x5C {
                clean = false
                break
            }
            if clean {
                out.append(contentsOf: utf8)
                return
            }
            var runStart = 0
            for (n, b) in utf8.enumerated() {
                let escape: UInt8?
                switch b {
                case 0x22: escape = UInt8(ascii: "\"")
                case 0x5C: escape = UInt8(ascii: "\\")
                case 0x08: escape = UInt8(ascii: "b")
                case 0x0C: escape = UInt8(ascii: "f")
                case 0x0A: escape = UInt8(ascii: "n")
                case 0x0D: escape = UInt8(ascii: "r")
                case 0x09: escape = UInt8(ascii: "t")
                case 0..<0x20: escape = 0
                default: continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<n]))
                runStart = n + 1
                out.append(UInt8(ascii: "\\"))
                if let escape, escape != 0 {
                    out.append(escape)
                } else {
                    out.append(contentsOf: "u00".utf8)
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
