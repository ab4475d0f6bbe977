/// The user side of a published ``EmbeddingModel`` seen as look-alike ``UserVectors``: the model's
/// user indices are the instance's dense user indices (the interner of ``InstanceState``), the same
/// ones the seed lists hold, so no mapping is needed. Only users with their own vector have one
/// (the model's cold-user fallback is a retrieval query, not a user embedding).
///
/// Holding one costs one reference count: the model's tables (in the heap or read in place from
/// the model file) are shared, not copied.
public struct EmbeddingUserVectors: UserVectors, Sendable {
    public let model: EmbeddingModel

    public init(_ model: EmbeddingModel) { self.model = model }

    public var dimension: Int { model.dimension }

    /// ``EmbeddingModelVersion`` packed as major · 2³² + minor, so versions order as the model's do.
    public var version: UInt64 { Self.packedVersion(model.metadata.version) }

    public var userCount: Int { model.users.idLimit }

    public func vector(user: Int32) -> [Float]? { model.users.vector(user) }

    public func copyVector(user: Int32, into buffer: inout [Float]) -> Bool {
        model.users.copyVector(user, into: &buffer)
    }

    /// major · 2³² + minor.
    public static func packedVersion(_ version: EmbeddingModelVersion) -> UInt64 {
        UInt64(version.major) << 32 | UInt64(version.minor)
    }
}

extension EmbeddingModel {
    /// A model whose user table holds exactly `vectors` (no items), with version `version`: for
    /// tests, tools and benchmarks that need served user vectors without training.
    /// - Important: Traps when `vectors.dimension` is not a positive multiple of 8.
    public static func withUserVectors(_ vectors: DenseUserVectors, version: EmbeddingModelVersion) -> EmbeddingModel {
        var configuration = EmbeddingConfiguration()
        configuration.dimension = vectors.dimension
        var model = EmbeddingModel(configuration: configuration)
        model.metadata.version = version
        var buffer: [Float] = []
        for user in 0..<Int32(clamping: vectors.userCount) where vectors.copyVector(user: user, into: &buffer) {
            model.users.addRow(user, seed: 0, salt: 0, initialAccumulator: 0)
            model.users.setVector(user, buffer)
        }
        return model
    }
}
