import Foundation
import RecstreamCore
import Testing

/// Keeps Schemas/events.schema.json and the code from drifting apart.
@Suite("JSON schema of the event")
struct EventSchemaTests {
    private func schema() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Events
            .deletingLastPathComponent()  // RecstreamCoreTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("Schemas/events.schema.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any])
    }

    @Test("required fields are the decoder's required fields")
    func required() throws {
        let required = try #require(try schema()["required"] as? [String])
        #expect(required == ["event_id", "type", "user_id", "item_id", "ts"])
    }

    @Test("the type enum lists EventType's names in order")
    func typeEnum() throws {
        let properties = try #require(try schema()["properties"] as? [String: Any])
        let type = try #require(properties["type"] as? [String: Any])
        #expect(type["enum"] as? [String] == EventType.allCases.map(\.name))
    }

    @Test("limits match the decoder's")
    func limits() throws {
        let document = try schema()
        #expect(document["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(document["type"] as? String == "object")
        #expect(document["additionalProperties"] as? Bool != false)
        let properties = try #require(document["properties"] as? [String: Any])
        for id in ["event_id", "user_id", "item_id"] {
            let property = try #require(properties[id] as? [String: Any])
            #expect(property["type"] as? String == "string")
            #expect(property["minLength"] as? Int == 1)
            #expect((property["description"] as? String)?.contains("\(EventDecoder.maxIDBytes) bytes") == true)
        }
        let ts = try #require(properties["ts"] as? [String: Any])
        #expect(ts["type"] as? String == "integer")
        #expect(ts["minimum"] as? Int == 0)
        #expect((ts["exclusiveMaximum"] as? NSNumber)?.int64Value == EventTime.limitMillis)
        let dwell = try #require(properties["dwell_ms"] as? [String: Any])
        #expect(dwell["type"] as? [String] == ["integer", "null"])
        #expect(dwell["minimum"] as? Int == 0)
        let context = try #require(properties["context"] as? [String: Any])
        #expect(context["type"] as? [String] == ["object", "null"])
        for (name, property) in properties {
            let description = (property as? [String: Any])?["description"] as? String
            #expect(description?.isEmpty == false, "\(name) has no description")
        }
    }
}
