/// A published model ready to serve: the model, the IVF index over its item vectors and the
/// popularity order for users with no vector.
///
/// Build cost: for a model read in place from a format-2 file, none (the index and the order are
/// stored in the file and read in place); otherwise the index's (see ``IVFIndex``) plus a sort of
/// the items. Immutable and `Sendable`: queries from any number of threads.
public struct EmbeddingRetriever: Sendable {
    public let model: EmbeddingModel
    public let index: IVFIndex
    /// Items with a vector, most engaged first (ties by id).
    let popular: PopularItems

    enum PopularItems: Sendable {
        case heap([Int32])
        case mapped(MappedItemIndex, count: Int)

        var count: Int {
            switch self {
            case .heap(let items): items.count
            case .mapped(_, let count): count
            }
        }

        subscript(k: Int) -> Int32 {
            switch self {
            case .heap(let items): items[k]
            case .mapped(let m, _): m.popular(k)
            }
        }
    }

    public init(model: EmbeddingModel) {
        self.model = model
        if let stored = model.mapped?.index {
            index = IVFIndex(stored: stored, dimension: model.dimension, configuration: model.configuration)
            popular = .mapped(stored, count: model.items.vectorCount)
        } else {
            index = IVFIndex(items: model.items, configuration: model.configuration)
            popular = .heap(Self.popularityOrder(model.items))
        }
    }

    /// Bytes held in the heap by the model, the index and the popularity order: for a model read
    /// in place, only the index's centroids and list starts (O(√items)).
    public var approximateBytes: Int {
        let order: Int
        switch popular {
        case .heap(let items): order = items.count * 4
        case .mapped: order = 0
        }
        return model.approximateBytes + index.approximateBytes + order
    }

    /// Items with a vector, most engaged first, ties by smaller id.
    static func popularityOrder(_ items: EmbeddingTable) -> [Int32] {
        items.idsWithVectors.sorted { a, b in
            let ca = items.engagements(a)
            let cb = items.engagements(b)
            return ca != cb ? ca > cb : a < b
        }
    }

    /// The answer to a retrieval: items best first, and where the query vector came from.
    public struct Retrieval: Sendable {
        /// Items and their cosine with the query vector (for ``EmbeddingQuerySource/popularity``,
        /// the score is the item's engagement count).
        public var items: [ScoredItem]
        public var source: EmbeddingQuerySource
    }

    /// The top `k` items for `user`, skipping those `excluded` says (for example the ones the
    /// exposure filter says were shown): by the user's own vector, else the mean of its engaged
    /// items' vectors, else by popularity. `probes` overrides the configured nprobe; `exact` scans
    /// every item.
    public func retrieve(
        user: Int32, k: Int, excluding excluded: (Int32) -> Bool = { _ in false }, probes: Int? = nil,
        exact: Bool = false
    ) -> Retrieval {
        guard k > 0 else { return Retrieval(items: [], source: .popularity) }
        guard let query = model.queryVector(user: user) else {
            var out: [ScoredItem] = []
            for rank in 0..<popular.count {
                let item = popular[rank]
                guard !excluded(item) else { continue }
                out.append((item, Double(model.items.engagements(item))))
                if out.count == k { break }
            }
            return Retrieval(items: out, source: .popularity)
        }
        let items =
            exact
            ? index.bruteForce(query.vector, k: k, excluding: excluded)
            : index.search(query.vector, k: k, probes: probes, excluding: excluded)
        return Retrieval(items: items, source: query.source)
    }
}
