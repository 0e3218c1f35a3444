import Foundation
import StorageCore
import Testing
@testable import snapctl

@Suite("Daemon config")
struct DaemonConfigTests {
    @Test("every key of the README's example is read, tables as dotted keys")
    func example() throws {
        let config = try DaemonConfig.parse("""
            state_dir = "/srv/kbs"
            socket = "/run/kbs.sock"
            namespace = "k8s"
            backend = "dm-thin"
            filesystem = "xfs"
            default_size = "20GiB"
            async_remove = true
            log_level = "debug"
            wait_timeout = "10s"

            [file]
            pool_size = "128GiB"

            [dm_thin]
            pool_name = "pool"
            existing = false
            data_size = "256GiB"
            block_size = "128KiB"
            min_free = "5%"
            """, file: "test.toml")
        #expect(config.stateDir == "/srv/kbs" && config.socket == "/run/kbs.sock" && config.namespace == "k8s")
        #expect(config.asyncRemove && config.logLevel == "debug")
        #expect(config.engine.backend == "dm-thin" && config.engine.filesystem == .xfs && config.engine.defaultDeviceSize == 20 << 30)
        #expect(config.engine.file.poolSize == 128 << 30)
        #expect(config.engine.thin.poolName == "pool" && config.engine.thin.dataSize == 256 << 30 && config.engine.thin.minFree == 0.05)
        #expect(config.engine.waitLimit == .seconds(10))
    }

    @Test("the packaged config (contrib/config/config.toml) is read, and says the defaults")
    func packaged() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../contrib/config/config.toml").path
        #expect(try DaemonConfig.load(path) == DaemonConfig(), "the packaged config differs from the defaults it documents")
    }

    @Test("space and metrics keys: file.min_free, auto-grow, metrics_address (loopback or unix only)")
    func spaceAndMetrics() throws {
        let config = try DaemonConfig.parse("""
            metrics_address = "[::1]:9464"
            [file]
            min_free = "5%"
            auto_grow_step = "8GiB"
            auto_grow_threshold = "25%"
            auto_grow_limit = "512GiB"
            """, file: "space.toml")
        #expect(config.metricsAddress == .tcp(host: "::1", port: 9464))
        #expect(config.engine.file.minFree == 0.05 && config.engine.file.autoGrow.step == 8 << 30)
        #expect(config.engine.file.autoGrow.threshold == 0.25 && config.engine.file.autoGrow.limit == 512 << 30)
        #expect(try DaemonConfig.parse("metrics_address = \"unix:/run/m.sock\"", file: "m.toml").metricsAddress == .unix("/run/m.sock"))
        for refused in ["0.0.0.0:9464", "10.0.0.1:80", "example.com:9464", "127.0.0.1", "unix:relative", "127.0.0.1:99999"] {
            #expect(throws: StorageError.self, "\(refused)") { _ = try DaemonConfig.parse("metrics_address = \"\(refused)\"", file: "m.toml") }
        }
        #expect(throws: StorageError.self) { _ = try DaemonConfig.parse("[file]\nauto_grow_step = \"1GiB\"\nauto_grow_threshold = \"5%\"", file: "g.toml") }
    }

    @Test("an empty file means every default")
    func empty() throws {
        #expect(try DaemonConfig.parse("", file: "empty.toml") == DaemonConfig())
    }

    @Test("an unknown or misspelt key is refused, naming it and the file", arguments: [
        "bogus_key = 1", "defualt_size = \"1GiB\"", "[file]\nbogus = 1", "[dm_thin]\npool = \"x\"", "[nope]\nx = 1",
    ])
    func unknown(_ text: String) {
        let error = #expect(throws: StorageError.self) { _ = try DaemonConfig.parse(text, file: "/etc/kata-block/config.toml") }
        #expect(error?.message.contains("/etc/kata-block/config.toml") == true)
        #expect(error?.message.contains("unknown setting") == true, "\(String(describing: error))")
    }

    @Test("bad values and bad TOML are refused, naming the file", arguments: [
        "default_size = \"huge\"", "async_remove = \"perhaps\"", "log_level = \"loud\"", "backend = [1, 2]", "= broken",
        "default_size = \"1MiB\"",
    ])
    func bad(_ text: String) {
        let error = #expect(throws: StorageError.self) { _ = try DaemonConfig.parse(text, file: "c.toml") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("c.toml") == true)
    }

    @Test("the CLI words each remedy as a snapctl command")
    func remedies() {
        let error = StorageError(.internal, "snapshot \"x\" has no device record", remedy: .checkPool)
        #expect(RemedyText.describe(error).contains("snapctl fsck"))
        #expect(RemedyText.words(for: .freeSpace).contains("snapctl snapshot rm"))
    }
}
