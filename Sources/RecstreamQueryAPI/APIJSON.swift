import Foundation

/// The JSON key convention of the HTTP API, both ways: Swift names in camel case with acronyms in
/// capitals (`groupID`, `selfURL`) are written in snake case (`group_id`, `self_url`), and read
/// back to the same names. Foundation's `.convertFromSnakeCase` alone would read `group_id` as
/// `groupId`, which matches no property.
public enum APIJSON {
    /// Parts written in capitals when read back.
    static let acronyms: Set<String> = ["id", "url"]
    /// Properties that are dictionaries keyed by data (reject reasons, stage names): their keys
    /// are values, read back as they are.
    static let dataKeyedProperties: Set<String> = ["rejected", "unownedPartitions", "counts"]

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            let key = path.last!.stringValue
            if path.count >= 2, dataKeyedProperties.contains(path[path.count - 2].stringValue) { return Key(key) }
            return Key(camelCase(key))
        }
        return decoder
    }

    /// `group_id` -> `groupID`, `seconds_since_last_commit` -> `secondsSinceLastCommit`.
    static func camelCase(_ key: String) -> String {
        let parts = key.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return key }
        return String(first) + parts.dropFirst().map { part in
            acronyms.contains(String(part)) ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
        }.joined()
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
