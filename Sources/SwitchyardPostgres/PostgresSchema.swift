import Logging
import PostgresNIO

/// The tables several nodes share. Migrations run at every start under an advisory lock, so
/// nodes starting at once apply each exactly once, and a node that finds them applied goes on.
enum PostgresSchema {
    /// Taken with `pg_advisory_lock` while migrating; any constant no other application uses.
    static let migrationLock: Int64 = 0x5357_5944_4d49_4752  // "SWYDMIGR"

    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1-queue-log-dead-letters",
            [
                """
                CREATE TABLE events (
                    -- The event is also the log's `received` record: ids are log positions (see PostgresJobStore.positions).
                    id bigint PRIMARY KEY,
                    message_id text NOT NULL,
                    source text NOT NULL,
                    type text NOT NULL,
                    name text,
                    user_id text,
                    anonymous_id text,
                    received_at bigint NOT NULL,
                    payload bytea NOT NULL,
                    node text NOT NULL
                )
                """,
                "CREATE INDEX events_message ON events (message_id)",
                // Retention finds events with no job left by age; events arrive in time order, so a
                // BRIN index (a few pages, next to nothing to keep up on insert) narrows the search.
                "CREATE INDEX events_received ON events USING brin (received_at)",
                """
                CREATE TABLE jobs (
                    id bigserial PRIMARY KEY,
                    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
                    destination text NOT NULL,
                    state text NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    -- pending/failed: when it may be tried; in_flight: when its lease runs out; blocked: never.
                    available_at bigint NOT NULL,
                    lease bigint,
                    lease_node text,
                    last_error text,
                    updated_at bigint NOT NULL,
                    ordering_key text,
                    rule text
                )
                """,
                // Claims walk only the jobs still to be delivered, whatever the history's size.
                "CREATE INDEX jobs_waiting ON jobs (destination, available_at, event_id) WHERE \(waiting)",
                "CREATE INDEX jobs_ordering ON jobs (destination, ordering_key, id) WHERE ordering_key IS NOT NULL AND \(waiting)",
                "CREATE INDEX jobs_event ON jobs (event_id)",
                "CREATE INDEX jobs_finished ON jobs (state, updated_at) WHERE state = 'succeeded' OR state = 'dead'",
                """
                CREATE TABLE delivery_log (
                    id bigint PRIMARY KEY,
                    at bigint NOT NULL,
                    kind text NOT NULL,
                    status text NOT NULL,
                    message_id text NOT NULL,
                    source text,
                    destination text,
                    rule text,
                    type text,
                    event text,
                    user_id text,
                    attempt integer,
                    batch_id text,
                    request_id text,
                    reference text,
                    error_code text,
                    error_message text,
                    http_status integer,
                    next_retry_at bigint,
                    size integer,
                    detail text,
                    detail_event integer,
                    event_id bigint,
                    node text
                )
                """,
                "CREATE INDEX delivery_log_event ON delivery_log (event_id)",
                "CREATE INDEX delivery_log_at ON delivery_log (at)",
                // Jobs still to be delivered, in shards so that concurrent commits rarely wait on one row.
                "CREATE TABLE queue_depth (shard integer PRIMARY KEY, jobs bigint NOT NULL)",
                "INSERT INTO queue_depth SELECT g, 0 FROM generate_series(0, \(depthShards - 1)) g",
                // When each destination's heartbeat was last stored, by any node (see appendHeartbeat).
                "CREATE TABLE heartbeats (destination text PRIMARY KEY, stored_at bigint NOT NULL)",
            ]
        ),
        (
            "v2-dedup",
            [
                // A source's message id, until when it makes a later copy a duplicate, and when
                // the event that set it arrived (`DedupRule`); the unique key decides between
                // nodes committing the same id at once.
                """
                CREATE TABLE dedup (
                    source text NOT NULL,
                    message_id text NOT NULL,
                    until bigint NOT NULL,
                    marked_at bigint NOT NULL,
                    PRIMARY KEY (source, message_id)
                )
                """,
                "CREATE INDEX dedup_until ON dedup (until)",
            ]
        ),
        (
            "v3-regulations",
            [
                // Regulations' records (no subject in them); a deletion is run by the node that
                // holds its lease. The suppression list's version is the number of rows here.
                """
                CREATE TABLE regulations (
                    seq bigserial PRIMARY KEY,
                    id text NOT NULL UNIQUE,
                    type text NOT NULL,
                    subject_type text NOT NULL,
                    subject_count integer NOT NULL,
                    status text NOT NULL,
                    created_at bigint NOT NULL,
                    finished_at bigint,
                    removed text,
                    lease_node text,
                    lease_until bigint
                )
                """,
                "CREATE TABLE suppressions (subject_type text NOT NULL, subject_digest text NOT NULL, PRIMARY KEY (subject_type, subject_digest))",
                // The subjects of deletions still running, dropped when they finish.
                """
                CREATE TABLE erasure_subjects (
                    regulation text NOT NULL, subject_type text NOT NULL, subject_id text NOT NULL,
                    PRIMARY KEY (regulation, subject_type, subject_id)
                )
                """,
            ]
        ),
        (
            "v4-job-outputs",
            // What a destination's transformations made of a job's event, kept for its retries.
            ["ALTER TABLE jobs ADD COLUMN output bytea"]
        ),
        (
            "v5-discovered-schemas",
            // One registry for every node: a document per event model, updated under its row lock.
            [
                """
                CREATE TABLE discovered_schemas (
                    source text NOT NULL,
                    type text NOT NULL,
                    name text NOT NULL,
                    last_seen bigint NOT NULL,
                    body text NOT NULL,
                    PRIMARY KEY (source, type, name)
                )
                """
            ]
        ),
        (
            "v6-archive",
            // The archiver's place, and which node writes the archive until when.
            [
                """
                CREATE TABLE archive_state (
                    id integer PRIMARY KEY CHECK (id = 1),
                    position bigint NOT NULL,
                    pending_through bigint,
                    holder text,
                    lease_until bigint
                )
                """,
                "INSERT INTO archive_state (id, position) VALUES (1, 0)",
            ]
        ),
        (
            "v7-replays",
            // Replays, one document each, with their state and lease apart: a cancel from any node
            // and the runner's progress never overwrite each other.
            [
                """
                CREATE TABLE replays (
                    seq bigserial PRIMARY KEY,
                    name text NOT NULL UNIQUE,
                    state text NOT NULL,
                    body text NOT NULL,
                    lease_node text,
                    lease_until bigint
                )
                """
            ]
        ),
        (
            "v8-stats",
            // Per-minute rollups, one row per minute, writer (a run of a node) and scope; every
            // node upserts its own rows, so none overwrites another's.
            [
                """
                CREATE TABLE stats (
                    minute bigint NOT NULL,
                    writer text NOT NULL,
                    scope text NOT NULL,
                    name text NOT NULL,
                    data text NOT NULL,
                    PRIMARY KEY (minute, writer, scope, name)
                )
                """
            ]
        ),
    ]

    static let depthShards = 16

    /// A job still to be delivered, word for word the partial indexes' condition.
    static let waiting = "state <> 'succeeded' AND state <> 'dead'"

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            _ = try await connection.run("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
            do {
                _ = try await connection.run(
                    "CREATE TABLE IF NOT EXISTS switchyard_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                    logger: logger
                )
                var applied = Set<String>()
                for name in try await connection.run("SELECT name FROM switchyard_migrations", logger: logger).decode(
                    String.self
                ) {
                    applied.insert(name)
                }
                for migration in migrations where !applied.contains(migration.name) {
                    try await connection.runTransaction(logger: logger) { tx in
                        for statement in migration.sql { _ = try await tx.run(PostgresQuery(unsafeSQL: statement), logger: logger) }
                        _ = try await tx.run("INSERT INTO switchyard_migrations (name) VALUES (\(migration.name))", logger: logger)
                    }
                    logger.info("database migrated", metadata: ["migration": "\(migration.name)"])
                }
            } catch {
                _ = try? await connection.run("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                throw error
            }
            _ = try await connection.run("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
        }
    }
}
