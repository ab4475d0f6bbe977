/// Why a training run cannot start.
public struct EmbeddingTrainingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "embedding training: \(message)" }
}

/// One training run, full refresh or incremental update, as a sequence of mini-batch steps:
///
///     var run = try EmbeddingTrainingRun.fullRefresh(...)   // or .incremental(...)
///     while let batch = run.nextBatch() {
///         let g = batch.gradient(examples: 0..<batch.exampleCount)   // pure; may be split over threads
///         run.apply([g], to: batch)
///     }
///     let model = run.finish()
///
/// ``EmbeddingTrainer`` runs exactly this loop on the calling thread; RecstreamTraining's parallel
/// trainer computes each batch's gradient on several threads over disjoint example ranges and
/// passes the parts, in range order, to ``apply(_:to:)``. Everything that draws random numbers
/// (shuffles, negatives) happens in ``nextBatch()``, on the caller's thread, so the run is
/// deterministic for a given seed and split; with one part it is bit-for-bit the single-thread run.
///
/// - Important: Call ``nextBatch()`` and ``apply(_:to:)`` alternately, with the batch just returned.
public struct EmbeddingTrainingRun: Sendable {
    public let kind: EmbeddingModelKind
    public let configuration: EmbeddingConfiguration
    /// The model being trained (a copy of the parent's tables, updated by every step).
    public private(set) var model: EmbeddingModel
    public let epochs: Int

    /// The positives, by table row, and their weights.
    private var exampleUserRows: [Int32] = []
    private var exampleItemRows: [Int32] = []
    private var exampleWeights: [Float] = []
    /// The visiting order of the current epoch.
    private var order: [Int32] = []

    /// Random negatives: a sampler over `samplerRows` (item rows) by count^exponent.
    private var sampler: AliasSampler? = nil
    private var samplerRows: [Int32] = []
    /// By item row: frequency among positives, probability as a random negative, trained or not.
    private var positiveProbability: [Double] = []
    private var randomProbability: [Double] = []
    private var itemTrainable: [Bool] = []

    private var random: Xoshiro256StarStar
    /// Pairs kept out of the positives (the publish gate evaluates on them).
    private var holdout: ValidationSplit? = nil

    /// Progress: the epoch being run, the next example of it, batches applied.
    public private(set) var epoch = 0
    public private(set) var position = 0
    public private(set) var batchesApplied = 0
    private var epochLoss = 0.0
    private var metrics = EmbeddingTrainingMetrics()
    private var pendingMetadata = EmbeddingModelMetadata()

    /// Slot assignment scratch, by table row.
    private var userSlotOf: [Int32] = []
    private var userStampOf: [UInt32] = []
    private var itemSlotOf: [Int32] = []
    private var itemStampOf: [UInt32] = []
    private var stamp: UInt32 = 0

    public var exampleCount: Int { exampleUserRows.count }
    /// Batches a whole run takes.
    public var totalBatches: Int {
        let b = configuration.batchSize
        return epochs * ((exampleCount + b - 1) / b)
    }
    public var isFinished: Bool { epoch >= epochs || exampleCount == 0 }

    private init(kind: EmbeddingModelKind, model: EmbeddingModel, configuration: EmbeddingConfiguration, seed: UInt64) {
        self.kind = kind
        self.model = model
        self.configuration = configuration
        epochs = kind == .full ? configuration.epochs : configuration.incrementalEpochs
        random = Xoshiro256StarStar(seed: seed)
    }

    // MARK: - Starting a run

