import CRdKafka

/// librdkafka properties for one client, with a description that never shows secrets.
///
/// Keys and values are librdkafka's (see its CONFIGURATION.md for 2.0.2). Each client type
/// adds its own defaults for keys the caller did not set; the caller's value always wins.
public struct KafkaConfiguration: Sendable, CustomStringConvertible {
    /// Every property passed to librdkafka, by its librdkafka key.
    public var properties: [String: String]

    /// Sets `bootstrap.servers` plus `extra` (which may override it).
    public init(bootstrapServers: String, _ extra: [String: String] = [:]) {
        var properties = ["bootstrap.servers": bootstrapServers]
        properties.merge(extra) { _, new in new }
        self.properties = properties
    }

    /// `key=value` lines sorted by key, with the values of secret keys replaced by `******`.
    ///
    /// A key is secret when it is `sasl.password`, `ssl.key.password`,
    /// `ssl.keystore.password`, `sasl.oauthbearer.client.secret`, or contains "password" or
    /// "secret" in any case.
    public var maskedDescription: String {
        properties.keys.sorted().map { key in
            "\(key)=\(Self.isSecret(key) ? "******" : properties[key] ?? "")"
        }.joined(separator: "\n")
    }

    /// The masked description; printing a configuration never leaks a secret.
    public var description: String { maskedDescription }

    /// Whether the value of `key` must never be printed.
    public static func isSecret(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return explicitSecrets.contains(lowered) || lowered.contains("password") || lowered.contains("secret")
    }

    private static let explicitSecrets: Set<String> = [
        "sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
    ]

    /// Builds an `rd_kafka_conf_t` from `defaults` overlaid with `properties`.
    ///
    /// - Returns: a conf object the caller owns: pass it to `rd_kafka_new()` (which takes
    ///   ownership on success) or free it with `rd_kafka_conf_destroy()`.
    /// - Throws: `_INVALID_ARG` naming the key (never a secret value) librdkafka rejected.
    func makeNativeConf(defaults: [String: String]) throws(KafkaError) -> OpaquePointer {
        // rd_kafka_conf_new(): the caller owns the returned object.
        guard let conf = rd_kafka_conf_new() else {
            throw .local(RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "rd_kafka_conf_new() failed")
        }
        var merged = defaults
        merged.merge(properties) { _, caller in caller }
        // Defaults first, then the caller's keys, so an alias the caller sets (linger.ms vs
        // queue.buffering.max.ms) is applied after the default it overrides.
        let ordered = defaults.keys.filter { properties[$0] == nil }.sorted() + properties.keys.sorted()
        var errorText = [CChar](repeating: 0, count: 512)
        for key in ordered {
            guard let value = merged[key] else { continue }
            // rd_kafka_conf_set() copies key and value.
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                // librdkafka's text may quote the value, so a secret key gets a generic reason.
                let reason = Self.isSecret(key)
                    ? "value rejected"
                    : errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                let shown = Self.isSecret(key) ? "******" : value
                throw .local(RD_KAFKA_RESP_ERR__INVALID_ARG, "configuration \(key)=\(shown): \(reason)")
            }
        }
        return conf
    }
}

extension KafkaConfiguration {
    /// The version of the librdkafka this process runs against, e.g. "2.0.2".
    public static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }
}
