import Testing
@testable import KBSSystem

@Suite("Mount table")
struct MountsTests {
    @Test("mountinfo lines give device, mount point, type and source, with escapes undone")
    func parses() {
        let table = """
            22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
            35 22 7:3 / /var/lib/kata-block/mounts/12 rw,relatime shared:20 master:1 - ext4 /dev/loop3 rw
            36 22 7:4 / /tmp/with\\040space ro - xfs /dev/loop4 ro,nouuid
            37 22 7:3 /data/dir /srv/bound rw - ext4 /dev/loop3 rw
            garbage line
            """
        let entries = Mounts.parse(mountinfo: table)
        #expect(entries.count == 4)
        #expect(entries[1] == Mounts.Entry(device: "7:3", mountPoint: "/var/lib/kata-block/mounts/12", type: "ext4", source: "/dev/loop3"))
        #expect(entries[2].mountPoint == "/tmp/with space")
        #expect(entries[2].type == "xfs")
        #expect(entries[1].root == "/" && entries[3].root == "/data/dir", "a bind mount of a subdirectory names it")
    }

    @Test("this process's mount table reads, and / is in it")
    func live() throws {
        #expect(try Mounts.isMountPoint("/"))
        #expect(try !Mounts.isMountPoint("/definitely/not/mounted"))
    }
}

@Suite("Process identity")
struct ProcessIdentityTests {
    @Test("the start time is field 22, counted after the command name's last parenthesis")
    func startTime() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
        #expect(ProcessIdentity.parseStartTime(stat: stat) == 987654)
        #expect(ProcessIdentity.parseStartTime(stat: "1 (short) S 1") == nil)
    }

    @Test("this process is alive; the same pid with another start time, or another boot, is not")
    func liveness() throws {
        let me = try ProcessIdentity.current()
        #expect(try me.isAlive())
        var reused = me
        reused.startTime += 1
        #expect(try !reused.isAlive())
        var otherBoot = me
        otherBoot.bootID = "00000000-0000-0000-0000-000000000000"
        #expect(try !otherBoot.isAlive())
        let gone = ProcessIdentity(bootID: me.bootID, pid: Int32.max - 7, startTime: 1)
        #expect(try !gone.isAlive())
    }
}

@Suite("Mount option words")
struct MountFlagsTests {
    @Test("mount(8) words become flags, later words win, the rest stay filesystem options in order")
    func parse() {
        let parsed = MountFlags.parse(["ro,nosuid", "nodev", "noexec", "commit=5", "", "suid", "discard"])
        #expect(parsed.flags == [.readOnly, .noDevices, .noExecute])
        #expect(parsed.data == ["commit=5", "discard"])
        #expect(MountFlags.parse(["ro", "rw", "defaults"]).flags == [])
        #expect(MountFlags.parse(["noatime", "relatime", "norelatime"]).flags == [.noAccessTime])
        #expect(MountFlags([.readOnly, .noSetuid, .noExecute]).words == ["ro", "nosuid", "noexec"])
    }
}
