import Foundation
import Synchronization

/// Deliberate failures at precise points, for the failure-path tests only: set
/// `RECSTREAM_FAULT=changelog-send:N,forward-send:M,storage-write:K` to make the N-th non-empty changelog
/// batch send, the M-th forward or the K-th storage write fail once, as a refused send or a failed
/// write would; `point:N*R` makes R consecutive calls fail from the N-th on (a stuck commit). Never set in production; a malformed value is ignored. Each injected failure
/// is announced on standard error (`recstream: injected fault <point> #<n>`), so a test can tell
/// that it fired.
final class FaultInjection: Sendable {
    enum Point: String, Sendable, CaseIterable {
        case changelogSend = "changelog-send"
        case forwardSend = "forward-send"
        case storageWrite = "storage-write"
    }

    struct Injected: Error, CustomStringConvertible {
        var point: Point
        var description: String { "injected fault at \(point.rawValue)" }
    }

    /// The faults of this process's environment, read once; nil when none are set.
    static let configured = FaultInjection(environment: ProcessInfo.processInfo.environment["RECSTREAM_FAULT"])

    private let targets: [Point: (first: Int, count: Int)]
    private let calls = Mutex<[Point: Int]>([:])

    init?(environment value: String?) {
        guard let value else { return nil }
        var targets: [Point: (first: Int, count: Int)] = [:]
        for part in value.split(separator: ",") {
            let fields = part.split(separator: ":")
            guard fields.count == 2, let point = Point(rawValue: String(fields[0])) else { continue }
            let range = fields[1].split(separator: "*")
            guard let n = Int(range[0]), n > 0 else { continue }
            let count = range.count == 2 ? Int(range[1]) ?? 1 : 1
            targets[point] = (n, max(count, 1))
        }
        guard !targets.isEmpty else { return nil }
        self.targets = targets
    }

    /// Throws at the configured calls of `point`.
    func fail(_ point: Point) throws {
        guard let target = targets[point] else { return }
        let n = calls.withLock { counts -> Int in
            counts[point, default: 0] += 1
            return counts[point]!
        }
        guard n >= target.first && n < target.first + target.count else { return }
        FileHandle.standardError.write(Data("recstream: injected fault \(point.rawValue) #\(n)\n".utf8))
        throw Injected(point: point)
    }
}
