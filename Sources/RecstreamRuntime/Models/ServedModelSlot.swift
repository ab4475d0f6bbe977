import RecstreamCore
import Synchronization

/// The embedding model an instance serves: what retrieval, the embedding routes and the
/// look-alike scorer read. Publishing and rollback swap it in one step, so a reader sees either
/// the previous model or the new one, never a mix; nil until the first model is loaded.
public final class ServedModelSlot: Sendable {
    private let slot = Mutex<ServedModel?>(nil)

    public init() {}

    /// The model served now, or nil before any model exists.
    public func load() -> ServedModel? { slot.withLock { $0 } }

    /// Serves `model` from now on (nil stops serving).
    public func install(_ model: ServedModel?) { slot.withLock { $0 = model } }
}

/// One published model with the item index built for it. Ids are the instance's dense indices
/// (the interners of ``InstanceState``), so the engagement log, the model and the seed lists
/// agree on what index 17 means.
public struct ServedModel: Sendable {
    public let model: EmbeddingModel
    /// Nearest-neighbour retrieval over the model's item vectors.
    public let retriever: EmbeddingRetriever

    public init(model: EmbeddingModel, retriever: EmbeddingRetriever) {
        self.model = model
        self.retriever = retriever
    }

    public var version: EmbeddingModelVersion { model.metadata.version }
}
