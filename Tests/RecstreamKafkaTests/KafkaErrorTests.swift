import Testing
@testable import RecstreamKafka

@Suite(.timeLimit(.minutes(1))) struct KafkaErrorTests {
    @Test(arguments: [
        // code, name, fatal, retriable
        (Int32(-185), "_TIMED_OUT", false, true),
        (Int32(-184), "_QUEUE_FULL", false, true),
        (Int32(-192), "_MSG_TIMED_OUT", false, true),
        (Int32(-150), "_FATAL", true, false),
        (Int32(5), "LEADER_NOT_AVAILABLE", false, true),
        (Int32(6), "NOT_LEADER_FOR_PARTITION", false, true),
        (Int32(1), "OFFSET_OUT_OF_RANGE", false, false),
        (Int32(29), "TOPIC_AUTHORIZATION_FAILED", false, false),
        (Int32(-140), "_AUTO_OFFSET_RESET", false, false),
    ])
    func codesMapToNameAndFlags(code: Int32, name: String, fatal: Bool, retriable: Bool) {
        let error = KafkaError(code: code)
        #expect(error.code == code)
        #expect(error.name == name)
        #expect(error.isFatal == fatal)
        #expect(error.isRetriable == retriable)
        #expect(!error.message.isEmpty)
        #expect(error.description.contains(name))
    }

    @Test func explicitMessageIsKept() {
        let error = KafkaError(code: -185, message: "flush: 3 records in flight")
        #expect(error.message == "flush: 3 records in flight")
    }

    @Test func maskedDescriptionHidesEverySecret() {
        let configuration = KafkaConfiguration(bootstrapServers: "b:9092", [
            "sasl.password": "p1", "ssl.key.password": "p2", "ssl.keystore.password": "p3",
            "sasl.oauthbearer.client.secret": "p4", "my.custom.Password.field": "p5", "some.SECRET": "p6",
            "sasl.username": "alice",
        ])
        let text = configuration.maskedDescription
        for secret in ["p1", "p2", "p3", "p4", "p5", "p6"] {
            #expect(!text.contains("=\(secret)"))
        }
        #expect(text.contains("sasl.username=alice"))
        #expect(text.contains("bootstrap.servers=b:9092"))
        #expect(text.contains("sasl.password=******"))
        #expect("\(configuration)" == text)
    }

    @Test func rejectedSecretValueIsNotEchoed() {
        let configuration = KafkaConfiguration(bootstrapServers: "b:9092", ["ssl.key.password": "hunter2", "linger.ms": "nope"])
        #expect {
            _ = try KafkaProducer(configuration: configuration)
        } throws: { error in
            let text = "\(error)"
            return !text.contains("hunter2") && text.contains("linger.ms")
        }
    }
}
