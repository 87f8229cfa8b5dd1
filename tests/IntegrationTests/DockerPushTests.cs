using System.Diagnostics;
using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.DockerSchemeTests;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// dockerpush:// with real dockerd and podman pushing to the embedded registry: the image comes out
/// whole into an archive and into the docker-registry server, and the daemon keeps no name of ours
/// after success, a failure, or SIGTERM.
/// </summary>
public sealed class DockerPushTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Daemons() => DockerSchemeTests.Daemons();

    /// <summary>The names the daemon has that a push of ours made.</summary>
    private static List<string> OurNames(string daemon) =>
        Docker(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(n => n.Contains("occystrap-push", StringComparison.Ordinal)).ToList();

    private Result Push(string daemon, string name, string destination, params string[] globals) =>
        OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_TEMP_DIR"] = _dir["tmp"] },
            [.. globals, "--insecure", "process", $"dockerpush://{name}?socket={Socket(daemon)}", destination]);

    /// <summary>What the embedded registry received, as the run reports it: blobs uploaded, and layers the daemon skipped.</summary>
    private static (int Blobs, int Skipped) Received(Result r)
    {
        var m = System.Text.RegularExpressions.Regex.Match(r.Stderr, @"the daemon uploaded (\d+) blobs \([0-9.]+ MiB\) to the embedded registry; (\d+) of \d+ layers it skipped");
        m.Success.Should().BeTrue(r.ToString());
        return (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private string Load(string daemon, string archive, string name)
    {
        var r = Occy("process", $"tar://{archive}", $"docker://{name}?socket={Socket(daemon)}");
        r.Code.Should().Be(0, r.ToString());
        return name;
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void The_daemon_pushes_the_image_into_an_archive_whole(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        Archives.Random(_dir["src.tar"], "occy/dp:1", 3_000_000, 1_000_000, 500_000);
        string name = Load(daemon, _dir["src.tar"], $"occy/dockerpush:{_tag}");
        string id = JsonNode.Parse(Docker(daemon, "image", "inspect", name))!.AsArray()[0]!["Id"]!.GetValue<string>();

        var r = Push(daemon, name, $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        Layers(_dir["out.tar"]).Should().Equal(Layers(_dir["src.tar"]));
        r.Stdout.Trim().Should().Be(id, "the image id is the daemon's own");
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{_dir["out.tar"]}"))!["rootfs"]!["diff_ids"]!.AsArray().Count.Should().Be(3);
        OurNames(daemon).Should().BeEmpty("the temporary name is removed after success");
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty("the embedded registry's folder is removed");
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void The_daemons_compressed_layers_go_on_to_a_registry_as_they_are(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        string name = Load(daemon, SampleImage, $"occy/dockerpush-reg:{_tag}");
        string target = $"{registry.Server.Address}/occy/dockerpush:{_tag}";
        var r = Push(daemon, name, $"registry://{target}");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("(0 rewritten, 2 copied)");
        var config = JsonNode.Parse(Must("skopeo", "inspect", "--config", "--tls-verify=false", $"docker://{target}"))!;
        config["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()).Should().Equal(Layers(SampleImage));
        OurNames(daemon).Should().BeEmpty();
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void A_missing_image_is_one_line_and_leaves_no_name(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        var r = Push(daemon, $"occy/never-there:{_tag}", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString()).Which.Should().StartWith("occystrap: error: ");
        OurNames(daemon).Should().BeEmpty();
        File.Exists(_dir["x.tar"]).Should().BeFalse();
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty();
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void A_destination_that_fails_while_the_daemon_pushes_leaves_no_name(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        string name = Load(daemon, SampleImage, $"occy/dockerpush-fail:{_tag}");
        // Nothing listens there: the output fails once the run reaches it, with the push already going.
        var r = Push(daemon, name, "registry://127.0.0.1:9/occy/never:1");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("occystrap: error: ", StringComparison.Ordinal)).Should().ContainSingle(r.ToString());
        OurNames(daemon).Should().BeEmpty("the temporary name is removed after a failure");
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty();
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void Sigterm_during_the_push_removes_the_temporary_name(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        // Large enough, and random, that the daemon's compression keeps the push going for a while.
        Archives.Random(_dir["big.tar"], "occy/big:1", 120_000_000, 60_000_000);
        string name = Load(daemon, _dir["big.tar"], $"occy/dockerpush-term:{_tag}");
        var psi = new ProcessStartInfo(Tooling.Occystrap) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "process", $"dockerpush://{name}?socket={Socket(daemon)}", $"tar://{_dir["never.tar"]}" }) psi.ArgumentList.Add(a);
        psi.Environment["OCCYSTRAP_TEMP_DIR"] = _dir["tmp"];
        psi.Environment["TERM"] = "dumb";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (OurNames(daemon).Count == 0 && !p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(50);
        OurNames(daemon).Should().NotBeEmpty("the push had started: the temporary name was there");
        Must("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        p.WaitForExit(60_000).Should().BeTrue();
        p.ExitCode.Should().Be(130, stderr.Result);
        stderr.Result.Should().Contain("interrupted");
        OurNames(daemon).Should().BeEmpty("the temporary name is removed on SIGTERM");
        File.Exists(_dir["never.tar"]).Should().BeFalse();
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty();
        Docker(daemon, "rmi", "-f", name);
    }

    [Theory]
    [MemberData(nameof(Daemons))]
    public void With_the_layer_cache_a_second_push_skips_the_shared_layers(string daemon)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        // Two images that share their first two layers; sizes made of the tag, so no earlier run shares them.
        int seed = Convert.ToInt32(_tag[..4], 16);
        Archives.Random(_dir["a.tar"], "occy/a:1", 2_000_000 + seed, 1_000_000 + seed, 300_000 + seed);
        Archives.Random(_dir["b.tar"], "occy/b:1", 2_000_000 + seed, 1_000_000 + seed, 400_000 + seed);
        string a = Load(daemon, _dir["a.tar"], $"occy/dockerpush-a:{_tag}");
        string b = Load(daemon, _dir["b.tar"], $"occy/dockerpush-b:{_tag}");
        string cache = _dir["cache.json"];

        var first = Push(daemon, a, $"registry://{registry.Server.Address}/occy/cached-a:{_tag}", "--layer-cache", cache);
        first.Code.Should().Be(0, first.ToString());
        Received(first).Should().Be((4, 0), "the first push sends the three layers and the config");
        File.Exists(cache + ".digests").Should().BeTrue("the daemon's digests are noted beside the cache");

        string target = $"{registry.Server.Address}/occy/cached-b:{_tag}";
        var second = Push(daemon, b, $"registry://{target}", "--layer-cache", cache);
        second.Code.Should().Be(0, second.ToString());
        Received(second).Should().Be((2, 2), "the daemon sends only the layer that is new, and the config");
        second.Stderr.Should().Contain("2 from the layer cache");

        // The image at the destination is whole: every blob is there and matches its digest.
        var config = JsonNode.Parse(Must("skopeo", "inspect", "--config", "--tls-verify=false", $"docker://{target}"))!;
        config["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()).Should().Equal(Layers(_dir["b.tar"]));
        Must("skopeo", "copy", "--src-tls-verify=false", $"docker://{target}", $"dir:{_dir["copied"]}");
        OurNames(daemon).Should().BeEmpty();
        Docker(daemon, "rmi", "-f", a, b);
    }
}
