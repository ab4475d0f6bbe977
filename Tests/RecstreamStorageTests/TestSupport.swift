import Foundation
import RecstreamStorage

/// Runs `body` with the path of a fresh directory under the system temporary directory, removed
/// afterwards whatever happens.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("recstream-storage-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// The bytes of a string, for readable test keys.
func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

/// Every key and value of a prefix scan, copied out of the spans.
func collect(_ store: StateStore, prefix: [UInt8]) throws -> [([UInt8], [UInt8])] {
    var rows: [([UInt8], [UInt8])] = []
    try store.scan(prefix: prefix) { key, value in
        rows.append((copy(key), copy(value)))
        return true
    }
    return rows
}

/// Every key and value of a range scan, copied out of the spans.
func collect(_ store: StateStore, from: [UInt8], to: [UInt8]) throws -> [([UInt8], [UInt8])] {
    var rows: [([UInt8], [UInt8])] = []
    try store.scan(from: from, to: to) { key, value in
        rows.append((copy(key), copy(value)))
        return true
    }
    return rows
}

func copy(_ span: Span<UInt8>) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(span.count)
    for i in span.indices { out.append(span[i]) }
    return out
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return condition()
}

/// Deterministic bytes that do not compress (xorshift), so table files have a predictable size.
func incompressibleBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out.append(UInt8(truncatingIfNeeded: state))
    }
    return out
}
