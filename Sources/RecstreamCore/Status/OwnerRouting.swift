/// Split mode: where the owner of a key is, so a query for a key another instance owns reaches
/// it. Implemented by the runtime's ownership directory; `nil` answers mean "unknown" (answer
/// locally).
public protocol OwnerRouting: Sendable {
    /// This instance's advertised base URL, once known.
    var selfURL: String? { get }
    /// For each id, the base URL of the instance owning its partition of the item repartition
    /// topic (one snapshot of the directory for the whole batch).
    func ownersOfItems(_ itemIDs: [String]) -> [String?]
    /// The base URL of the instance owning the engagement stage (co-occurrence, histories, seeds,
    /// embeddings, look-alike).
    func ownerOfEngagementStage() -> String?
    /// Base URLs of every instance owning at least one partition of the events topic (user-keyed
    /// state: exposure filters), this one included when it does.
    func userStageOwners() -> [String]
    /// Whether every partition of the events topic is claimed by some instance (otherwise a
    /// fan-out would answer from part of the user-keyed state).
    func userStageComplete() -> Bool
    /// Partitions of the events topic (0 until known).
    func userPartitionCount() -> Int
    /// Every instance's claim, for `/v1/cluster`.
    func claims() -> [OwnershipClaim]
}

extension OwnerRouting {
    /// The base URL of the instance owning `itemID`'s partition of the item repartition topic.
    public func ownerOfItem(_ itemID: String) -> String? { ownersOfItems([itemID])[0] }
}

/// What one instance publishes about itself to the group's directory topic.
public struct OwnershipClaim: Sendable, Codable, Hashable {
    /// The instance's advertised base URL (also its identity in the directory).
    public var url: String
    /// Wall-clock milliseconds of the claim; claims older than the directory's freshness limit
    /// are ignored (the instance stopped or lost its partitions).
    public var atMillis: Int64
    /// Owned partitions by stage: `user` (events topic), `item` (item repartition topic),
    /// `engagement` (the engagement topic's partition 0).
    public var partitions: [String: [Int32]]

    /// `single` or `split` (absent in claims of older versions: split).
    public var mode: String?
    /// The instance's identity (host and state directory by default, `kafka.instance_id` when
    /// set): a restart of the same instance replaces its own claim instead of conflicting with it.
    public var instance: String?
    /// Wall-clock milliseconds when the instance started: when two instances conflict, the one
    /// that started later yields.
    public var startedAtMillis: Int64?

    public init(
        url: String, atMillis: Int64, partitions: [String: [Int32]], mode: String? = nil, instance: String? = nil,
        startedAtMillis: Int64? = nil
    ) {
        self.url = url
        self.atMillis = atMillis
        self.partitions = partitions
        self.mode = mode
        self.instance = instance
        self.startedAtMillis = startedAtMillis
    }

    /// The key a claim is known by in the directory.
    public var identity: String { instance ?? url }
}
