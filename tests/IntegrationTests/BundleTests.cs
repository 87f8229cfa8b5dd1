using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using static Occystrap.IntegrationTests.FolderTests;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// oci:// runtime bundles: runc runs them as root and prints what the image's command prints, the
/// rootfs equals umoci's unpack of the same image, and the process agrees with umoci's config.json.
/// </summary>
public sealed class BundleTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Static busybox as /usr/bin/sh, users in /etc/passwd and /etc/group, and a working folder; then the rich layers.</summary>
    internal static List<byte[]> RunnableLayers()
    {
        byte[] busybox = File.ReadAllBytes("/bin/busybox");
        var text = Archives.Layer(
            E(Dir("etc/")),
            F("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:app:/home/app:/bin/sh\n"),
            F("etc/group", "root:x:0:\napp:x:1234:\nextra:x:2000:other,app\n"),
            E(Dir("usr/")), E(Dir("usr/bin/")),
            E(new LayerEntry("usr/bin/sh", EntryKind.Symlink, 0) { LinkTarget = "busybox", Mode = 0x1FF, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000) }),
            E(Dir("srv/", mode: 0x1FF)));
        // The binary goes in beside the text entries (Archives.Layer writes text).
        using var output = new MemoryStream();
        using (var writer = new Occystrap.Formats.Tar.TarArchiveWriter(output, leaveOpen: true))
        {
            using var reader = new Occystrap.Formats.Tar.TarArchiveReader(new MemoryStream(text));
            while (reader.Next() is { } r) writer.WriteRecord(r);
            writer.WriteEntry(new LayerEntry("usr/bin/busybox", EntryKind.File, busybox.Length)
                { Mode = 0x1ED, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000) }, new MemoryStream(busybox));
            writer.Finish();
        }
        return [output.ToArray(), .. RichLayers()];
    }

    internal static readonly JsonObject Process = new()
    {
        ["Entrypoint"] = new JsonArray("/bin/sh", "-c"),
        ["Cmd"] = new JsonArray("echo \"hello from $GREETING in $(pwd) as $(busybox id -u):$(busybox id -g) $(busybox id -G)\""),
        ["Env"] = new JsonArray("GREETING=occystrap"),
        ["WorkingDir"] = "/srv",
        ["User"] = "app",
    };

    private string Image()
    {
        string path = _dir["runnable.tar"];
        if (!File.Exists(path)) Archives.FromLayers(path, "occy/runnable:1", RunnableLayers(), (JsonObject)Process.DeepClone());
        return path;
    }

    internal static string RunBundle(string bundle)
    {
        string state = bundle + ".runc";
        Directory.CreateDirectory(state);
        var r = Run("runc", ["--root", state, "run", "--bundle", bundle, "occy-" + Guid.NewGuid().ToString("N")[..10]]);
        r.Code.Should().Be(0, r.ToString());
        return r.Stdout;
    }

    [Fact]
    public void Runc_runs_the_bundle_as_the_images_user_with_its_env_and_folder()
    {
        var r = Occy("process", $"tar://{Image()}", $"oci://{_dir["bundle"]}");
        r.Code.Should().Be(0, r.ToString());
        File.Exists(_dir["bundle/container-config.json"]).Should().BeTrue();
        RunBundle(_dir["bundle"]).Trim().Should().Be("hello from occystrap in /srv as 1234:1234 1234 2000");
    }

    [Fact]
    public void The_bundle_equals_umocis_unpack_and_its_process_agrees_with_umocis_config()
    {
        Occy("process", $"tar://{Image()}", $"oci://{_dir["bundle"]}").Code.Should().Be(0);
        Occy("process", $"tar://{Image()}", $"oci-layout://{_dir["layout"]}?ref=run").Code.Should().Be(0);
        Must("umoci", "unpack", "--image", $"{_dir["layout"]}:run", _dir["umoci"]);

        var ours = Describe(_dir["bundle/rootfs"]);
        var umoci = Describe(_dir["umoci/rootfs"]);
        ours.Except(umoci).Should().BeEmpty("umoci has instead: " + string.Join("; ", umoci.Except(ours)));
        ours.Should().Equal(umoci);

        var mine = JsonNode.Parse(File.ReadAllText(_dir["bundle/config.json"]))!["process"]!;
        var theirs = JsonNode.Parse(File.ReadAllText(_dir["umoci/config.json"]))!["process"]!;
        foreach (string key in new[] { "args", "env", "cwd" })
            mine[key]!.ToJsonString().Should().Be(theirs[key]!.ToJsonString(), $"{key}: ours {mine[key]!.ToJsonString()}, umoci {theirs[key]!.ToJsonString()}");
        mine["user"]!["uid"]!.GetValue<long>().Should().Be(theirs["user"]!["uid"]!.GetValue<long>());
        mine["user"]!["gid"]!.GetValue<long>().Should().Be(theirs["user"]!["gid"]!.GetValue<long>());
        mine["user"]!["additionalGids"]!.ToJsonString().Should().Be(theirs["user"]!["additionalGids"]!.ToJsonString());
        mine["terminal"]!.GetValue<bool>().Should().BeFalse();
    }

    [Fact]
    public void A_rootless_bundle_maps_root_to_the_user_that_wrote_it_as_runc_spec_rootless_does()
    {
        var r = Occy("process", $"tar://{Image()}", $"oci://{_dir["rootless"]}?rootless=true");
        r.Code.Should().Be(0, r.ToString());
        var ours = JsonNode.Parse(File.ReadAllText(_dir["rootless/config.json"]))!;
        Directory.CreateDirectory(_dir["spec"]);
        Must("runc", "spec", "--rootless", "--bundle", _dir["spec"]);
        var spec = JsonNode.Parse(File.ReadAllText(_dir["spec/config.json"]))!;
        foreach (string key in new[] { "mounts" })
            ours[key]!.ToJsonString().Should().Be(spec[key]!.ToJsonString(), key);
        foreach (string key in new[] { "uidMappings", "gidMappings", "namespaces", "maskedPaths", "readonlyPaths" })
            ours["linux"]![key]!.ToJsonString().Should().Be(spec["linux"]![key]!.ToJsonString(), key);
        ours["linux"]!["resources"].Should().BeNull("a rootless container cannot have a device cgroup");
        // Only root is mapped, so the image's user becomes root of the namespace (the user who runs it).
        ours["process"]!["user"]!.ToJsonString().Should().Be("""{"uid":0,"gid":0}""");
        r.Stderr.Should().Contain("runs as root of its user namespace");
        // As root, a rootless bundle runs too: its user namespace maps root to root.
        RunBundle(_dir["rootless"]).Trim().Should().Be("hello from occystrap in /srv as 0:0 0");
    }

    [Fact]
    public void An_unprivileged_user_writes_a_rootless_bundle_and_runs_it_with_runc()
    {
        string work = _dir["user"];
        Directory.CreateDirectory(work);
        Image();
        var r = Tooling.Unprivileged(_dir, work, "process", $"tar://{Image()}", $"oci://{work}/bundle?rootless=true");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("not reproduced").And.Contain("owners other than the current user's");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "bundle/config.json")))!;
        config["linux"]!["uidMappings"]![0]!["hostID"]!.GetValue<long>().Should().Be(65534);
        var run = Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "runc", "--root", Path.Combine(work, "state"),
            "run", "--bundle", Path.Combine(work, "bundle"), "occy-rootless"], new Dictionary<string, string?> { ["XDG_RUNTIME_DIR"] = work, ["HOME"] = work });
        run.Code.Should().Be(0, run.ToString());
        run.Stdout.Trim().Should().Be("hello from occystrap in /srv as 0:0 0");
    }

    [Fact]
    public void Fetch_to_oci_pulls_from_a_registry_into_a_bundle()
    {
        string reg = registry.Server.Address;
        Occy("--insecure", "process", $"tar://{Image()}", $"registry://{reg}/occy/runnable:b1").Code.Should().Be(0);
        var r = Occy("--insecure", "fetch-to-oci", reg, "occy/runnable", "b1", _dir["fetched"]);
        r.Code.Should().Be(0, r.ToString());
        RunBundle(_dir["fetched"]).Should().Contain("hello from occystrap");
    }

    [Fact]
    public void A_hostile_layer_is_refused_and_leaves_no_bundle()
    {
        RefusedByEveryOutput(_dir, "oci", Process);
    }

    [Fact]
    public void A_folder_that_is_not_a_bundle_is_refused_and_a_bundle_is_replaced()
    {
        Directory.CreateDirectory(_dir["mine"]);
        File.WriteAllText(_dir["mine/notes.txt"], "keep");
        var r = Occy("process", $"tar://{Image()}", $"oci://{_dir["mine"]}");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Should().Contain("neither empty nor a runtime bundle");
        Occy("process", $"tar://{Image()}", $"oci://{_dir["b"]}").Code.Should().Be(0);
        File.WriteAllText(_dir["b/rootfs/stale"], "old");
        Occy("process", $"tar://{Image()}", $"oci://{_dir["b"]}").Code.Should().Be(0);
        File.Exists(_dir["b/rootfs/stale"]).Should().BeFalse();
    }
}
