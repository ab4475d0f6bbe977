/// Thrown by `eventually` when the condition did not hold in time.
public struct EventuallyTimedOut: Error, CustomStringConvertible {
    /// What was awaited.
    public var what: String
    /// How long it was awaited.
    public var limit: Duration

    public var description: String { "condition not met within \(limit): \(what)" }
}

/// Re-evaluates `condition` every `interval` until it holds; the one way tests wait.
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
