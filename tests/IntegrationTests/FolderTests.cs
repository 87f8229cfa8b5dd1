using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// dir:// out and in. The expanded tree is checked against umoci's unpack of the same image (paths,
/// types, modes, owners, link targets, devices, xattrs, mtimes and contents), recreate-image results
/// are loaded by a real dockerd, and hostile layers are refused as root and as an unprivileged user.
/// </summary>
[Collection("daemons")]
public sealed class FolderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly DateTimeOffset T1 = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000);
    private static readonly DateTimeOffset T2 = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    internal static LayerEntry Dir(string path, int mode = 0x1ED, long uid = 0) => new(path, EntryKind.Directory, 0) { Mode = mode, Uid = uid, Gid = uid, ModificationTime = T1 };

    internal static (LayerEntry, string?) F(string path, string content, int mode = 0x1A4, long uid = 0, DateTimeOffset? time = null, params (string Key, byte[] Value)[] xattrs)
    {
        var e = new LayerEntry(path, EntryKind.File, Encoding.UTF8.GetByteCount(content)) { Mode = mode, Uid = uid, Gid = uid, ModificationTime = time ?? T1 };
        foreach (var (k, v) in xattrs) e.ExtendedAttributes["SCHILY.xattr." + k] = v;
        return (e, content);
    }

    internal static (LayerEntry, string?) E(LayerEntry e) => (e, null);

    /// <summary>Two layers with everything a real image holds: whiteouts (nested, of folders, of paths never seen), an opaque folder, hardlinks, symlinks, long names, setuid and sticky modes, devices, a FIFO, xattrs, owners and times.</summary>
    internal static List<byte[]> RichLayers()
    {
        string longDir = "usr/share/" + new string('d', 90) + "/" + new string('e', 60);
        var first = Archives.Layer(
            E(Dir("etc/")), F("etc/hostname", "box\n"), F("etc/note", "xattr\n", xattrs: ("user.note", "hello"u8.ToArray())),
            E(Dir("usr/")), E(Dir("usr/bin/")),
            F("usr/bin/su", "su-binary", mode: 0x9ED),
            F("usr/bin/ping", "ping-binary", mode: 0x1ED, xattrs: ("security.capability", [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            E(new LayerEntry("usr/bin/su-again", EntryKind.HardLink, 0) { LinkTarget = "usr/bin/su", ModificationTime = T1 }),
            E(new LayerEntry("bin", EntryKind.Symlink, 0) { LinkTarget = "usr/bin", Mode = 0x1FF, ModificationTime = T2 }),
            E(new LayerEntry("etc/localtime", EntryKind.Symlink, 0) { LinkTarget = "/usr/share/zoneinfo/UTC", Mode = 0x1FF, ModificationTime = T1 }),
            E(Dir("tmp/", mode: 0x3FF)),
            E(Dir("dev/")),
            E(new LayerEntry("dev/null", EntryKind.CharacterDevice, 0) { Mode = 0x1B6, DeviceMajor = 1, DeviceMinor = 3, ModificationTime = T1 }),
            E(new LayerEntry("dev/pipe", EntryKind.Fifo, 0) { Mode = 0x1A4, ModificationTime = T1 }),
            E(Dir("usr/share/")), E(Dir("usr/share/" + new string('d', 90) + "/")), E(Dir(longDir + "/")), F(longDir + "/" + new string('f', 120) + ".txt", "long\n"),
            E(Dir("home/", uid: 0)), E(Dir("home/user/", mode: 0x1C0, uid: 1000)), F("home/user/.profile", "PS1=x\n", uid: 1000),
            E(Dir("opt/")), E(Dir("opt/gone/")), F("opt/gone/a", "a"), E(Dir("opt/gone/sub/")), F("opt/gone/sub/b", "b"),
            F("opt/kept", "kept"),
            E(Dir("var/")), E(Dir("var/lib/")), E(Dir("var/lib/opq/")), F("var/lib/opq/old1", "1"), F("var/lib/opq/old2", "2"),
            E(Dir("ro/", mode: 0x16D)), F("ro/inside", "in a 0555 folder"));
        var second = Archives.Layer(
            E(Dir("opt/")), E(new LayerEntry("opt/.wh.gone", EntryKind.File, 0) { ModificationTime = T2 }),
            E(Dir("etc/")), E(new LayerEntry("etc/.wh.note", EntryKind.File, 0) { ModificationTime = T2 }),
            E(new LayerEntry(".wh.never-there", EntryKind.File, 0) { ModificationTime = T2 }),
            E(Dir("var/")), E(Dir("var/lib/")), E(Dir("var/lib/opq/")), F("var/lib/opq/new-before", "n"),
            E(new LayerEntry("var/lib/opq/.wh..wh..opq", EntryKind.File, 0) { ModificationTime = T2 }),
            F("var/lib/opq/new-after", "m"),
            F("etc/hostname", "box2\n", time: T2),
            F("opt/kept", "replaced", mode: 0x180, time: DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123)));
        return [first, second];
    }

    /// <summary>Everything find and getfattr say about a tree, one line per path, sorted.</summary>
    internal static List<string> Describe(string root)
    {
        var lines = Must("find", root, "-mindepth", "1", "-printf", "%P|%y|%m|%U:%G|%l|%T@|%s\\n")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l =>
            {
                var parts = l.Split('|');
                // Symlink sizes and folder sizes say nothing about the content.
                if (parts[1] is "d" or "l") parts[6] = "-";
                return string.Join('|', parts);
            }).ToList();
        lines.AddRange(Must("sh", "-c", $"cd '{root}' && find . -mindepth 1 \\( -type c -o -type b \\) -exec stat -c 'dev %n %t:%T' {{}} +").Split('\n', StringSplitOptions.RemoveEmptyEntries));
        lines.AddRange(Must("sh", "-c", $"cd '{root}' && find . -type f -exec sha256sum {{}} +").Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var xattrs = Run("sh", ["-c", $"cd '{root}' && getfattr -R -h -d -m - -e hex . 2>/dev/null"]).Stdout;
        lines.AddRange(xattrs.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(b => "xattr " + b.Trim().Replace('\n', ' ')));
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    [Fact]
    public void An_expanded_folder_equals_umocis_unpack_of_the_same_image()
    {
        Archives.FromLayers(_dir["rich.tar"], "occy/rich:1", RichLayers());
        var r = Occy("process", $"tar://{_dir["rich.tar"]}", $"dir://{_dir["out"]}?expand=true");
        r.Code.Should().Be(0, r.ToString());

        Occy("process", $"tar://{_dir["rich.tar"]}", $"oci-layout://{_dir["layout"]}?ref=rich").Code.Should().Be(0);
        Must("umoci", "unpack", "--image", $"{_dir["layout"]}:rich", _dir["bundle"]);

        var ours = Describe(_dir["out/manifest"]);
        var umoci = Describe(_dir["bundle/rootfs"]);
        ours.Except(umoci).Should().BeEmpty("umoci has instead: " + string.Join("; ", umoci.Except(ours)));
        ours.Should().Equal(umoci);
        // The oracle agrees with what the image says, not only with us.
        ours.Should().Contain(l => l.StartsWith("usr/bin/su|f|4755|0:0", StringComparison.Ordinal));
        ours.Should().Contain(l => l.StartsWith("tmp|d|1777", StringComparison.Ordinal));
        ours.Should().Contain(l => l.StartsWith("home/user/.profile|f|644|1000:1000", StringComparison.Ordinal));
        ours.Should().Contain(l => l.StartsWith("dev/null|c|", StringComparison.Ordinal));
        ours.Should().Contain(l => l.StartsWith("xattr # file: usr/bin/ping security.capability=0x01", StringComparison.Ordinal));
        ours.Should().NotContain(l => l.StartsWith("opt/gone", StringComparison.Ordinal) || l.StartsWith("etc/note", StringComparison.Ordinal)
            || l.StartsWith("var/lib/opq/old", StringComparison.Ordinal));
        ours.Should().Contain(l => l.StartsWith("var/lib/opq/new-before|", StringComparison.Ordinal)).And.Contain(l => l.StartsWith("var/lib/opq/new-after|", StringComparison.Ordinal));

        // The layer tars and the catalog are there too, and the folder reads back as the same image.
        File.Exists(_dir["out/catalog.json"]).Should().BeTrue();
        File.Exists(_dir["out/manifest.json"]).Should().BeTrue();
        Occy("process", $"dir://{_dir["out"]}", $"tar://{_dir["back.tar"]}").Code.Should().Be(0);
        Must("skopeo", "inspect", $"docker-archive:{_dir["back.tar"]}").Should().Contain(Archives.Sha(RichLayers()[1]));
    }

    [Fact]
    public void Unique_names_store_a_shared_layer_once_also_from_two_processes_at_once()
    {
        Archives.Random(_dir["a.tar"], "occy/a:1", 300_000, 1000);
        Archives.Random(_dir["b.tar"], "occy/b:2", 300_000, 2000);
        string folder = _dir["shared"];
        // Two processes write into one new folder at the same time.
        string tool = Quote(Tooling.Occystrap);
        var r = Run("sh", ["-c", $"{tool} process tar://{Quote(_dir["a.tar"])} 'dir://{folder}?unique_names=true' & "
            + $"{tool} process tar://{Quote(_dir["b.tar"])} 'dir://{folder}?unique_names=true'; b=$?; wait $!; a=$?; exit $((a + b))"]);
        r.Code.Should().Be(0, r.ToString());

        var catalog = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "catalog.json")))!.AsObject();
        catalog["occy/a"]!["1"]!.GetValue<string>().Should().Be("manifest-occy_a-1.json");
        catalog["occy/b"]!["2"]!.GetValue<string>().Should().Be("manifest-occy_b-2.json");
        var layerDirs = Directory.GetDirectories(folder).Select(Path.GetFileName).ToList();
        layerDirs.Should().HaveCount(3, "the 300 kB layer both images share is stored once");
        Directory.GetFiles(folder, "*.partial", new EnumerationOptions { AttributesToSkip = 0, RecurseSubdirectories = true }).Should().BeEmpty();

        // A third image later is added to the same folder; each reads back by name.
        Archives.Random(_dir["c.tar"], "occy/c:3", 300_000);
        Occy("process", $"tar://{_dir["c.tar"]}", $"dir://{folder}?unique_names=true").Code.Should().Be(0);
        Directory.GetDirectories(folder).Should().HaveCount(3);
        var many = Occy("process", $"dir://{folder}", $"tar://{_dir["x.tar"]}");
        many.Code.Should().Be(2, many.ToString());
        many.Stderr.Should().Contain("occy/a:1").And.Contain("occy/b:2").And.Contain("occy/c:3");
        foreach (var (name, archive) in new[] { ("occy/a:1", "a.tar"), ("occy/b:2", "b.tar"), ("occy/c:3", "c.tar") })
        {
            Occy("process", $"dir://{folder}?image={name}", $"tar://{_dir["back.tar"]}").Code.Should().Be(0);
            Layers(_dir["back.tar"]).Should().Equal(Layers(_dir[archive]));
        }
    }

    private static List<string> Layers(string archive) =>
        Occystrap.Formats.Archives.DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    [Fact]
    public void Recreate_image_turns_a_folder_back_into_an_archive_dockerd_loads()
    {
        Archives.Random(_dir["img.tar"], "occy/recreated:r1", 5000, 7000);
        Occy("process", $"tar://{_dir["img.tar"]}", $"dir://{_dir["folder"]}").Code.Should().Be(0);
        var missing = Occy("recreate-image", _dir["folder"], "occy/other", "r1", _dir["re.tar"]);
        missing.Code.Should().Be(1, missing.ToString());
        missing.Stderr.Should().Contain("has no image 'occy/other:r1'; it holds occy/recreated:r1");

        var r = Occy("recreate-image", _dir["folder"], "occy/recreated", "r1", _dir["re.tar"]);
        r.Code.Should().Be(0, r.ToString());
        string docker = Daemon("DOCKER_HOST");
        Must("docker", "-H", docker, "load", "-i", _dir["re.tar"]).Should().Contain("occy/recreated:r1");
        var inspect = JsonNode.Parse(Must("docker", "-H", docker, "image", "inspect", "occy/recreated:r1"))!.AsArray()[0]!;
        inspect["RootFS"]!["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(Layers(_dir["img.tar"]));
        Must("docker", "-H", docker, "rmi", "-f", "occy/recreated:r1");
    }

    [Fact]
    public void A_folder_that_is_not_a_layout_is_refused_and_a_plain_layout_is_replaced()
    {
        Directory.CreateDirectory(_dir["foreign"]);
        File.WriteAllText(_dir["foreign/mine.txt"], "keep");
        var r = Occy("process", $"tar://{SampleImage}", $"dir://{_dir["foreign"]}");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Should().Contain("neither empty nor a dir:// layout");
        File.ReadAllText(_dir["foreign/mine.txt"]).Should().Be("keep");

        Archives.Random(_dir["one.tar"], "occy/one:1", 1000);
        Occy("process", $"tar://{_dir["one.tar"]}", $"dir://{_dir["plain"]}").Code.Should().Be(0);
        Occy("process", $"tar://{SampleImage}", $"dir://{_dir["plain"]}").Code.Should().Be(0);
        Directory.GetDirectories(_dir["plain"]).Should().HaveCount(Layers(SampleImage).Distinct().Count(), "the earlier image's layers went with it");
        Directory.GetFileSystemEntries(_dir.Path, ".*partial").Should().BeEmpty();
    }

    public static TheoryData<string, byte[], string> Hostile() => new()
    {
        { "parent", Archives.Layer(F("../canary", "pwned")), "../canary" },
        { "deep", Archives.Layer(E(Dir("a/")), F("a/../../canary", "pwned")), "a/../../canary" },
        { "deeper", Archives.Layer(E(Dir("a/")), E(Dir("a/b/")), F("a/b/../../../canary", "pwned")), "a/b/../../../canary" },
        { "absolute", Archives.Layer(F("/tmp/occy-absolute-canary", "pwned")), "/tmp/occy-absolute-canary" },
        { "symlink out", Archives.Layer(E(new LayerEntry("evil", EntryKind.Symlink, 0) { LinkTarget = "../.." }), F("evil/canary", "pwned")), "evil/canary" },
        { "hardlink out", Archives.Layer(E(new LayerEntry("hard", EntryKind.HardLink, 0) { LinkTarget = "../canary" })), "hard" },
        { "loop", Archives.Layer(E(new LayerEntry("a", EntryKind.Symlink, 0) { LinkTarget = "b" }), E(new LayerEntry("b", EntryKind.Symlink, 0) { LinkTarget = "a" }), F("a/x", "x")), "a/x" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void A_hostile_layer_is_refused_with_one_line_as_root_and_unprivileged(string name, byte[] layer, string entry)
    {
        // The tree is built two levels down, so that ../canary and ../../canary both name the canary's folder or above.
        string work = _dir["w/x"];
        Directory.CreateDirectory(work);
        File.WriteAllText(_dir["w/canary"], "safe");
        File.WriteAllText(_dir["canary"], "safe");
        Archives.FromLayers(_dir["bad.tar"], $"occy/bad-{name.Replace(' ', '-')}:1", [Archives.Layer(F("ok", "fine")), layer]);
        foreach (bool root in new[] { true, false })
        {
            string target = Path.Combine(work, root ? "out-root" : "out-user");
            var r = root
                ? Occy("process", $"tar://{_dir["bad.tar"]}", $"dir://{target}?expand=true")
                : Tooling.Unprivileged(_dir, work, "process", $"tar://{_dir["bad.tar"]}", $"dir://{target}?expand=true");
            r.Code.Should().Be(1, r.ToString());
            var errors = r.Stderr.Split('\n').Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).ToList();
            errors.Should().ContainSingle(r.ToString()).Which.Should().Contain($"'{entry}'").And.Contain("layer 2");
            File.ReadAllText(_dir["canary"]).Should().Be("safe");
            File.ReadAllText(_dir["w/canary"]).Should().Be("safe");
            File.Exists("/tmp/occy-absolute-canary").Should().BeFalse();
            Directory.Exists(target).Should().BeFalse("nothing is left half-written");
            Directory.GetFileSystemEntries(work).Should().BeEmpty(r.ToString());
        }
    }

    /// <summary>Each hostile layer, on top of a harmless one, is refused by an output scheme with one line, and leaves nothing.</summary>
    internal static void RefusedByEveryOutput(TempDir dir, string scheme, JsonObject? process = null)
    {
        File.WriteAllText(dir["canary"], "safe");
        foreach (var row in Hostile())
        {
            var (name, layer) = ((string)row[0], (byte[])row[1]);
            string work = dir[$"w-{name.Replace(' ', '-')}/x"];
            Directory.CreateDirectory(work);
            Archives.FromLayers(dir["bad.tar"], "occy/bad:1", [Archives.Layer(F("ok", "fine")), layer], (JsonObject?)process?.DeepClone());
            var r = Occy("process", $"tar://{dir["bad.tar"]}", $"{scheme}://{work}/out");
            r.Code.Should().Be(1, r.ToString());
            r.Stderr.Should().Contain($"'{row[2]}'").And.Contain("layer 2");
            Directory.GetFileSystemEntries(work).Should().BeEmpty(name);
            File.ReadAllText(dir["canary"]).Should().Be("safe");
        }
    }
}
