import Metrics

extension PipelineMetrics {
    /// A batch written to the archive: its events (those its pattern kept), files and bytes.
    public func archived(events: Int, files: Int, bytes: Int) {
        counter("switchyard_archive_events_total", []).increment(by: events)
        counter("switchyard_archive_files_total", []).increment(by: files)
        counter("switchyard_archive_bytes_total", []).increment(by: bytes)
    }

    /// A round of archiving that failed (the store or the bucket); it is tried again.
    public func archiveFailed() {
        counter("switchyard_archive_failures_total", []).increment()
    }

    /// How long ago the oldest stored event not yet in the archive was received; 0 when none is.
    public func archiveLag(seconds: Double) {
        Gauge(label: "switchyard_archive_lag_seconds", dimensions: [], factory: factory).record(seconds)
    }

    /// Events a replay stored again (each with its jobs), by replay.
    public func replayed(replay: String, events: Int) {
        counter("switchyard_replay_events_total", [("replay", replay)]).increment(by: events)
    }

    /// Archive files a replay has still to read.
    public func replayFilesRemaining(replay: String, files: Int) {
        Gauge(label: "switchyard_replay_files_remaining", dimensions: [("replay", replay)], factory: factory).record(files)
    }
}
