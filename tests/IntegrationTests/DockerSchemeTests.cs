using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Tar;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// docker:// in and out against the real dockerd and podman that ./test.sh starts: the same tests
/// for both. Layers are compared with what the daemons record, and loaded images are run.
/// </summary>
[Collection("daemons")]
public sealed class DockerSchemeTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Daemons() => new() { "DOCKER_HOST", "PODMAN_HOST" };

    internal static string Socket(string daemon) => Daemon(daemon)["unix://".Length..];

    internal static string Docker(string daemon, params string[] args) => Must("docker", ["-H", Daemon(daemon), .. args]);

    internal static List<string> Layers(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    private List<string> DaemonLayers(string daemon, string name) =>
        JsonNode.Parse(Docker(daemon, "image", "inspect", name))!.AsArray()[0]!["RootFS"]!["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    private string Runnable()
    {
        string path = _dir["runnable.tar"];
        if (!File.Exists(path)) Archives.FromLayers(path, "occy/runnable:1", BundleTests.RunnableLayers(), (JsonObject)BundleTests.Process.DeepClone());
        return path;
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void An_image_goes_into_a_daemon_and_back_out_with_its_layers(string daemon)
    {
        string name = $"occy/roundtrip:{_tag}";
        var r = Occy("process", $"tar://{Runnable()}", $"docker://{name}?socket={Socket(daemon)}");
        r.Code.Should().Be(0, r.ToString());
        DaemonLayers(daemon, name).Should().Equal(Layers(Runnable()));

        // Out again, to an ordered sink (an archive) and to one that takes layers in any order (a folder).
        r = Occy("process", $"docker://{name}?socket={Socket(daemon)}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        Layers(_dir["out.tar"]).Should().Equal(Layers(Runnable()));
        Occy("process", $"docker://{name}?socket={Socket(daemon)}", $"dir://{_dir["out"]}").Code.Should().Be(0);
        Directory.GetDirectories(_dir["out"]).Should().HaveCount(3);
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void Info_describes_a_daemon_image_from_inspect_and_history_without_saving_it(string daemon)
    {
        string name = $"occy/info:{_tag}";
        Occy("process", $"tar://{Runnable()}", $"docker://{name}?socket={Socket(daemon)}").Code.Should().Be(0);
        using var recorder = new SocketRecorder(Socket(daemon), _dir["recorder.sock"]);
        var r = Occy("-O", "json", "info", $"docker://{name}?socket={recorder.Path}");
        r.Code.Should().Be(0, r.ToString());
        var info = JsonNode.Parse(r.Stdout)!;
        var inspect = JsonNode.Parse(Docker(daemon, "image", "inspect", name))!.AsArray()[0]!;
        info["config"]!["digest"]!.GetValue<string>().Should().Be(inspect["Id"]!.GetValue<string>());
        info["layers"]!.AsArray().Select(l => l!["diffId"]!.GetValue<string>()).Should().Equal(DaemonLayers(daemon, name));
        info["architecture"]!.GetValue<string>().Should().Be(inspect["Architecture"]!.GetValue<string>());
        info["os"]!.GetValue<string>().Should().Be(inspect["Os"]!.GetValue<string>());
        info["cmd"]!.ToJsonString().Should().Be(inspect["Config"]!["Cmd"]!.ToJsonString());
        info["env"]!.ToJsonString().Should().Be(inspect["Config"]!["Env"]!.ToJsonString());
        info["manifest"].Should().BeNull("a daemon keeps no manifest of its own");
        recorder.Requests.Should().Contain(q => q.EndsWith("/history", StringComparison.Ordinal));
        recorder.Requests.Should().NotContain(q => q.EndsWith("/get", StringComparison.Ordinal), "no save stream: " + string.Join(", ", recorder.Requests));
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void A_loaded_image_runs_and_prints_what_its_command_prints(string daemon)
    {
        string name = $"occy/runs:{_tag}";
        Occy("process", $"tar://{Runnable()}", $"docker://{name}?socket={Socket(daemon)}").Code.Should().Be(0);
        // The docker CLI cannot attach through podman's compatible API (409 on upgrade), so podman's own client runs
        // it there, with file and process limits under the service's own (without CAP_SYS_RESOURCE it cannot raise them).
        string output = daemon == "PODMAN_HOST"
            ? Must("podman", "--remote", "--url", Daemon(daemon), "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", name)
            : Docker(daemon, "run", "--rm", "--network", "none", name);
        output.Trim().Should().Be("hello from occystrap in /srv as 1234:1234 1234 2000");
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void Registry_to_daemon_to_registry_keeps_the_diff_ids(string daemon)
    {
        string reg = registry.Server.Address, name = $"occy/via-daemon:{_tag}";
        Occy("--insecure", "process", $"tar://{Runnable()}", $"registry://{reg}/occy/src:{_tag}").Code.Should().Be(0);
        Occy("--insecure", "process", $"registry://{reg}/occy/src:{_tag}", $"docker://{name}?socket={Socket(daemon)}").Code.Should().Be(0);
        Occy("--insecure", "process", $"docker://{name}?socket={Socket(daemon)}", $"registry://{reg}/occy/back:{_tag}").Code.Should().Be(0);
        var config = JsonNode.Parse(Must("skopeo", "inspect", "--config", "--tls-verify=false", $"docker://{reg}/occy/back:{_tag}"))!;
        config["rootfs"]!["diff_ids"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(Layers(Runnable()));
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void Normalize_timestamps_from_daemon_to_daemon_gives_files_of_time_zero(string daemon)
    {
        string name = $"occy/stamped:{_tag}", src = $"occy/unstamped:{_tag}";
        Occy("process", $"tar://{Runnable()}", $"docker://{src}?socket={Socket(daemon)}").Code.Should().Be(0);
        var r = Occy("process", $"docker://{src}?socket={Socket(daemon)}", $"docker://{name}?socket={Socket(daemon)}", "-f", "normalize-timestamps");
        r.Code.Should().Be(0, r.ToString());
        Occy("process", $"docker://{name}?socket={Socket(daemon)}", $"tar://{_dir["stamped.tar"]}").Code.Should().Be(0);
        var image = DockerArchiveImage.Open(_dir["stamped.tar"], null);
        int entries = 0;
        foreach (var layer in image.Layers)
        {
            using var reader = new TarArchiveReader(layer.OpenAsync(default).Result);
            while (reader.Next() is { } e)
            {
                e.Entry.ModificationTime.ToUnixTimeSeconds().Should().Be(0, e.Entry.Path);
                entries++;
            }
        }
        entries.Should().BeGreaterThan(40);
        Docker(daemon, "rmi", "-f", name, src);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void The_legacy_docker_commands_work(string daemon)
    {
        string name = "occy/legacy", tag = _tag;
        Occy("process", $"tar://{Runnable()}", $"docker://{name}:{tag}?socket={Socket(daemon)}").Code.Should().Be(0);
        Occy("docker-to-tarfile", name, tag, _dir["legacy.tar"], "--socket", Socket(daemon)).Code.Should().Be(0);
        Layers(_dir["legacy.tar"]).Should().Equal(Layers(Runnable()));
        Occy("docker-to-extracted", name, tag, _dir["extracted"], "--socket", Socket(daemon), "--expand").Code.Should().Be(0);
        File.ReadAllText(_dir["extracted/manifest/etc/hostname"]).Should().Be("box2\n");
        Occy("docker-to-oci", name, tag, _dir["bundle"], "--socket", Socket(daemon)).Code.Should().Be(0);
        BundleTests.RunBundle(_dir["bundle"]).Should().Contain("hello from occystrap");
        var search = Occy("search-layers-docker", name, tag, "etc/pass*", "--socket", Socket(daemon), "--script-friendly");
        search.Code.Should().Be(0, search.ToString());
        search.Stdout.Should().Contain("etc/passwd");
        Docker(daemon, "rmi", "-f", $"{name}:{tag}");
    }

    [Fact]
    public void Daemon_failures_are_one_clear_line()
    {
        var missing = Occy("process", $"docker://occy/x:1?socket={_dir["nosuch.sock"]}", $"tar://{_dir["x.tar"]}");
        missing.Code.Should().Be(1, missing.ToString());
        missing.Stderr.Trim().Should().StartWith("occystrap: error: no daemon socket at").And.Contain("is dockerd or 'podman system service' running?");

        var unknown = Occy("process", $"docker://occy/never-there:{_tag}?socket={Socket("DOCKER_HOST")}", $"tar://{_dir["x.tar"]}");
        unknown.Code.Should().Be(1, unknown.ToString());
        unknown.Stderr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain($"has no image occy/never-there:{_tag}");
        File.Exists(_dir["x.tar"]).Should().BeFalse();

        // A user outside the socket's group is told which group to join.
        string work = _dir["user"];
        Directory.CreateDirectory(work);
        var denied = Tooling.Unprivileged(_dir, work, "process", $"docker://occy/x:1?socket={Socket("DOCKER_HOST")}", $"tar://{work}/x.tar");
        denied.Code.Should().Be(1, denied.ToString());
        string group = Must("stat", "-c", "%G", Socket("DOCKER_HOST")).Trim();
        denied.Stderr.Trim().Should().Be($"occystrap: error: permission denied on {Socket("DOCKER_HOST")}: add your user to the '{group}' group (the socket's group), or run with sudo");
    }
}
