import ArgumentParser
import Foundation
import Logging
import RecstreamRuntime

/// Options shared by `run` and `demo`: where configuration comes from.
struct RunOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers HOST:PORT[,...]. Without it the embedded broker starts. (kafka.brokers)")
    var brokers: String?

    @Option(help: "Query API address HOST:PORT; port 0 picks a free port. (http.address, default 127.0.0.1:8080)")
    var httpAddress: String?

    @Option(help: "State directory. Default: a fresh temporary directory with the embedded broker, ./recstream-state otherwise. (state.dir)")
    var stateDir: String?

    @Option(help: "Config file (YAML or JSON) with nested keys, e.g. kafka: {brokers: ...}. See docs/configuration.md.")
    var config: String?

    @Option(name: .customLong("set"), help: "Set any configuration key, e.g. --set ingest.allowed_lateness_ms=300000 (repeatable).")
    var settings: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Defaults < file < environment (RECSTREAM_*) < flags.
    func loadConfiguration() throws -> RecstreamConfiguration {
        var overrides: [(String, String)] = []
        for setting in settings {
            guard let eq = setting.firstIndex(of: "=") else {
                throw ValidationError("--set expects KEY=VALUE, got '\(setting)'")
            }
            overrides.append((String(setting[..<eq]), String(setting[setting.index(after: eq)...])))
        }
        if let brokers { overrides.append(("kafka.brokers", brokers)) }
        if let httpAddress { overrides.append(("http.address", httpAddress)) }
        if let stateDir { overrides.append(("state.dir", stateDir)) }
        do {
            return try ConfigurationLoader.load(file: config, environment: ProcessInfo.processInfo.environment, overrides: overrides)
        } catch {
            throw ValidationError("configuration: \(error)")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Sets up logging once per process: swift-log's stream handler on stderr with metadata.
enum LoggingSetup {
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level: Logger.Level) -> Logger {
        if !done {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            done = true
        }
        var logger = Logger(label: "recstream")
        logger.logLevel = level
        return logger
    }
}
