import GRDB
import GRDBSQLite
import SwitchyardCore

/// Binds one row's values straight into a prepared statement and steps it (or reads the rows a
/// query returns). On the writer's hot path (every event, job and log record) GRDB's
/// `StatementArguments` boxed each value in an existential array and cost as much as SQLite
/// itself; this is the same statement without that.
struct RowWriter {
    private let statement: Statement
    private var position: Int32 = 0

    init(_ statement: Statement) {
        self.statement = statement
        sqlite3_reset(statement.sqliteStatement)
        sqlite3_clear_bindings(statement.sqliteStatement)
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    /// A pointer for empty text and blobs: SQLite reads a null pointer as NULL, not as "".
    nonisolated(unsafe) private static let empty: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        p.pointee = 0
        return p
    }()

    private mutating func next() -> Int32 {
        position += 1
        return position
    }

    mutating func bind(_ value: Int64?) {
        let n = next()
        if let value { sqlite3_bind_int64(statement.sqliteStatement, n, value) } else { sqlite3_bind_null(statement.sqliteStatement, n) }
    }

    mutating func bindNull() {
        sqlite3_bind_null(statement.sqliteStatement, next())
    }

    mutating func bind(_ value: Int?) {
        bind(value.map(Int64.init))
    }

    mutating func bind(_ value: String?) {
        let n = next()
        guard var value else {
            sqlite3_bind_null(statement.sqliteStatement, n)
            return
        }
        value.withUTF8 { utf8 in
            _ = sqlite3_bind_text(
                statement.sqliteStatement,
                n,
                utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? UnsafePointer(Self.empty),
                Int32(utf8.count),
                Self.transient
            )
        }
    }

    /// Binds UTF-8 text given as bytes (JSON already serialized elsewhere).
    mutating func bindText(_ bytes: [UInt8]) {
        let n = next()
        bytes.withUnsafeBytes { raw in
            _ = sqlite3_bind_text(
                statement.sqliteStatement,
                n,
                raw.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) } ?? UnsafePointer(Self.empty),
                Int32(raw.count),
                Self.transient
            )
        }
    }

    mutating func bindBlob(_ bytes: [UInt8]) {
        let n = next()
        bytes.withUnsafeBytes { raw in
            _ = sqlite3_bind_blob(
                statement.sqliteStatement,
                n,
                raw.baseAddress ?? UnsafeRawPointer(Self.empty),
                Int32(raw.count),
                Self.transient
            )
        }
    }

    /// Runs a query, handing each result row to `body` while it is current (no row is copied).
    func rows(_ db: Database, _ body: (ColumnReader) throws -> Void) throws {
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                    sql: statement.sql
                )
            }
            try body(ColumnReader(handle: handle))
        }
    }

    /// Runs the statement; throws the database's own error (a full disk stays `SQLITE_FULL`).
    func step(_ db: Database) throws {
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(statement.sqliteStatement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
        sqlite3_reset(statement.sqliteStatement)
    }
}

/// The current row of a stepped statement, read column by column without GRDB's `Row` boxing.
struct ColumnReader {
    let handle: SQLiteStatement

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(handle, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
    }

    /// Nil for NULL; a blob of no bytes is `[]`.
    func optionalBytes(_ column: Int32) -> [UInt8]? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : bytes(column)
    }

    func bytes(_ column: Int32) -> [UInt8] {
        guard let blob = sqlite3_column_blob(handle, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: blob, count: Int(sqlite3_column_bytes(handle, column))))
    }
}
