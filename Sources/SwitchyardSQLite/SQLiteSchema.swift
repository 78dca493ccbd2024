import Foundation
import GRDB
import SwitchyardCore

/// The queue's tables, one migration per change, in the order they were made: a queue written by
/// any earlier version opens and is brought up to date. Migrations never change once released.
extension SQLiteJobStore {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        message_id TEXT NOT NULL,
                        source TEXT NOT NULL,
                        type TEXT NOT NULL,
                        name TEXT,
                        user_id TEXT,
                        anonymous_id TEXT,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL
                    );
                    CREATE INDEX events_message_id ON events(message_id);
                    CREATE TABLE jobs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                        destination TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        -- pending/failed: when it may be tried; in_flight: when its lease runs out.
                        -- last_error: the latest failure, kept after a later success so retries stay visible.
                        available_at INTEGER NOT NULL,
                        lease INTEGER,
                        last_error TEXT,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX jobs_due ON jobs(destination, state, available_at);
                    CREATE INDEX jobs_event ON jobs(event_id);
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """
            )
        }
        migrator.registerMigration("v2-delivery-log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        status TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        source TEXT,
                        destination TEXT,
                        type TEXT,
                        event TEXT,
                        user_id TEXT,
                        attempt INTEGER,
                        batch_id TEXT,
                        request_id TEXT,
                        reference TEXT,
                        error_code TEXT,
                        error_message TEXT,
                        http_status INTEGER,
                        next_retry_at INTEGER,
                        size INTEGER,
                        detail TEXT
                    );
                    CREATE INDEX delivery_log_message ON delivery_log(message_id);
                    CREATE INDEX delivery_log_at ON delivery_log(at);
                    CREATE INDEX jobs_dead ON jobs(state, updated_at) WHERE state = 'dead';
                    """
            )
        }
        migrator.registerMigration("v3-log-by-event") { db in
            // Records are found through their event's row (an append-only integer index) rather
            // than a second index on random message ids, which made every insert a random write.
            try db.execute(
                sql: """
                    ALTER TABLE delivery_log ADD COLUMN event_id INTEGER;
                    UPDATE delivery_log SET event_id = (SELECT MAX(id) FROM events WHERE events.message_id = delivery_log.message_id);
                    DROP INDEX delivery_log_message;
                    CREATE INDEX delivery_log_event ON delivery_log(event_id);
                    """
            )
        }
        migrator.registerMigration("v4-deferred-message-index") { db in
            // A B-tree index on random message ids, updated in every ingestion commit, dirtied one
            // page per event and halved ingestion. Message ids are now indexed in large batches
            // off the request path (`indexMessageIDs`); lookups scan the short unindexed tail.
            try db.execute(
                sql: """
                    DROP INDEX events_message_id;
                    CREATE TABLE message_index (event_id INTEGER PRIMARY KEY, message_id TEXT NOT NULL);
                    CREATE INDEX message_index_message ON message_index(message_id);
                    INSERT INTO message_index (event_id, message_id) SELECT id, message_id FROM events;
                    """
            )
        }
        migrator.registerMigration("v5-message-index-runs") { db in
            // One B-tree on random ids, even filled in batches, dirtied nearly every page per batch
            // once it outgrew the cache. The index is now a set of runs, each written in key order.
            try db.execute(
                sql: """
                    DROP TABLE message_index;
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
                    INSERT INTO message_runs (run, after, through, entries)
                        SELECT 1, 0, MAX(id), COUNT(*) FROM events HAVING COUNT(*) > 0;
                    INSERT INTO message_index (run, message_id, event_id)
                        SELECT 1, message_id, id FROM events ORDER BY message_id, id;
                    """
            )
        }
        migrator.registerMigration("v6-received-from-events") { db in
            // `received` records are now read from the events themselves, which share the log's
            // id sequence; older log records move past every existing event id to keep ids unique.
            try db.execute(
                sql: """
                    DELETE FROM delivery_log WHERE kind = 'received';
                    UPDATE delivery_log SET id = id + (SELECT MAX(
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('events', 'delivery_log')), 0),
                        COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT MAX(id) FROM delivery_log), 0)));
                    """
            )
        }
        migrator.registerMigration("v7-plain-rowids") { db in
            // AUTOINCREMENT rewrote sqlite_sequence on every insert (about a tenth of the writer's
            // time). Job ids may now be reused after pruning (a claim is proven by its random
            // lease, not by the id); the log's ids keep their high-water mark in `meta`.
            let counters =
                try db.tableExists("sqlite_sequence")
                ? Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('events', 'delivery_log')") ?? 0 : 0
            try noteLastLogID(max(counters, try nextLogID(db) - 1), db)
            try db.execute(
                sql: """
                    CREATE TABLE new_events (
                        id INTEGER PRIMARY KEY,
                        message_id TEXT NOT NULL,
                        source TEXT NOT NULL,
                        type TEXT NOT NULL,
                        name TEXT,
                        user_id TEXT,
                        anonymous_id TEXT,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL
                    );
                    INSERT INTO new_events SELECT id, message_id, source, type, name, user_id, anonymous_id, received_at, payload FROM events;
                    DROP TABLE events;
                    ALTER TABLE new_events RENAME TO events;

                    CREATE TABLE new_jobs (
                        id INTEGER PRIMARY KEY,
                        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                        destination TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        available_at INTEGER NOT NULL,
                        lease INTEGER,
                        last_error TEXT,
                        updated_at INTEGER NOT NULL
                    );
                    INSERT INTO new_jobs SELECT id, event_id, destination, state, attempts, available_at, lease, last_error, updated_at FROM jobs;
                    DROP TABLE jobs;
                    ALTER TABLE new_jobs RENAME TO jobs;
                    CREATE INDEX jobs_due ON jobs(destination, state, available_at);
                    CREATE INDEX jobs_event ON jobs(event_id);
                    CREATE INDEX jobs_dead ON jobs(state, updated_at) WHERE state = 'dead';

                    CREATE TABLE new_delivery_log (
                        id INTEGER PRIMARY KEY,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        status TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        source TEXT,
                        destination TEXT,
                        type TEXT,
                        event TEXT,
                        user_id TEXT,
                        attempt INTEGER,
                        batch_id TEXT,
                        request_id TEXT,
                        reference TEXT,
                        error_code TEXT,
                        error_message TEXT,
                        http_status INTEGER,
                        next_retry_at INTEGER,
                        size INTEGER,
                        detail TEXT,
                        event_id INTEGER
                    );
                    INSERT INTO new_delivery_log SELECT \(recordColumns) FROM delivery_log;
                    DROP TABLE delivery_log;
                    ALTER TABLE new_delivery_log RENAME TO delivery_log;
                    CREATE INDEX delivery_log_at ON delivery_log(at);
                    CREATE INDEX delivery_log_event ON delivery_log(event_id);
                    """
            )
        }
        migrator.registerMigration("v8-waiting-index") { db in
            // Only jobs still to be delivered are indexed for claiming: a delivered job leaves the
            // index (one delete) instead of moving to a `succeeded` section of it (a delete and an
            // insert), a claim is one walk instead of one per state, and the queue's depth and
            // oldest event are read from this index alone.
            try db.execute(
                sql: """
                    DROP INDEX jobs_due;
                    CREATE INDEX jobs_waiting ON jobs(destination, available_at, event_id, state) WHERE \(waiting);
                    """
            )
        }
        migrator.registerMigration("v9-transformed-without-event") { db in
            // A transformed record may store its entry without the event it embeds (`EmbeddedEvent`);
            // this is where the event's text goes back. Older records keep the whole entry.
            try db.execute(sql: "ALTER TABLE delivery_log ADD COLUMN detail_event INTEGER")
        }
        migrator.registerMigration("v10-message-index-own-file") { db in
            // The message index moved to `messages.sqlite`, where the indexer rebuilds it from
            // `events` (about 2 s per million); lookups scan the events not yet indexed meanwhile.
            try db.execute(sql: "DROP TABLE message_index; DROP TABLE message_runs;")
        }
        migrator.registerMigration("v11-ordering-keys") { db in
            // Jobs of destinations that keep per-key order carry their key. Of a key's jobs still to
            // be delivered, only the oldest can be claimed; the rest wait `blocked` (never due) and
            // are let go one at a time. This index finds a key's jobs still to be delivered, by
            // state, oldest first; it holds nothing for destinations without ordering.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN ordering_key TEXT;
                    CREATE INDEX jobs_ordering ON jobs(destination, ordering_key, state, id) WHERE ordering_key IS NOT NULL AND \(waiting);
                    """
            )
        }
        migrator.registerMigration("v12-destination-rules") { db in
            // A destination with rules gets one job per rule an event matches; the job and its
            // log records name the rule.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN rule TEXT;
                    ALTER TABLE delivery_log ADD COLUMN rule TEXT;
                    """
            )
        }
        migrator.registerMigration("v13-dedup") { db in
            // A source's message id, and until when it makes a later copy a duplicate
            // (`DedupRule`). Keyed as probed; `until` grows with arrival, so its index appends.
            try db.execute(
                sql: """
                    CREATE TABLE dedup (
                        source TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        until INTEGER NOT NULL,
                        PRIMARY KEY (source, message_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX dedup_until ON dedup(until);
                    """
            )
        }
        migrator.registerMigration("v14-regulations") { db in
            // Regulations' records (no subject in them), the suppression list ingestion checks (ids'
            // SHA-256, not the ids),
            // and the subjects of deletions still running, dropped when they finish.
            try db.execute(
                sql: """
                    CREATE TABLE regulations (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        type TEXT NOT NULL,
                        subject_type TEXT NOT NULL,
                        subject_count INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        finished_at INTEGER,
                        removed TEXT
                    );
                    CREATE TABLE suppressions (
                        subject_type TEXT NOT NULL,
                        subject_digest TEXT NOT NULL,
                        PRIMARY KEY (subject_type, subject_digest)
                    ) WITHOUT ROWID;
                    CREATE TABLE erasure_subjects (
                        regulation TEXT NOT NULL,
                        subject_type TEXT NOT NULL,
                        subject_id TEXT NOT NULL,
                        PRIMARY KEY (regulation, subject_type, subject_id)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v15-job-outputs") { db in
            // What a destination's transformations made of a job's event, kept for its retries.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN output BLOB")
        }
        migrator.registerMigration("v16-discovered-schemas") { db in
            // The registry of discovered schemas: one document per event model (`DiscoveredSchema`),
            // with when it was last seen for evicting past the limit.
            try db.execute(
                sql: """
                    CREATE TABLE discovered_schemas (
                        source TEXT NOT NULL,
                        type TEXT NOT NULL,
                        name TEXT NOT NULL,
                        last_seen INTEGER NOT NULL,
                        body TEXT NOT NULL,
                        PRIMARY KEY (source, type, name)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v17-archive") { db in
            // The archiver's place: the last event written to the archive, and the end of the
            // batch being written (so a crash rewrites the same batch, not a wider one).
            try db.execute(
                sql: """
                    CREATE TABLE archive_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        position INTEGER NOT NULL,
                        pending_through INTEGER
                    );
                    """
            )
        }
        migrator.registerMigration("v18-replays") { db in
            // Replays: one document each (`Replay.json`), its state apart so a cancel and the
            // runner's progress never overwrite each other.
            try db.execute(
                sql: """
                    CREATE TABLE replays (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL UNIQUE,
                        state TEXT NOT NULL,
                        body TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v19-stats") { db in
            // Per-minute rollups, one row per minute, writer (a run of a node) and scope; `data`
            // is `StatsCounts.json`.
            try db.execute(
                sql: """
                    CREATE TABLE stats (
                        minute INTEGER NOT NULL,
                        writer TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        name TEXT NOT NULL,
                        data TEXT NOT NULL,
                        PRIMARY KEY (minute, writer, scope, name)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v20-marks-with-events") { db in
            // An event's dedup mark is stored on its row, and moves to the message index's sorted
            // runs with its id (`RecentMarks`). The `dedup` table's marks are moved there when the
            // queue opens (`moveDedupTable`), which then drops it.
            try db.execute(sql: "ALTER TABLE events ADD COLUMN dedup_until INTEGER")
        }
        return migrator
    }
}
