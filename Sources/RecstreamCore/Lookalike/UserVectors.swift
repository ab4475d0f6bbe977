/// The user embeddings the look-alike family reads: one vector of ``dimension`` floats per dense
/// user index (the instance's user interner), from a model identified by ``version``.
///
/// The embedding job publishes these; the look-alike core depends only on this protocol, so tests
/// and the evaluation build their own (``DenseUserVectors``).
///
/// - Important: Vectors of one version live in one space. The summary job records the version it
///   read; when a new version is published, every summary must be rebuilt
///   (``SeedLists/markAllForSummary()``).
public protocol UserVectors: Sendable {
    /// d, the length of every vector.
    var dimension: Int { get }
    /// The model version the vectors come from.
    var version: UInt64 { get }
    /// One more than the largest user index that may have a vector: the range a brute-force
    /// audience expansion scans.
    var userCount: Int { get }
    /// The vector of `user` (``dimension`` floats), or nil when the model has none for it.
    func vector(user: Int32) -> [Float]?
    /// Writes the vector of `user` into `buffer` (replacing its contents, keeping its capacity);
    /// false, leaving `buffer` unspecified, when there is none. The default calls
    /// ``vector(user:)``; stores with contiguous storage override it to copy without allocating.
    func copyVector(user: Int32, into buffer: inout [Float]) -> Bool
}

extension UserVectors {
    public func copyVector(user: Int32, into buffer: inout [Float]) -> Bool {
        guard let v = vector(user: user), v.count == dimension else { return false }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: v)
        return true
    }
}

/// User vectors in one contiguous row-major matrix: the store tests, the evaluation and the
/// benchmark build, and a simple adapter for an embedding job's output. Memory: 4·d bytes per user
/// slot plus one byte for its presence.
public struct DenseUserVectors: UserVectors, Sendable {
    public let dimension: Int
    public var version: UInt64
    public private(set) var values: [Float]
    private var present: [Bool]

    /// `userCount` empty slots of `dimension` floats.
    public init(dimension: Int, version: UInt64, userCount: Int = 0) {
        precondition(dimension >= 1 && dimension <= 65_536, "dimension \(dimension) is not in 1...65536")
        precondition(userCount >= 0, "negative userCount \(userCount)")
        self.dimension = dimension
        self.version = version
        values = [Float](repeating: 0, count: userCount * dimension)
        present = [Bool](repeating: false, count: userCount)
    }

    public var userCount: Int { present.count }

    /// Sets the vector of `user`, growing the matrix as needed.
    /// - Important: Traps when `vector` does not have ``dimension`` values or `user` is negative.
    public mutating func set(user: Int32, _ vector: [Float]) {
        precondition(vector.count == dimension, "vector of \(vector.count) values for dimension \(dimension)")
        precondition(user >= 0, "negative user index \(user)")
        let u = Int(user)
        if u >= present.count {
            let grown = max(u + 1, present.count + present.count / 2)
            values.append(contentsOf: repeatElement(0, count: (grown - present.count) * dimension))
            present.append(contentsOf: repeatElement(false, count: grown - present.count))
        }
        for j in 0..<dimension { values[u * dimension + j] = vector[j] }
        present[u] = true
    }

    /// Removes the vector of `user`.
    public mutating func remove(user: Int32) {
        guard user >= 0, Int(user) < present.count else { return }
        present[Int(user)] = false
    }

    public func hasVector(user: Int32) -> Bool { user >= 0 && Int(user) < present.count && present[Int(user)] }

    public func vector(user: Int32) -> [Float]? {
        guard hasVector(user: user) else { return nil }
        let start = Int(user) * dimension
        return Array(values[start..<(start + dimension)])
    }

    public func copyVector(user: Int32, into buffer: inout [Float]) -> Bool {
        guard hasVector(user: user) else { return false }
        let start = Int(user) * dimension
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: values[start..<(start + dimension)])
        return true
    }
}
