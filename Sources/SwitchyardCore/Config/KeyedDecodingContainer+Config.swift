extension KeyedDecodingContainer {
    /// Decodes a section; a problem inside it is recorded and the section falls back to defaults, so
    /// that problems in later sections are still found.
    func decodeCollecting<T: Decodable>(_ type: T.Type, forKey key: Key, decoder: any Decoder) throws -> T? {
        guard let sink = decoder.configDecoder, let root = decoder.configNode else {
            return try decodeIfPresent(type, forKey: key)
        }
        do {
            return try decodeIfPresent(type, forKey: key)
        } catch {
            sink.report(error, root: root)
            return nil
        }
    }

    /// Decodes a list element by element, keeping the good ones and recording every bad one.
    public func decodeEach<T: Decodable>(_ type: T.Type, forKey key: Key, decoder: any Decoder) throws -> [T] {
        guard contains(key), try !decodeNil(forKey: key) else { return [] }
        var list = try nestedUnkeyedContainer(forKey: key)
        var out: [T] = []
        while !list.isAtEnd {
            let element = try list.superDecoder()
            do {
                out.append(try T(from: element))
            } catch {
                guard let sink = decoder.configDecoder, let root = decoder.configNode else { throw error }
                sink.report(error, root: root)
            }
        }
        return out
    }

    /// Decodes a string enum with a message that lists the choices.
    public func decodeEnum<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key) throws -> T? where T.RawValue == String {
        guard let raw = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: raw) else {
            let choices = T.allCases.map(\.rawValue)
            let decoder = try superDecoder(forKey: key)
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message:
                    "\"\(raw)\" is not a valid \(key.stringValue)\(didYouMean(raw, choices)); expected one of \(choices.joined(separator: ", "))"
            )
        }
        return value
    }
}
