using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.BundleTests;
using static Occystrap.IntegrationTests.FolderTests;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// mounts:// overlay layouts, mounted by the kernel's overlayfs: the merged view equals umoci's
/// unpack of the same image, nested whiteouts sit where they belong, and runc runs the bundle over
/// the mount. Runs as root, as ./test.sh does.
/// </summary>
public sealed class MountsTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        foreach (string rootfs in new[] { _dir["layout/rootfs"], _dir["fetched/rootfs"] })
            if (File.ReadAllText("/proc/self/mountinfo").Contains($" {rootfs} ")) Run("umount", [rootfs]);
        _dir.Dispose();
    }

    private string Image()
    {
        string path = _dir["runnable.tar"];
        if (!File.Exists(path)) Archives.FromLayers(path, "occy/runnable:1", RunnableLayers(), (JsonObject)Process.DeepClone());
        return path;
    }

    private static string Hex(byte[] layer) => Archives.Sha(layer);

    [Fact]
    public void Whiteouts_become_overlay_devices_and_opaque_xattrs_where_they_belong()
    {
        var r = Occy("process", $"tar://{Image()}", $"mounts://{_dir["layout"]}");
        r.Code.Should().Be(0, r.ToString());
        string top = _dir[$"layout/{Hex(RunnableLayers()[2])}/layer"];
        foreach (string deleted in new[] { "opt/gone", "etc/note", "never-there" })
            Must("stat", "-c", "%F %t:%T %u:%g", Path.Combine(top, deleted)).Trim().Should().Be("character special file 0:0 0:0", deleted);
        File.Exists(Path.Combine(top, "etc/.wh.note")).Should().BeFalse("the whiteout file itself is not written");
        Must("getfattr", "-h", "--only-values", "-n", "trusted.overlay.opaque", Path.Combine(top, "var/lib/opq")).Should().Be("y");
        File.Exists(_dir["layout/manifest.json"]).Should().BeTrue();
        File.Exists(_dir["layout/catalog.json"]).Should().BeTrue();
        File.Exists(_dir["layout/container-config.json"]).Should().BeTrue();
        Directory.Exists(_dir["layout/delta"]).Should().BeTrue();
    }

    [Fact]
    public void The_mounted_layout_equals_umocis_unpack_and_runc_runs_it()
    {
        var r = Occy("process", $"tar://{Image()}", $"mounts://{_dir["layout"]}?mount=true");
        r.Code.Should().Be(0, r.ToString());
        Occy("process", $"tar://{Image()}", $"oci-layout://{_dir["oci"]}?ref=run").Code.Should().Be(0);
        Must("umoci", "unpack", "--image", $"{_dir["oci"]}:run", _dir["umoci"]);

        var merged = Describe(_dir["layout/rootfs"]);
        var umoci = Describe(_dir["umoci/rootfs"]);
        merged.Except(umoci).Should().BeEmpty("umoci has instead: " + string.Join("; ", umoci.Except(merged)));
        merged.Should().Equal(umoci);

        RunBundle(_dir["layout"]).Trim().Should().Be("hello from occystrap in /srv as 1234:1234 1234 2000");
        Must("sh", _dir["layout/umount.sh"]);
        Directory.GetFileSystemEntries(_dir["layout/rootfs"]).Should().BeEmpty("unmounted");

        // A mounted layout is not replaced under its mount.
        Must("sh", _dir["layout/mount.sh"]);
        var again = Occy("process", $"tar://{Image()}", $"mounts://{_dir["layout"]}");
        again.Code.Should().Be(1, again.ToString());
        again.Stderr.Should().Contain("is mounted; unmount it first");
        Must("sh", _dir["layout/umount.sh"]);
    }

    [Fact]
    public void Without_root_it_refuses_up_front_with_one_line()
    {
        string work = _dir["user"];
        Directory.CreateDirectory(work);
        Image();
        var r = Tooling.Unprivileged(_dir, work, "process", $"tar://{Image()}", $"mounts://{work}/layout");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Trim().Should().Be("occystrap: error: mounts:// needs root: its whiteouts are device nodes and trusted.* xattrs, which only root can make");
        Directory.GetFileSystemEntries(work).Should().BeEmpty();
    }

    [Fact]
    public void A_hostile_layer_is_refused_and_leaves_no_layout()
    {
        RefusedByEveryOutput(_dir, "mounts", Process);
    }

    [Fact]
    public void Fetch_to_mounts_pulls_from_a_registry_into_a_layout()
    {
        string reg = registry.Server.Address;
        Occy("--insecure", "process", $"tar://{Image()}", $"registry://{reg}/occy/runnable:m1").Code.Should().Be(0);
        var r = Occy("--insecure", "fetch-to-mounts", reg, "occy/runnable", "m1", _dir["fetched"]);
        r.Code.Should().Be(0, r.ToString());
        File.Exists(_dir["fetched/mount.sh"]).Should().BeTrue();
        Must("sh", _dir["fetched/mount.sh"]);
        File.ReadAllText(_dir["fetched/rootfs/etc/hostname"]).Should().Be("box2\n");
        Must("sh", _dir["fetched/umount.sh"]);
    }
}
