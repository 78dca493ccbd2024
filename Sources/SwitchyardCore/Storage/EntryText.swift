import Foundation

/// A destination entry's JSON exactly as it was sent, kept without the copy of the event it embeds.
///
/// An EventBridge entry carries the whole event again as its `Detail` string, so a delivery log
/// that stored entries whole would hold every event a second time (escaped, so larger): most of
/// the bytes written per delivery. Any store keeps `bytes` and `eventOffset` beside the event and
/// gives the entry back with `restored(event:)`. The cut is made by the delivery worker, off the
/// store's writer, since the event is already stored.
public struct EntryText: Sendable, Hashable {
    /// The entry, with the event's JSON string cut out when `eventOffset` is set.
    public var bytes: [UInt8]
    /// Where the event's JSON string was cut from, or nil when the entry did not contain it verbatim.
    public var eventOffset: Int?

    public init(bytes: [UInt8], eventOffset: Int?) {
        self.bytes = bytes
        self.eventOffset = eventOffset
    }

    /// The entry as sent, with `event`'s text cut out when the entry holds it verbatim.
    public init(entry: [UInt8], embedding event: [UInt8]) {
        if let cut = Self.remove(from: entry, event: event) {
            self.init(bytes: cut.text, eventOffset: cut.offset)
        } else {
            self.init(bytes: entry, eventOffset: nil)
        }
    }

    /// The entry as it was sent; when the event is gone (pruned), a string saying so stands in.
    public func restored(event: [UInt8]?) -> [UInt8] {
        guard let offset = eventOffset, offset >= 0, offset <= bytes.count else { return bytes }
        var entry = [UInt8]()
        entry.reserveCapacity(bytes.count + (event?.count ?? 0) + 16)
        entry += bytes[..<offset]
        entry += event.map(Self.quoted) ?? Array(#""(the event was pruned from the queue)""#.utf8)
        entry += bytes[offset...]
        return entry
    }

    /// The entry without the event's JSON string and the byte offset it was cut from, or nil
    /// when the entry does not contain the event verbatim.
    static func remove(from entry: [UInt8], event: [UInt8]) -> (text: [UInt8], offset: Int)? {
        let needle = quoted(event)
        guard needle.count > 2, needle.count <= entry.count else { return nil }
        // A first-byte check and memcmp: the standard library's `firstRange(of:)` is hundreds of
        // times slower here, and this runs on every delivered event.
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

    /// The event's text as a JSON string, escaped exactly as the entry's writer escapes it.
    private static func quoted(_ event: [UInt8]) -> [UInt8] {
        JSONValue.string(String(decoding: event, as: UTF8.self)).serialized()
    }
}
