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

    public init(url: String, atMillis: Int64, partitions: [String: [Int32]]) {
        self.url = url
        self.atMillis = atMillis
        self.partitions = partitions
    }
}
