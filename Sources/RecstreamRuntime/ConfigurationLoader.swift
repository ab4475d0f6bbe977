import Foundation
import Yams

/// Builds a ``RecstreamConfiguration`` from defaults, then a config file, then the environment,
/// then explicit overrides (flags): later sources win.
///
/// The file is YAML (JSON is YAML too) with nested keys matching the dotted names:
/// ```yaml
/// kafka:
///   brokers: kafka-1:9092,kafka-2:9092
///   properties:
///     security.protocol: SASL_SSL
/// state:
///   dir: /var/lib/recstream
/// ```
public enum ConfigurationLoader {
    public static func load(
        file: String?, environment: [String: String], overrides: [(String, String)]
    ) throws(ConfigurationError) -> RecstreamConfiguration {
        var configuration = RecstreamConfiguration()
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError("cannot read config file \(file): \(error.localizedDescription)")
            }
            for (key, value) in try flatten(yaml: text, source: file) {
                try ConfigurationKeys.apply(key, value, to: &configuration)
            }
        }
        try ConfigurationKeys.applyEnvironment(environment, to: &configuration)
        for (key, value) in overrides { try ConfigurationKeys.apply(key, value, to: &configuration) }
        let problems = configuration.validate()
        guard problems.isEmpty else { throw ConfigurationError(problems.joined(separator: "\n")) }
        return configuration
    }

    /// Dotted key → scalar string for every leaf of a YAML mapping. Keys under
    /// `kafka.properties` keep their own dots (`kafka.properties.sasl.mechanisms`).
    public static func flatten(yaml: String, source: String) throws(ConfigurationError) -> [(String, String)] {
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            throw ConfigurationError("\(source) is not valid YAML/JSON: \(error)")
        }
        guard let root else { return [] }
        guard let mapping = root as? [String: Any] else { throw ConfigurationError("\(source): the top level must be a mapping") }
        var out: [(String, String)] = []
        func walk(_ value: Any, _ path: String) throws(ConfigurationError) {
            switch value {
            case let map as [String: Any]:
                for key in map.keys.sorted() { try walk(map[key]!, path.isEmpty ? key : "\(path).\(key)") }
            case let list as [Any]:
                throw ConfigurationError("\(source): \(path) is a list (\(list.count) items); settings are scalars")
            case is NSNull:
                break
            default:
                out.append((path, "\(value)"))
            }
        }
        try walk(mapping, "")
        return out
    }
}
