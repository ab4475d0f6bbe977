import Foundation

/// A deliberate SIGKILL at a precise point, for the crash tests: set
/// `RECSTREAM_CRASH_AT=before-commit-write:N` or `after-commit-write:N` to kill the process at the
/// N-th commit that writes something, right before or right after its RocksDB write (before the
/// offsets go to the group); `during-model-write:N` (model file written, manifest not yet) or
/// `before-model-switch:N` (version directory in place, `CURRENT` not yet switched) to kill it in
/// the N-th model publish. Never set in production; a malformed value is ignored.
struct CrashPoint {
    enum Moment: String {
        case beforeCommitWrite = "before-commit-write"
        case afterCommitWrite = "after-commit-write"
        case duringModelWrite = "during-model-write"
        case beforeModelSwitch = "before-model-switch"
        /// Split mode: the commit's forwarded records are delivered, its changelog batch not yet sent.
        case afterForwardFlush = "after-forward-flush"
    }

    /// The crash point of this process's environment, read once.
    static let configured = fromEnvironment()

    let moment: Moment
    let commit: Int

    static func fromEnvironment() -> CrashPoint? {
        guard let value = ProcessInfo.processInfo.environment["RECSTREAM_CRASH_AT"] else { return nil }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let moment = Moment(rawValue: String(parts[0])), let n = Int(parts[1]), n > 0 else { return nil }
        return CrashPoint(moment: moment, commit: n)
    }

    /// Kills the process if this is the configured point, announcing it on stderr first
    /// (`crash point MOMENT:N reached`): the crash tests tell a planned kill from any other death,
    /// and from a point never reached, by that line.
    func reached(_ moment: Moment, commit: Int) {
        guard moment == self.moment, commit == self.commit else { return }
        FileHandle.standardError.write(Data("crash point \(moment.rawValue):\(commit) reached, raising SIGKILL\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
