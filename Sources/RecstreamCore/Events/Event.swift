/// One event with owned ids: the form producers, generators and test references use.
/// The ingest hot path never builds these; it works on ``DecodedEvent`` views instead.
public struct Event: Hashable, Sendable, Codable {
    public var eventID: String
    public var type: EventType
    public var userID: String
    public var itemID: String
    public var time: EventTime
    /// Dwell time in milliseconds, when the producer sent one.
    public var dwellMillis: Int64?

    public init(
        eventID: String, type: EventType, userID: String, itemID: String, time: EventTime,
        dwellMillis: Int64? = nil
    ) {
        self.eventID = eventID
        self.type = type
        self.userID = userID
        self.itemID = itemID
        self.time = time
        self.dwellMillis = dwellMillis
    }

    private enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case type
        case userID = "user_id"
        case itemID = "item_id"
        case time = "ts"
        case dwellMillis = "dwell_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventID = try c.decode(String.self, forKey: .eventID)
        let typeName = try c.decode(String.self, forKey: .type)
        guard let type = EventType(name: typeName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "unknown event type \(typeName)")
        }
        self.type = type
        userID = try c.decode(String.self, forKey: .userID)
        itemID = try c.decode(String.self, forKey: .itemID)
        time = EventTime(millis: try c.decode(Int64.self, forKey: .time))
        dwellMillis = try c.decodeIfPresent(Int64.self, forKey: .dwellMillis)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eventID, forKey: .eventID)
        try c.encode(type.name, forKey: .type)
        try c.encode(userID, forKey: .userID)
        try c.encode(itemID, forKey: .itemID)
        try c.encode(time.millis, forKey: .time)
        try c.encodeIfPresent(dwellMillis, forKey: .dwellMillis)
    }
}