    /// A full refresh: starts from `parent` (the previous *full* model, or nil for the first one),
    /// recounts every id over the engagements inside `window`, evicts ids unseen for the eviction
    /// window, gives ids at the threshold their own vector, and trains every vector over every
    /// distinct (user, item) positive in the window for ``EmbeddingConfiguration/epochs``.
    /// Publishes `(parent major + 1).0`. A pair `holdout` holds out is counted (thresholds,
    /// popularity, eviction) but is never a positive nor in a fallback list.
    ///
    /// Cost: O(engagements log engagements) to prepare (one sort of the pairs), then the epochs;
    /// memory: a heap copy of the parent (``EmbeddingModel/materialized()``) for the run's duration.
    /// - Throws: ``EmbeddingTrainingError`` when the configuration is invalid, the parent is an
    ///   incremental model or its dimension differs.
    public static func fullRefresh(
        parent: EmbeddingModel?, engagements: some Sequence<Engagement>, window: CooccurrenceWindow,
        configuration: EmbeddingConfiguration, logPosition: UInt64 = 0, holdout: ValidationSplit? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingTrainingRun {
        try check(configuration, parent: parent)
        if let parent, parent.metadata.kind != .full {
            throw EmbeddingTrainingError(
                "a full refresh starts from the previous full model, not from incremental \(parent.metadata.version)")
        }
        // A parent read in place is read-only: the run trains a heap copy of it.
        var model = parent?.materialized() ?? EmbeddingModel(configuration: configuration)
        model.configuration = configuration
        let version = EmbeddingModelVersion(major: (parent?.metadata.version.major ?? 0) + 1, minor: 0)
        var run = EmbeddingTrainingRun(
            kind: .full, model: model, configuration: configuration,
            seed: Self.runSeed(configuration.seed, version: version, kind: .full))
        run.holdout = holdout
        // The window is the truth: counts restart from it; times of earlier engagements stay for
        // eviction.
        for i in run.model.users.engagementCounts.indices { run.model.users.engagementCounts[i] = 0 }
        for i in run.model.items.engagementCounts.indices { run.model.items.engagementCounts[i] = 0 }
        run.model.coldUserItems = [:]
        var pairs: [(key: UInt64, weight: Float)] = []
        for e in engagements {
            run.metrics.engagementsRead += 1
            let w = configuration.weights[e.type]
            guard w > 0, window.contains(e.time) else { continue }
            run.record(e, weight: w, into: &pairs)
        }
        run.pendingMetadata.window = window
        run.pendingMetadata.trainedThrough = window.end
        run.prepare(pairs: pairs, end: window.end, trainsEveryItem: true)
        run.pendingMetadata.version = version
        run.pendingMetadata.kind = .full
        run.pendingMetadata.parent = parent?.metadata.version
        run.pendingMetadata.logPosition = logPosition
        return run
    }

    /// An incremental update: starts from `served` (the model being served, full or incremental),
    /// adds `engagements` (exactly those appended to the log since `served` was trained) to the
    /// counts, evicts ids unseen for the eviction window, gives ids at the threshold their own
    /// vector, and trains on the distinct (user, item) positives among them for
    /// ``EmbeddingConfiguration/incrementalEpochs``, updating the users and the items that are
    /// positives here (new or recently engaged) only: every other item is a frozen negative.
    /// Publishes `served.major.(served.minor + 1)`. A pair `holdout` holds out is counted but is
    /// never a positive nor in a fallback list.
    /// - Throws: ``EmbeddingTrainingError`` when the configuration is invalid or the dimension
    ///   differs from the served model's.
    public static func incremental(
        served: EmbeddingModel, engagements: some Sequence<Engagement>, configuration: EmbeddingConfiguration,
        logPosition: UInt64 = 0, holdout: ValidationSplit? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingTrainingRun {
        try check(configuration, parent: served)
        // The served model is usually read in place: the run trains a heap copy of it.
        var model = served.materialized()
        model.configuration = configuration
        let base = served.metadata.version
        let version = EmbeddingModelVersion(major: base.major, minor: base.minor + 1)
        var run = EmbeddingTrainingRun(
            kind: .incremental, model: model, configuration: configuration,
            seed: Self.runSeed(configuration.seed, version: version, kind: .incremental))
        run.holdout = holdout
        var pairs: [(key: UInt64, weight: Float)] = []
        var first = Int64.max
        var last = Int64.min
        for e in engagements {
            run.metrics.engagementsRead += 1
            let w = configuration.weights[e.type]
            guard w > 0 else { continue }
            precondition(e.user >= 0 && e.item >= 0, "negative index in \(e)")
            first = min(first, e.time.millis)
            last = max(last, e.time.millis)
            run.record(e, weight: w, into: &pairs)
        }
        let end = max(served.metadata.trainedThrough.millis, last)
        run.pendingMetadata.window =
            first <= last
            ? CooccurrenceWindow(end: EventTime(millis: last), lengthMillis: last - first + 1)
            : CooccurrenceWindow(end: served.metadata.trainedThrough, lengthMillis: 0)
        run.pendingMetadata.trainedThrough = EventTime(millis: end)
        run.prepare(pairs: pairs, end: EventTime(millis: end), trainsEveryItem: false)
        run.pendingMetadata.version = version
        run.pendingMetadata.kind = .incremental
        run.pendingMetadata.parent = base
        run.pendingMetadata.logPosition = logPosition
        return run
    }

    private static func check(_ configuration: EmbeddingConfiguration, parent: EmbeddingModel?)
        throws(EmbeddingTrainingError)
    {
        let problems = configuration.validate()
        guard problems.isEmpty else { throw EmbeddingTrainingError(problems.joined(separator: "; ")) }
        if let parent, parent.dimension != configuration.dimension {
            throw EmbeddingTrainingError(
                "dimension \(configuration.dimension) differs from the parent model's \(parent.dimension)")
        }
    }

    private static func runSeed(_ seed: UInt64, version: EmbeddingModelVersion, kind: EmbeddingModelKind) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(version.major) << 32 | UInt64(version.minor)) ^ UInt64(kind.rawValue))
    }

    private mutating func record(_ e: Engagement, weight: Double, into pairs: inout [(key: UInt64, weight: Float)]) {
        precondition(e.user >= 0 && e.item >= 0, "negative index in \(e)")
        metrics.engagementsUsed += 1
        model.users.count(e.user, at: e.time.millis)
        model.items.count(e.item, at: e.time.millis)
        if let holdout, holdout.holdsOut(user: e.user, item: e.item) { return }
        let w: Float = configuration.weighsEngagementTypes ? Float(weight) : 1
        pairs.append((UInt64(UInt32(bitPattern: e.user)) << 32 | UInt64(UInt32(bitPattern: e.item)), w))
    }

    /// Eviction, new rows, distinct positives, fallback lists, the sampler and the scratch arrays.
    private mutating func prepare(pairs unsorted: [(key: UInt64, weight: Float)], end: EventTime, trainsEveryItem: Bool) {
        let c = configuration
        let cutoff = end.millis - c.evictionWindowMillis
        let evictedUsers = model.users.evict(seenAtOrBefore: cutoff)
        let evictedItems = model.items.evict(seenAtOrBefore: cutoff)
        for u in evictedUsers { model.coldUserItems[u] = nil }
        metrics.evictedUsers = evictedUsers.count
        metrics.evictedItems = evictedItems.count

        let threshold = UInt32(c.minEngagements)
        for id in 0..<model.users.idLimit
        where model.users.engagementCounts[id] >= threshold && model.users.rowOf[id] < 0 {
            model.users.addRow(
                Int32(id), seed: c.seed, salt: 0x05E2, initialAccumulator: c.adagradInitialAccumulator)
            model.coldUserItems[Int32(id)] = nil
            metrics.newUsers += 1
        }
        for id in 0..<model.items.idLimit
        where model.items.engagementCounts[id] >= threshold && model.items.rowOf[id] < 0 {
            model.items.addRow(
                Int32(id), seed: c.seed, salt: 0x17E3, initialAccumulator: c.adagradInitialAccumulator)
            metrics.newItems += 1
        }

        // Distinct pairs, strongest weight; sorted by (user, item).
        let sorted = unsorted.sorted { $0.key != $1.key ? $0.key < $1.key : $0.weight > $1.weight }
        var positives = [UInt32](repeating: 0, count: model.items.vectorCount)
        var userTrained = [Bool](repeating: false, count: model.users.vectorCount)
        var previous = UInt64.max
        for p in sorted where p.key != previous {
            previous = p.key
            let user = Int32(bitPattern: UInt32(p.key >> 32))
            let item = Int32(bitPattern: UInt32(truncatingIfNeeded: p.key))
            let ur = model.users.row(user)
            let ir = model.items.row(item)
            if ur < 0 {
                // Below the threshold: remember the item for the fallback (at most threshold − 1).
                var list = model.coldUserItems[user] ?? []
                if list.count < c.minEngagements - 1 && !list.contains(item) {
                    list.append(item)
                    list.sort()
                    model.coldUserItems[user] = list
                }
                continue
            }
            guard ir >= 0 else { continue }
            exampleUserRows.append(Int32(ur))
            exampleItemRows.append(Int32(ir))
            exampleWeights.append(p.weight)
            positives[ir] += 1
            userTrained[ur] = true
        }
        metrics.examples = exampleUserRows.count
        metrics.epochs = exampleUserRows.isEmpty ? 0 : epochs
        metrics.trainedUsers = userTrained.reduce(0) { $0 + ($1 ? 1 : 0) }
        metrics.trainedItems = positives.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }

        let itemRows = model.items.vectorCount
        positiveProbability = [Double](repeating: 0, count: itemRows)
        let n = Double(max(exampleUserRows.count, 1))
        for r in 0..<itemRows { positiveProbability[r] = Double(positives[r]) / n }
        itemTrainable = trainsEveryItem ? [Bool](repeating: true, count: itemRows) : positives.map { $0 > 0 }

        // Random negatives by count^exponent over items with a vector and a count.
        randomProbability = [Double](repeating: 0, count: itemRows)
        var weights: [Double] = []
        for r in 0..<itemRows {
            let count = model.items.engagementCounts[Int(model.items.owners[r])]
            guard count > 0 else { continue }
            samplerRows.append(Int32(r))
            weights.append(
                c.samplingExponent == 0 ? 1 : PortableMath.exp(c.samplingExponent * PortableMath.log(Double(count))))
        }
        if !weights.isEmpty && c.randomNegatives > 0 {
            let s = AliasSampler(weights: weights)
            for (k, r) in samplerRows.enumerated() { randomProbability[Int(r)] = s.probabilities[k] }
            sampler = s
        }

        userSlotOf = [Int32](repeating: -1, count: model.users.vectorCount)
        userStampOf = [UInt32](repeating: 0, count: model.users.vectorCount)
        itemSlotOf = [Int32](repeating: -1, count: itemRows)
        itemStampOf = [UInt32](repeating: 0, count: itemRows)
        order = (0..<Int32(exampleUserRows.count)).map { $0 }
        if !order.isEmpty && epochs > 0 { shuffleOrder() }
    }

    /// Fisher–Yates with the run's generator.
    private mutating func shuffleOrder() {
        var i = order.count - 1
        while i > 0 {
            let j = Int(random.below(UInt64(i + 1)))
            order.swapAt(i, j)
            i -= 1
        }
    }

    // MARK: - Steps

    /// The next mini-batch (the next `batchSize` positives of the epoch's order, their items, and
    /// `randomNegatives` items drawn by popularity^0.75), or nil when the run is done.
    public mutating func nextBatch() -> EmbeddingBatch? {
        guard !isFinished else { return nil }
        let c = configuration
        let chunks = c.dimension / 8
        let range = position..<min(position + c.batchSize, exampleCount)
        stamp &+= 1
        if stamp == 0 {
            for i in userStampOf.indices { userStampOf[i] = 0 }
            for i in itemStampOf.indices { itemStampOf[i] = 0 }
            stamp = 1
        }
        var userRows: [Int32] = []
        var itemRows: [Int32] = []
        var multiplicity: [Float] = []
        var exampleUsers: [Int32] = []
        var examplePositives: [Int32] = []
        var weights: [Float] = []
        exampleUsers.reserveCapacity(range.count)
        examplePositives.reserveCapacity(range.count)
        weights.reserveCapacity(range.count)

        func itemSlot(_ row: Int) -> Int32 {
            if itemStampOf[row] != stamp {
                itemStampOf[row] = stamp
                itemSlotOf[row] = Int32(itemRows.count)
                itemRows.append(Int32(row))
                multiplicity.append(0)
            }
            return itemSlotOf[row]
        }

        for k in range {
            let e = Int(order[k])
            let ur = Int(exampleUserRows[e])
            if userStampOf[ur] != stamp {
                userStampOf[ur] = stamp
                userSlotOf[ur] = Int32(userRows.count)
                userRows.append(Int32(ur))
            }
            exampleUsers.append(userSlotOf[ur])
            let slot = itemSlot(Int(exampleItemRows[e]))
            multiplicity[Int(slot)] += 1
            examplePositives.append(slot)
            weights.append(exampleWeights[e])
        }
        var drawn = 0
        if let sampler {
            for _ in 0..<c.randomNegatives {
                let slot = itemSlot(Int(samplerRows[sampler.next(using: &random)]))
                multiplicity[Int(slot)] += 1
            }
            drawn = c.randomNegatives
        }

        var rawUsers: [SIMD8<Float>] = []
        rawUsers.reserveCapacity(userRows.count * chunks)
        for r in userRows { for k in 0..<chunks { rawUsers.append(model.users.vectors[Int(r) * chunks + k]) } }
        var rawItems: [SIMD8<Float>] = []
        rawItems.reserveCapacity(itemRows.count * chunks)
        var logQ = [Float](repeating: 0, count: itemRows.count)
        let b = Double(range.count)
        let rCount = Double(drawn)
        for (s, r) in itemRows.enumerated() {
            for k in 0..<chunks { rawItems.append(model.items.vectors[Int(r) * chunks + k]) }
            if c.logQCorrection {
                // Q_j: the expected number of columns holding j (B in-batch draws by positive
                // frequency, R random draws).
                let q = b * positiveProbability[Int(r)] + rCount * randomProbability[Int(r)]
                logQ[s] = Float(VectorMath.log(q))
            }
        }
        var batch = EmbeddingBatch(
            dimension: c.dimension, temperature: c.temperature, exampleUsers: exampleUsers,
            examplePositives: examplePositives, exampleWeights: weights, rawUsers: rawUsers, rawItems: rawItems,
            itemMultiplicity: multiplicity, itemLogQ: logQ)
        batch.userRows = userRows
        batch.itemRows = itemRows
        batch.itemTrainable = itemRows.map { itemTrainable[Int($0)] }
        position = range.upperBound
        return batch
    }

    /// Applies the gradient of `batch` (its parts, summed in order) with Adagrad to the users and
    /// the trainable items of the batch, and advances the epoch when the batch was its last.
    public mutating func apply(_ parts: [EmbeddingGradient], to batch: EmbeddingBatch) {
        let g = batch.rawGradient(parts)
        let c = configuration
        let chunks = c.dimension / 8
        for (slot, row) in batch.userRows.enumerated() {
            model.users.adagradStep(
                row: Int(row), gradient: g.users, offset: slot * chunks, learningRate: c.learningRate,
                epsilon: c.adagradEpsilon)
        }
        for (slot, row) in batch.itemRows.enumerated() where batch.itemTrainable[slot] {
            model.items.adagradStep(
                row: Int(row), gradient: g.items, offset: slot * chunks, learningRate: c.learningRate,
                epsilon: c.adagradEpsilon)
        }
        batchesApplied += 1
        epochLoss += g.loss
        if position >= exampleCount {
            let mean = epochLoss / Double(exampleCount)
            if epoch == 0 { metrics.firstEpochLoss = mean }
            metrics.lastEpochLoss = mean
            epochLoss = 0
            epoch += 1
            position = 0
            if epoch < epochs { shuffleOrder() }
        }
    }

    /// The trained model with its metadata.
    /// - Important: Traps unless every batch was applied.
    public func finish() -> EmbeddingModel {
        precondition(isFinished, "finish() before the run's last batch: epoch \(epoch) of \(epochs)")
        var out = model
        var metadata = pendingMetadata
        metadata.metrics = metrics
        metadata.metrics.batches = batchesApplied
        out.metadata = metadata
        return out
    }
}

