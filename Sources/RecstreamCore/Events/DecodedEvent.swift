/// How a record's value is encoded, chosen by its `content-type` header.
public enum PayloadFormat: Sendable, Hashable {
    /// `application/json` or no content-type header: the default.
    case json
    /// `application/x-protobuf`: a serialized `recstream.v1.Event` (Schemas/events.proto).
    case protobuf

    /// The format named by a content-type header value; nil for one recstream does not read.
    /// Parameters after `;` are ignored, and the comparison ignores ASCII case.
    public init?(contentType: some StringProtocol) {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        switch mediaType.trimmingASCIISpaces().lowercased() {
        case "application/json", "": self = .json
        case "application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf": self = .protobuf
        default: return nil
        }
    }
}

extension PayloadFormat {
    private static let protobufBytes = Array("application/x-protobuf".utf8)
    private static let jsonBytes = Array("application/json".utf8)

    /// The format named by a content-type header given as bytes. The two exact spellings
    /// recstream documents are matched without allocating; anything else goes through
    /// ``init(contentType:)``.
    public init?(contentTypeBytes bytes: Span<UInt8>) {
        if Self.equal(bytes, Self.protobufBytes) {
            self = .protobuf
        } else if Self.equal(bytes, Self.jsonBytes) {
            self = .json
        } else {
            var text: [UInt8] = []
            for i in bytes.indices { text.append(bytes[i]) }
            self.init(contentType: String(decoding: text, as: UTF8.self))
        }
    }

    @inline(__always) private static func equal(_ a: Span<UInt8>, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<b.count where a[i] != b[i] { return false }
        return true
    }
}

extension StringProtocol {
    fileprivate func trimmingASCIISpaces() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// A validated event whose ids are byte ranges into ``EventDecoder/idBytes`` of the decoder that
/// produced it. It is valid until that decoder decodes the next record. Nothing on the path that
/// produces it allocates.
public struct DecodedEvent: Sendable, Hashable {
    public var type: EventType
    public var time: EventTime
    /// Dwell time in milliseconds when present.
    public var dwellMillis: Int64?
    /// Range of the (unescaped, UTF-8) event id in the decoder's `idBytes`.
    public var eventID: Range<Int>
    public var userID: Range<Int>
    public var itemID: Range<Int>

    public init(
        type: EventType, time: EventTime, dwellMillis: Int64?, eventID: Range<Int>, userID: Range<Int>,
        itemID: Range<Int>
    ) {
        self.type = type
        self.time = time
        self.dwellMillis = dwellMillis
        self.eventID = eventID
        self.userID = userID
        self.itemID = itemID
    }
}
