import GRDB

/// The message index's own file (`messages.sqlite`): its tables, one migration per change, as
/// for the queue's. It starts empty and fills from the queue's events (`indexMessageIDs`).
extension SQLiteJobStore {
    static var messageIndexMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-runs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE message_runs (
                        run INTEGER PRIMARY KEY,
                        -- The run holds the ids of events after < id <= through.
                        after INTEGER NOT NULL,
                        through INTEGER NOT NULL,
                        entries INTEGER NOT NULL
                    );
                    CREATE TABLE message_index (
                        run INTEGER NOT NULL,
                        message_id TEXT NOT NULL,
                        event_id INTEGER NOT NULL,
                        PRIMARY KEY (run, message_id, event_id)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v2-dedup-marks") { db in
            // An entry of an event with a dedup mark keeps its source and the mark's end, and stays
            // past its event until then; a run keeps the latest end of its marks.
            try db.execute(
                sql: """
                    ALTER TABLE message_index ADD COLUMN source TEXT;
                    ALTER TABLE message_index ADD COLUMN until INTEGER;
                    ALTER TABLE message_runs ADD COLUMN until INTEGER;
                    """
            )
        }
        return migrator
    }
}
