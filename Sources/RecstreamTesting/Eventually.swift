/// Thrown by `eventually` when the condition did not hold in time.
public struct EventuallyTimedOut: Error, CustomStringConvertible {
    /// What was awaited.
    public var what: String
    /// How long it was awaited.
    public var limit: Duration

    public var description: String { "condition not met within \(limit): \(what)" }
}

/// Re-evaluates `condition` every `interval` until it holds; the one way tests wait for something
/// that has no progress to watch (a group join, a claim to arrive).
///
/// - Throws: `EventuallyTimedOut` after `limit`, or whatever `condition` throws.
public func eventually(
    within limit: Duration = .seconds(10),
    every interval: Duration = .milliseconds(20),
    _ what: @autoclosure () -> String = "",
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw EventuallyTimedOut(what: what(), limit: limit) }
        try await Task.sleep(for: interval)
    }
}

/// What one look at a progressing wait saw: done, or not yet, with how far it got.
public enum WaitState: Sendable {
    case done
    /// Not done; the counters (records consumed, offsets committed, partitions owned...) are
    /// compared with the previous look's: any change is progress.
    case waiting([Int])
}

/// Thrown by `eventually(progress:)` when its progress measure stood still for the stall window.
public struct EventuallyStalled: Error, CustomStringConvertible {
    /// What was awaited.
    public var what: String
    /// How long the measure stood still.
    public var stall: Duration
    /// The measure it stood still at.
    public var mark: String

    public var description: String { "no progress for \(stall) (stuck at \(mark)): \(what)" }
}

/// Waits by progress instead of by a deadline: re-evaluates `check` every `interval` until it says
/// `.done`, and fails only when the mark it reports has not changed for `stall` (nothing moves:
/// stuck), or after the absolute `cap` (it moves but never arrives). A busy machine makes progress
/// slower, not absent, so a wait budgeted this way does not fail because the machine is loaded.
///
/// - Throws: `EventuallyStalled` after `stall` without a new mark, `EventuallyTimedOut` after
///   `cap`, or whatever `check` throws.
public func eventually(
    stall: Duration = .seconds(60),
    cap: Duration = .seconds(600),
    every interval: Duration = .milliseconds(50),
    _ what: @autoclosure () -> String = "",
    progress check: () async throws -> WaitState
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + cap
    var last: [Int]?
    var movedAt = clock.now
    while true {
        guard case .waiting(let mark) = try await check() else { return }
        let now = clock.now
        if mark != last {
            last = mark
            movedAt = now
        } else if now - movedAt >= stall {
            throw EventuallyStalled(what: what(), stall: stall, mark: "\(mark)")
        }
        if now >= deadline { throw EventuallyTimedOut(what: what(), limit: cap) }
        try await Task.sleep(for: interval)
    }
}