/// Trains on the calling thread: the deterministic reference (same inputs and seed, same bytes).
public enum EmbeddingTrainer {
    /// Runs every step of `run` on the calling thread.
    public static func train(_ run: inout EmbeddingTrainingRun) {
        while let batch = run.nextBatch() {
            let g = batch.gradient(examples: 0..<batch.exampleCount)
            run.apply([g], to: batch)
        }
    }

    /// ``EmbeddingTrainingRun/fullRefresh(parent:engagements:window:configuration:logPosition:holdout:)``, trained.
    public static func fullRefresh(
        parent: EmbeddingModel?, engagements: some Sequence<Engagement>, window: CooccurrenceWindow,
        configuration: EmbeddingConfiguration, logPosition: UInt64 = 0, holdout: ValidationSplit? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingModel {
        var run = try EmbeddingTrainingRun.fullRefresh(
            parent: parent, engagements: engagements, window: window, configuration: configuration,
            logPosition: logPosition, holdout: holdout)
        train(&run)
        return run.finish()
    }

    /// ``EmbeddingTrainingRun/incremental(served:engagements:configuration:logPosition:holdout:)``, trained.
    public static func incremental(
        served: EmbeddingModel, engagements: some Sequence<Engagement>, configuration: EmbeddingConfiguration,
        logPosition: UInt64 = 0, holdout: ValidationSplit? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingModel {
        var run = try EmbeddingTrainingRun.incremental(
            served: served, engagements: engagements, configuration: configuration, logPosition: logPosition,
            holdout: holdout)
        train(&run)
        return run.finish()
    }
}
