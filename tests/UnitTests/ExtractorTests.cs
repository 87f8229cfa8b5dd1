using System.Text;
using Occystrap.Abstractions;
using Occystrap.Formats.Extract;
using Occystrap.Formats.Tar;

namespace Occystrap.UnitTests;

/// <summary>
/// <see cref="LayerExtractor"/>: layers built in memory, extracted under <c>TEMP/a/root</c>, with a canary file in
/// <c>TEMP/outside</c> that no layer may reach. The tests run as root, so that owners, devices and trusted xattrs can be checked.
/// </summary>
public sealed class ExtractorTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000);
    private readonly TempDir _dir = new();
    private readonly string _root;
    private readonly string _canary;

    public ExtractorTests()
    {
        _root = _dir["a/root"];
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_dir["outside"]);
        _canary = _dir["outside/canary"];
        File.WriteAllText(_canary, "canary");
    }

    public void Dispose() => _dir.Dispose();

    // ----- building layers -----

    private sealed record E(LayerEntry Entry, byte[]? Data = null);

    private static E F(string path, string content = "x", int mode = 0x1A4, Action<LayerEntry>? set = null)
    {
        byte[] data = Encoding.UTF8.GetBytes(content);
        var e = new LayerEntry(path, EntryKind.File, data.Length) { Mode = mode, ModificationTime = T0 };
        set?.Invoke(e);
        return new E(e, data);
    }

    private static E Node(string path, EntryKind kind, int mode = 0x1ED, string? link = null, Action<LayerEntry>? set = null)
    {
        var e = new LayerEntry(path, kind, 0) { Mode = mode, LinkTarget = link, ModificationTime = T0 };
        set?.Invoke(e);
        return new E(e);
    }

    private static E D(string path, int mode = 0x1ED, Action<LayerEntry>? set = null) => Node(path, EntryKind.Directory, mode, set: set);
    private static E L(string path, string target, Action<LayerEntry>? set = null) => Node(path, EntryKind.Symlink, 0x1FF, target, set);
    private static E H(string path, string target) => Node(path, EntryKind.HardLink, 0x1A4, target);

    private static byte[] Tar(params E[] entries)
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            foreach (var e in entries) w.WriteEntry(e.Entry, e.Data is null ? null : new MemoryStream(e.Data));
            w.Finish();
        }
        return ms.ToArray();
    }

    private ExtractReport Extract(ExtractOptions? options, params byte[][] layers)
    {
        using var x = new LayerExtractor(_root, options);
        for (int i = 0; i < layers.Length; i++) x.ApplyLayer(new MemoryStream(layers[i]), $"#{i + 1}");
        return x.Finish();
    }

    private ExtractReport Extract(params byte[][] layers) => Extract(null, layers);

    private string P(string rel) => Path.Combine(_root, rel);

    /// <summary>GNU stat of a path under the root, not following a symlink.</summary>
    private string Stat(string rel, string format) => Shell.Run($"stat -c '{format}' '{P(rel)}'").Trim();

    private string Xattr(string rel, string name) =>
        Shell.Run($"getfattr -h --only-values -n {name} '{P(rel)}' | od -An -tx1 | tr -d ' \\n'");

    private static readonly byte[] Capability = [0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    // ----- what is created -----

    [Fact]
    public void Every_kind_is_created_with_its_mode_including_setuid_and_sticky()
    {
        var report = Extract(Tar(
            D("bin/"),
            F("bin/su", "#!", mode: 0x9ED /* 04755 */),
            F("bin/sg", "#!", mode: 0x5ED /* 02755 */),
            D("tmp/", mode: 0x3FF /* 01777 */),
            L("bin/sh", "su"),
            H("bin/su2", "bin/su"),
            Node("run/fifo", EntryKind.Fifo, 0x1B0),
            Node("dev/null", EntryKind.CharacterDevice, 0x1B6, set: e => { e.DeviceMajor = 1; e.DeviceMinor = 3; }),
            Node("dev/big", EntryKind.BlockDevice, 0x180, set: e => { e.DeviceMajor = 300; e.DeviceMinor = 70000; })));

        Assert.Equal("4755 regular file", Stat("bin/su", "%a %F"));
        Assert.Equal("2755", Stat("bin/sg", "%a"));
        Assert.Equal("1777 directory", Stat("tmp", "%a %F"));
        Assert.Equal("symbolic link", Stat("bin/sh", "%F"));
        Assert.Equal("su", new FileInfo(P("bin/sh")).LinkTarget);
        Assert.Equal(Stat("bin/su", "%i"), Stat("bin/su2", "%i"));
        Assert.Equal("2", Stat("bin/su", "%h"));
        Assert.Equal("660 fifo", Stat("run/fifo", "%a %F"));
        Assert.Equal("666 character special file 1:3", Stat("dev/null", "%a %F %t:%T"));
        // glibc's makedev: majors above 0xfff and minors above 0xff use the high bits.
        Assert.Equal("600 block special file 12c:11170", Stat("dev/big", "%a %F %t:%T"));
        Assert.Equal((2L, 2L, 2L, 3L, 4L), (report.Files, report.Directories, report.Links, report.Specials, report.Bytes));
        Assert.Null(report.Warning);
    }

    [Fact]
    public void Parents_the_tar_does_not_name_are_created_0755()
    {
        var report = Extract(Tar(F("a/b/file")));
        Assert.Equal("755", Stat("a", "%a"));
        Assert.Equal("755", Stat("a/b", "%a"));
        Assert.Equal(0, report.Directories);
    }

    [Fact]
    public void Leading_dot_slash_is_stripped_and_the_root_entry_leaves_the_root_alone()
    {
        string before = Shell.Run($"stat -c '%a' '{_root}'").Trim();
        Extract(Tar(D("./", mode: 0x16D, set: e => e.ModificationTime = T0), D("./x/"), F("./x/y"), F("x//./z")));
        Assert.True(File.Exists(P("x/y")) && File.Exists(P("x/z")));
        Assert.Equal(before, Shell.Run($"stat -c '%a' '{_root}'").Trim());
        Assert.NotEqual("555", before);
    }

    [Fact]
    public void Owners_are_set_before_the_mode_so_setuid_survives()
    {
        Extract(Tar(
            D("home/", set: e => { e.Uid = 1234; e.Gid = 4321; }),
            F("home/tool", mode: 0xDED /* 06755 */, set: e => { e.Uid = 1234; e.Gid = 4321; }),
            L("home/link", "tool", set: e => { e.Uid = 1234; e.Gid = 99; })));
        Assert.Equal("1234:4321 6755", Stat("home/tool", "%u:%g %a"));
        Assert.Equal("1234:4321", Stat("home", "%u:%g"));
        Assert.Equal("1234:99", Stat("home/link", "%u:%g"));
    }

    [Fact]
    public void Xattrs_are_set_after_the_owner_including_a_binary_file_capability()
    {
        Extract(Tar(
            D("d/", set: e => e.ExtendedAttributes["SCHILY.xattr.user.dir"] = "on dir"u8.ToArray()),
            F("d/ping", mode: 0x1ED, set: e =>
            {
                e.Uid = 1234;
                e.ExtendedAttributes["SCHILY.xattr.user.note"] = [0xFF, 0x00, 0x80];
                e.ExtendedAttributes["SCHILY.xattr.security.capability"] = Capability;
                e.ExtendedAttributes["SCHILY.acl.access"] = "ignored"u8.ToArray();
            })));
        Assert.Equal("ff0080", Xattr("d/ping", "user.note"));
        // chown drops security.capability: it is there only if it was set after the owner.
        Assert.Equal(Convert.ToHexStringLower(Capability), Xattr("d/ping", "security.capability"));
        Assert.Equal("1234", Stat("d/ping", "%u"));
        Assert.Equal(Convert.ToHexStringLower("on dir"u8), Xattr("d", "user.dir"));
    }

    [Fact]
    public void Times_have_nanosecond_precision_on_files_symlinks_and_directories_written_into()
    {
        var fine = DateTimeOffset.FromUnixTimeSeconds(1_500_000_000).AddTicks(1_234_567);
        var dirTime = DateTimeOffset.FromUnixTimeSeconds(1_400_000_000);
        Extract(
            Tar(D("d/", set: e => e.ModificationTime = dirTime), F("d/f", set: e => e.ModificationTime = fine), L("d/l", "f", set: e => e.ModificationTime = fine)),
            // A later layer writes into d: its time is still the one from its entry.
            Tar(F("d/g"), D("ro/", mode: 0x16D /* 0555 */, set: e => e.ModificationTime = dirTime), F("ro/inside")));
        Assert.Equal("1500000000.123456700", Stat("d/f", "%.9Y"));
        Assert.Equal("1500000000.123456700", Stat("d/l", "%.9Y"));
        Assert.Equal("1400000000.000000000", Stat("d", "%.9Y"));
        Assert.Equal("555 1400000000", Stat("ro", "%a %Y"));
        Assert.True(File.Exists(P("ro/inside")));
    }

    [Fact]
    public void A_later_layer_replaces_what_a_lower_one_left_and_merges_directories()
    {
        Extract(
            Tar(D("was-dir/"), F("was-dir/child"), F("was-file"), D("merged/"), F("merged/lower"),
                D("real/"), F("real/keep"), L("was-link", "real"),
                // A leaf symlink may point anywhere: it is not followed when it is replaced.
                L("trap", "../../outside/canary")),
            Tar(F("was-dir", "now a file"), D("was-file/"), F("was-file/inside"), D("merged/"), F("merged/upper"),
                D("was-link/"), F("trap", "overwritten")));
        Assert.Equal("now a file", File.ReadAllText(P("was-dir")));
        Assert.True(File.Exists(P("was-file/inside")));
        Assert.True(File.Exists(P("merged/lower")) && File.Exists(P("merged/upper")));
        Assert.Equal("directory", Stat("was-link", "%F"));
        Assert.True(File.Exists(P("real/keep")));
        Assert.Equal("overwritten", File.ReadAllText(P("trap")));
        Assert.Equal("canary", File.ReadAllText(_canary));
    }

    [Fact]
    public void Symlinks_that_stay_inside_the_root_are_followed_on_the_way()
    {
        Extract(Tar(D("sub/"), L("link", "sub"), D("a/"), L("a/up", "../sub"), L("dots", "./a/../sub/"),
            F("link/one"), F("a/up/two"), F("dots/three")));
        Assert.Equal(["one", "three", "two"], Directory.GetFiles(P("sub")).Select(Path.GetFileName).Order().ToArray());
    }

    // ----- whiteouts -----

    private byte[] Lower() => Tar(
        F("f"), D("a/"), D("a/b/"), F("a/b/c"), F("a/b/keep"),
        D("d/"), F("d/x"), F("d/y"), D("d/sub/"), F("d/sub/z"), F("g", "lower"));

    [Fact]
    public void Apply_deletes_what_whiteouts_hide_but_not_what_the_same_layer_writes()
    {
        var report = Extract(Lower(), Tar(
            F(".wh.f"), F("a/b/.wh.c"),
            F("d/new1"), F("d/sub/w"), F("d/.wh..wh..opq"), F("d/new2"),
            F("g", "upper"), F(".wh.g"),
            F(".wh.missing"), F("nodir/.wh.x"), F("nodir2/.wh..wh..opq")));
        Assert.False(File.Exists(P("f")));
        Assert.False(File.Exists(P("a/b/c")));
        Assert.True(File.Exists(P("a/b/keep")));
        Assert.Equal(["new1", "new2", "sub"], Directory.GetFileSystemEntries(P("d")).Select(Path.GetFileName).Order().ToArray());
        Assert.Equal(["w"], Directory.GetFileSystemEntries(P("d/sub")).Select(Path.GetFileName).ToArray());
        Assert.Equal("upper", File.ReadAllText(P("g")));
        Assert.False(Directory.Exists(P("nodir")) || Directory.Exists(P("nodir2")));
        Assert.Empty(Directory.GetFileSystemEntries(_root, ".wh.*", SearchOption.AllDirectories));
        Assert.Equal(7, report.Whiteouts);
    }

    [Fact]
    public void Apply_removes_a_whited_out_directory_recursively_and_its_deferred_metadata()
    {
        Extract(Tar(D("gone/", mode: 0x16D), D("gone/deep/"), F("gone/deep/f")), Tar(F(".wh.gone")), Tar(F("gone/again")));
        Assert.True(File.Exists(P("gone/again")));
        // The lower 0555 entry no longer applies: the directory is now an implicit 0755 one.
        Assert.Equal("755", Stat("gone", "%a"));
    }

    [Fact]
    public void Overlay_writes_whiteout_devices_and_the_opaque_xattr()
    {
        Extract(new ExtractOptions { Whiteouts = WhiteoutMode.Overlay }, Lower(), Tar(F(".wh.f"), F("a/b/.wh.c"), F("d/.wh..wh..opq"), F("new/.wh..wh..opq")));
        Assert.Equal("character special file 0:0", Stat("f", "%F %t:%T"));
        Assert.Equal("character special file 0:0", Stat("a/b/c", "%F %t:%T"));
        Assert.Equal("79", Xattr("d", "trusted.overlay.opaque"));
        Assert.Equal("79", Xattr("new", "trusted.overlay.opaque"));
        Assert.True(File.Exists(P("d/x")));
        Assert.Empty(Directory.GetFileSystemEntries(_root, ".wh.*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Keep_writes_whiteouts_as_files()
    {
        Extract(new ExtractOptions { Whiteouts = WhiteoutMode.Keep }, Lower(), Tar(F(".wh.f"), F("d/.wh..wh..opq")));
        Assert.True(File.Exists(P(".wh.f")) && File.Exists(P("f")));
        Assert.True(File.Exists(P("d/.wh..wh..opq")) && File.Exists(P("d/x")));
    }

    // ----- hostile layers -----

    public static TheoryData<string, bool> Malicious()
    {
        var data = new TheoryData<string, bool>();
        foreach (string name in MaliciousLayers.Keys)
        {
            data.Add(name, true);
            data.Add(name, false);
        }
        return data;
    }

    private static readonly Dictionary<string, (Func<string, byte[]> Layer, string Reason)> MaliciousLayers = new()
    {
        ["../x"] = (_ => Tar(F("../x")), "'..' climbs above the root"),
        ["a/../../x"] = (_ => Tar(F("a/../../x")), "'..' climbs above the root"),
        ["a/b/../../../x"] = (_ => Tar(D("a/"), D("a/b/"), F("a/b/../../../x")), "'..' climbs above the root"),
        ["/x"] = (_ => Tar(F("/x")), "it is an absolute path"),
        ["evil -> ../../outside, evil/file"] = (_ => Tar(L("evil", "../../outside"), F("evil/canary", "pwned")), "goes through symlink 'evil' that leads outside the root"),
        ["deep/evil -> ../../../outside"] = (_ => Tar(L("deep/evil", "../../../outside"), F("deep/evil/canary", "pwned")), "goes through symlink 'deep/evil' that leads outside the root"),
        ["abs -> /outside, abs/file"] = (outside => Tar(L("abs", outside), F("abs/canary", "pwned")), "goes through symlink 'abs' that leads outside the root"),
        ["hardlink to ../outside/canary"] = (_ => Tar(H("h", "../outside/canary")), "hardlink target '../outside/canary' climbs above the root with '..'"),
        ["hardlink through an escaping symlink"] = (_ => Tar(L("evil", "../../outside"), H("h", "evil/canary")), "goes through symlink 'evil' that leads outside the root"),
        ["hardlink to a directory"] = (_ => Tar(D("dir/"), H("h", "dir")), "hardlink target 'dir' is a directory"),
        ["hardlink to a missing file"] = (_ => Tar(H("h", "nothing")), "hardlink target 'nothing' does not exist"),
        ["loop a -> b, b -> a, a/x"] = (_ => Tar(L("a", "b"), L("b", "a"), F("a/x")), "goes through a symlink loop at"),
        ["directory replaced by an escaping symlink in the same layer"] =
            (_ => Tar(F("d/one"), L("d", "../../outside"), F("d/canary", "pwned")), "goes through symlink 'd' that leads outside the root"),
    };

    [Theory]
    [MemberData(nameof(Malicious))]
    public void Hostile_entries_are_refused_and_nothing_outside_the_root_changes(string name, bool privileged)
    {
        var (layer, reason) = MaliciousLayers[name];
        string outside = _dir["outside"];
        var e = Assert.Throws<UnsafeEntryException>(() => Extract(new ExtractOptions { Privileged = privileged }, layer(outside)));
        Assert.StartsWith("layer #1: refusing '", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.Equal("canary", File.ReadAllText(_canary));
        Assert.Equal([_canary], Directory.GetFileSystemEntries(outside));
        Assert.Equal([_root], Directory.GetFileSystemEntries(_dir["a"]));
        Assert.Equal("1", Stat("../../outside/canary", "%h"));
    }

    [Fact]
    public void Absolute_symlinks_are_fine_as_leaves()
    {
        Extract(Tar(L("etc/localtime", "/usr/share/zoneinfo/UTC"), L("up", "../../outside")));
        Assert.Equal("/usr/share/zoneinfo/UTC", new FileInfo(P("etc/localtime")).LinkTarget);
        Assert.Equal("../../outside", new FileInfo(P("up")).LinkTarget);
    }

    // ----- not privileged, cancellation -----

    [Fact]
    public void Not_privileged_skips_devices_owners_and_security_xattrs_and_counts_them()
    {
        var report = Extract(new ExtractOptions { Privileged = false }, Tar(
            Node("dev/null", EntryKind.CharacterDevice, 0x1B6, set: e => { e.DeviceMajor = 1; e.DeviceMinor = 3; }),
            Node("dev/sda", EntryKind.BlockDevice, 0x1B0, set: e => { e.DeviceMajor = 8; }),
            Node("fifo", EntryKind.Fifo, 0x1A4),
            F("ping", set: e =>
            {
                e.Uid = 1234;
                e.ExtendedAttributes["SCHILY.xattr.security.capability"] = Capability;
                e.ExtendedAttributes["SCHILY.xattr.user.kept"] = "1"u8.ToArray();
            })));
        Assert.False(File.Exists(P("dev/null")) || File.Exists(P("dev/sda")));
        Assert.Equal("fifo", Stat("fifo", "%F"));
        Assert.Equal("0", Stat("ping", "%u"));
        Assert.Equal("31", Xattr("ping", "user.kept"));
        Assert.Equal(2, report.Skipped["device files (need root)"]);
        Assert.Equal(1, report.Skipped["trusted.* and security.* xattrs (need root)"]);
        Assert.Equal(1, report.Skipped["owners other than the current user's (need root)"]);
        Assert.Equal("not reproduced: 2 device files (need root), 1 owners other than the current user's (need root), 1 trusted.* and security.* xattrs (need root)",
            report.Warning);
    }

    [Fact]
    public void Overlay_whiteouts_not_privileged_count_the_opaque_xattr()
    {
        var report = Extract(new ExtractOptions { Whiteouts = WhiteoutMode.Overlay, Privileged = false }, Tar(D("d/"), F("d/.wh..wh..opq")));
        Assert.Equal(1, report.Skipped["overlay opaque directories (need root)"]);
    }

    [Fact]
    public void Cancellation_is_checked_between_entries()
    {
        using var x = new LayerExtractor(_root);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => x.ApplyLayer(new MemoryStream(Tar(F("f"))), "#1", cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(_root));
    }

    [Fact]
    public void Many_files_in_one_directory_are_all_written()
    {
        var entries = Enumerable.Range(0, 3000).Select(i => F($"usr/lib/f{i}", i.ToString())).ToArray();
        var report = Extract(Tar(entries));
        Assert.Equal(3000, Directory.GetFiles(P("usr/lib")).Length);
        Assert.Equal("2999", File.ReadAllText(P("usr/lib/f2999")));
        Assert.Equal(3000, report.Files);
    }
}
