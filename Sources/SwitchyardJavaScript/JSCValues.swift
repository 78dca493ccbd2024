import CJavaScriptCore

/// Small conversions between Swift and JSC's C types, so the engine code reads as intent.
enum JSC {
    /// A new JSString (caller releases); UTF-16 so embedded NULs survive.
    static func string(_ s: String) -> JSStringRef {
        let units = Array(s.utf16)
        return units.withUnsafeBufferPointer { JSStringCreateWithCharacters($0.baseAddress, $0.count) }
    }

    static func withString<R>(_ s: String, _ body: (JSStringRef) -> R) -> R {
        let js = string(s)
        defer { JSStringRelease(js) }
        return body(js)
    }

    static func swiftString(_ js: JSStringRef) -> String {
        let count = JSStringGetLength(js)
        guard count > 0, let chars = JSStringGetCharactersPtr(js) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: chars, count: count), as: UTF16.self)
    }

    /// `String(value)`, or a placeholder when converting throws.
    static func describe(_ ctx: JSContextRef, _ value: JSValueRef?) -> String {
        guard let value else { return "undefined" }
        var exception: JSValueRef?
        guard let js = JSValueToStringCopy(ctx, value, &exception) else { return "a value that cannot be shown" }
        defer { JSStringRelease(js) }
        return swiftString(js)
    }

    static func get(_ ctx: JSContextRef, _ object: JSObjectRef, _ name: String) -> JSValueRef? {
        withString(name) { JSObjectGetProperty(ctx, object, $0, nil) }
    }

    static func set(_ ctx: JSContextRef, _ object: JSObjectRef, _ name: String, _ value: JSValueRef) {
        withString(name) { JSObjectSetProperty(ctx, object, $0, value, JSPropertyAttributes(kJSPropertyAttributeNone), nil) }
    }

    static func object(_ ctx: JSContextRef, _ value: JSValueRef?) -> JSObjectRef? {
        guard let value, JSValueIsObject(ctx, value) else { return nil }
        return JSValueToObject(ctx, value, nil)
    }

    static func number(_ ctx: JSContextRef, _ value: JSValueRef?) -> Double? {
        guard let value, JSValueIsNumber(ctx, value) else { return nil }
        return JSValueToNumber(ctx, value, nil)
    }

    static func stringValue(_ ctx: JSContextRef, _ value: JSValueRef?) -> String? {
        guard let value, JSValueIsString(ctx, value) else { return nil }
        return describe(ctx, value)
    }

    /// Parses JSON bytes into a value; nil when they are not valid JSON.
    static func parseJSON(_ ctx: JSContextRef, _ bytes: [UInt8]) -> JSValueRef? {
        withString(String(decoding: bytes, as: UTF8.self)) { JSValueMakeFromJSONString(ctx, $0) }
    }

    /// Evaluates `code` as a classic script; returns the value or the thrown exception.
    static func evaluate(_ ctx: JSContextRef, _ code: String, url: String, line: Int) -> Result<JSValueRef?, JSThrown> {
        var exception: JSValueRef?
        let value = withString(code) { script in
            withString(url) { JSEvaluateScript(ctx, script, nil, $0, Int32(clamping: line), &exception) }
        }
        if let value { return .success(value) }
        return .failure(JSThrown(value: exception))
    }

    static func call(
        _ ctx: JSContextRef,
        _ function: JSObjectRef,
        this: JSObjectRef? = nil,
        _ args: [JSValueRef?]
    ) -> Result<JSValueRef?, JSThrown> {
        var exception: JSValueRef?
        let value = args.withUnsafeBufferPointer { JSObjectCallAsFunction(ctx, function, this, args.count, $0.baseAddress, &exception) }
        if let value, exception == nil { return .success(value) }
        return .failure(JSThrown(value: exception))
    }
}

/// A value thrown out of the engine (nil when JSC gave none, e.g. after termination).
/// Unchecked: it never leaves the worker thread whose engine made it.
struct JSThrown: Error, @unchecked Sendable {
    var value: JSValueRef?
}

/// Turns a JSC SyntaxError into a JavaScriptSourceError at the user's line and column.
enum SyntaxErrorLocator {
    /// `prefixLength` is the text our rewrite put before line 1 of the code.
    static func locate(_ ctx: JSContextRef, _ thrown: JSValueRef?, source: JavaScriptSource) -> JavaScriptSourceError {
        let message = JSC.describe(ctx, thrown)
        let lines = LineIndex(Array(source.code.utf8))
        var line = source.firstLine
        if let object = JSC.object(ctx, thrown), let l = JSC.number(ctx, JSC.get(ctx, object, "line")) { line = Int(l) }
        line = min(max(line, source.firstLine), source.firstLine + lines.lineCount - 1)
        let text = lines.line(line - source.firstLine + 1)
        return JavaScriptSourceError(
            name: source.name,
            origin: source.origin,
            line: line,
            column: column(in: text, message: message),
            message: message
        )
    }

    /// JSC names the offending token ("Unexpected token ';'") but gives no column: find that token on the line.
    static func column(in text: String, message: String) -> Int {
        let firstNonBlank =
            (text.utf16.firstIndex { $0 != 32 && $0 != 9 }.map { text.utf16.distance(from: text.utf16.startIndex, to: $0) } ?? 0) + 1
        if message.contains("Unexpected end of script") { return text.utf16.count + 1 }
        guard let open = message.firstIndex(of: "'") else { return firstNonBlank }
        let rest = message[message.index(after: open)...]
        guard let close = rest.firstIndex(of: "'"), close > rest.startIndex else { return firstNonBlank }
        let wanted = String(rest[..<close])
        let scanner = SourceScanner(text)
        let lineIndex = LineIndex(scanner.bytes)
        if let token = scanner.tokens().first(where: {
            scanner.text($0) == wanted || (wanted.count > 1 && scanner.text($0).hasPrefix(wanted))
        }) {
            return lineIndex.position(of: token.start).column
        }
        if let range = text.range(of: wanted) {
            return text.utf16.distance(
                from: text.utf16.startIndex,
                to: range.lowerBound.samePosition(in: text.utf16) ?? text.utf16.startIndex
            ) + 1
        }
        return firstNonBlank
    }
}
