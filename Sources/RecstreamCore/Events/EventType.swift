/// What a user did with an item. The raw value is the protobuf enum number minus one and the
/// index used by every per-type array in the core, so it is fixed across versions.
public enum EventType: UInt8, CaseIterable, Sendable, Hashable {
    case exposure = 0
    case click = 1
    case like = 2
    case collect = 3
    case share = 4
    case comment = 5

    /// The number of event types; per-type arrays have this many slots.
    public static let count = 6

    /// The wire name used in JSON events, the query API and metric labels.
    public var name: String {
        switch self {
        case .exposure: "exposure"
        case .click: "click"
        case .like: "like"
        case .collect: "collect"
        case .share: "share"
        case .comment: "comment"
        }
    }

    /// The type with the given wire name, or nil.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Engagements are every type but exposure.
    public var isEngagement: Bool { self != .exposure }

    /// Dense index for per-type arrays.
    @inline(__always) public var index: Int { Int(rawValue) }
}

extension EventType: Codable {
    /// Encoded by wire name, so JSON says "click", not 1.
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let type = EventType(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown event type \(name)"))
        }
        self = type
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}
