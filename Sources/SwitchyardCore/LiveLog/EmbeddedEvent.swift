import Foundation

/// Stores a transformed entry without the copy of its event that it embeds.
///
/// An EventBridge entry carries the whole event again as its `Detail` string, so the delivery
/// log's `transformed` record would hold every event a second time (escaped, so larger): most of
/// the bytes written per delivery. The record keeps the entry with that string cut out and where
/// it was; reading puts the stored event's text back, so the log shows exactly what was sent.
enum EmbeddedEvent {
    /// The entry without the event's JSON string and the byte offset it was cut from, or nil
    /// when the entry does not contain the event verbatim.
    static func remove(from entry: [UInt8], event: [UInt8]) -> (text: [UInt8], offset: Int)? {
        let needle = quoted(event)
        guard needle.count > 2, needle.count <= entry.count else { return nil }
        // A first-byte check and memcmp: the standard library's `firstRange(of:)` took 36 µs on a
        // 700-byte entry against 46 ns for this loop, on every delivered event.
        let found: Int? = entry.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { n in
                let first = n[0]
                var i = 0
                let last = hay.count - n.count
                while i <= last {
                    if hay[i] == first, memcmp(hay.baseAddress! + i, n.baseAddress!, n.count) == 0 { return i }
                    i += 1
                }
                return nil
            }
        }
        guard let offset = found else { return nil }
        var text = [UInt8]()
        text.reserveCapacity(entry.count - needle.count)
        text += entry[..<offset]
        text += entry[(offset + needle.count)...]
        return (text, offset)
    }

    /// The entry as it was sent; when the event is gone (pruned), a string saying so stands in.
    static func restore(_ text: [UInt8], offset: Int, event: [UInt8]?) -> [UInt8] {
        guard offset >= 0, offset <= text.count else { return text }
        var entry = [UInt8]()
        entry.reserveCapacity(text.count + (event?.count ?? 0) + 16)
        entry += text[..<offset]
        entry += event.map(quoted) ?? Array(#""(the event was pruned from the queue)""#.utf8)
        entry += text[offset...]
        return entry
    }

    /// The event's text as a JSON string, escaped exactly as the entry's writer escapes it.
    private static func quoted(_ event: [UInt8]) -> [UInt8] {
        JSONValue.string(String(decoding: event, as: UTF8.self)).serialized()
    }
}
