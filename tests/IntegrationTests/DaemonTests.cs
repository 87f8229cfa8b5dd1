using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// Images made by skopeo and by a real dockerd go through tar:// to tar:// and are loaded by real
/// dockerd and podman, with the layers they end up with compared to the input's.
/// </summary>
[Collection("daemons")]
public sealed class DaemonTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..10];

    public void Dispose() => _dir.Dispose();

    private static string Docker(string host, params string[] args) => Must("docker", ["-H", host, .. args]);

    private static List<string> DiffIdsIn(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    /// <summary>Loads an archive into a daemon and returns the layers the daemon recorded for the image.</summary>
    private static List<string> LoadAndInspect(string host, string archive, string name)
    {
        string loaded = Docker(host, "load", "-i", archive);
        loaded.Should().Contain(name.Split('/').Last().Split(':')[0]);
        var inspect = JsonNode.Parse(Docker(host, "image", "inspect", name))!.AsArray()[0]!;
        var layers = inspect["RootFS"]!["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Docker(host, "rmi", "-f", name);
        return layers;
    }

    private void Check(string input, string name)
    {
        var r = Occy("process", $"tar://{input}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        var expected = DiffIdsIn(input);
        DiffIdsIn(_dir["out.tar"]).Should().Equal(expected);

        var skopeo = JsonNode.Parse(Must("skopeo", "inspect", $"docker-archive:{_dir["out.tar"]}"))!;
        skopeo["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(expected);

        LoadAndInspect(Daemon("DOCKER_HOST"), _dir["out.tar"], name).Should().Equal(expected);
        LoadAndInspect(Daemon("PODMAN_HOST"), _dir["out.tar"], name).Should().Equal(expected);
    }

    [Fact]
    public void An_image_made_by_skopeo_loads_into_docker_and_podman_unchanged()
    {
        string name = $"localhost/occy/skopeo:{_tag}";
        Must("skopeo", "copy", "--quiet", $"docker-archive:{SampleImage}", $"docker-archive:{_dir["skopeo.tar"]}:{name}");
        Check(_dir["skopeo.tar"], name);
    }

    [Fact]
    public void An_image_saved_by_dockerd_loads_into_docker_and_podman_unchanged()
    {
        string docker = Daemon("DOCKER_HOST");
        string name = $"localhost/occy/saved:{_tag}";
        Docker(docker, "load", "-i", SampleImage);
        Docker(docker, "tag", "localhost/occystrap/sample:latest", name);
        Docker(docker, "save", "-o", _dir["saved.tar"], name);
        Docker(docker, "rmi", "-f", name);
        Check(_dir["saved.tar"], name);
    }

    [Fact]
    public void An_oci_archive_with_gzip_layers_becomes_a_loadable_docker_archive()
    {
        string name = $"localhost/occy/oci:{_tag}";
        Must("skopeo", "copy", "--quiet", $"docker-archive:{SampleImage}", $"oci-archive:{_dir["oci.tar"]}:{_tag}");
        var r = Occy("process", $"tar://{_dir["oci.tar"]}", $"tar://{_dir["out.tar"]}?name={name}");
        r.Code.Should().Be(0, r.ToString());
        LoadAndInspect(Daemon("DOCKER_HOST"), _dir["out.tar"], name).Should().Equal(DiffIdsIn(SampleImage));
        LoadAndInspect(Daemon("PODMAN_HOST"), _dir["out.tar"], name).Should().Equal(DiffIdsIn(SampleImage));
    }

    [Fact]
    public void A_filtered_image_loads_and_the_daemon_sees_the_new_layers()
    {
        string name = $"localhost/occy/owned:{_tag}";
        var env = new Dictionary<string, string?> { ["OCCYSTRAP_PLUGIN_PATH"] = SamplePlugins };
        var r = OccyWith(env, "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}?name={name}", "-f", "set-owner:uid=1000");
        r.Code.Should().Be(0, r.ToString());
        var layers = DiffIdsIn(_dir["out.tar"]);
        layers.Should().NotIntersectWith(DiffIdsIn(SampleImage));
        LoadAndInspect(Daemon("DOCKER_HOST"), _dir["out.tar"], name).Should().Equal(layers);
        LoadAndInspect(Daemon("PODMAN_HOST"), _dir["out.tar"], name).Should().Equal(layers);
    }
}
