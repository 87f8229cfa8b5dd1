using System.Text;
using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>info against skopeo inspect, for registry, layout and archive sources; a registry source costs one config GET and no layer.</summary>
public sealed class InfoTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    /// <summary>Runs the tool and returns its standard output as bytes (the text helpers would change them).</summary>
    private byte[] Bytes(params string[] args)
    {
        string file = _dir[$"out-{Guid.NewGuid():N}"];
        string quoted = string.Join(' ', args.Select(a => "'" + a.Replace("'", "'\\''") + "'"));
        var r = Run("sh", ["-c", $"'{Tooling.Occystrap}' {quoted} > '{file}'"]);
        r.Code.Should().Be(0, r.ToString());
        return File.ReadAllBytes(file);
    }

    private byte[] SkopeoBytes(params string[] args)
    {
        string file = _dir[$"skopeo-{Guid.NewGuid():N}"];
        Must("sh", ["-c", $"skopeo {string.Join(' ', args.Select(a => "'" + a + "'"))} > '{file}'"]);
        byte[] b = File.ReadAllBytes(file);
        // skopeo ends what it prints with a newline of its own.
        return b.Length > 0 && b[^1] == '\n' ? b[..^1] : b;
    }

    private void AgreesWithSkopeosConfig(JsonNode info, JsonNode config)
    {
        info["schemaVersion"]!.GetValue<int>().Should().Be(1);
        info["architecture"]!.GetValue<string>().Should().Be(config["architecture"]!.GetValue<string>());
        info["os"]!.GetValue<string>().Should().Be(config["os"]!.GetValue<string>());
        info["layers"]!.AsArray().Select(l => l!["diffId"]!.GetValue<string>())
            .Should().Equal(config["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()));
        info["env"]!.ToJsonString().Should().Be(config["config"]!["Env"]!.ToJsonString());
        info["cmd"]!.ToJsonString().Should().Be(config["config"]!["Cmd"]!.ToJsonString());
        info["labels"]!.ToJsonString().Should().Be(config["config"]!["Labels"]!.ToJsonString());
        info["history"]!.AsArray().Count.Should().Be(config["history"]!.AsArray().Count);
    }

    [Fact]
    public void A_registry_image_is_described_from_its_manifest_and_one_config_get()
    {
        string reg = registry.Server.Address;
        Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{reg}/occy/info:{_tag}").Code.Should().Be(0);
        using var proxy = new FaultProxy(reg);
        string src = $"registry://{proxy.Address}/occy/info:{_tag}";
        var info = JsonNode.Parse(Bytes("--insecure", "-O", "json", "info", src))!;
        proxy.BlobGets.Should().ContainSingle("only the config is fetched, no layer").Which.Should().Contain(info["config"]!["digest"]!.GetValue<string>());

        string skopeo = $"docker://{reg}/occy/info:{_tag}";
        Bytes("--insecure", "info", "--raw", src).Should().Equal(SkopeoBytes("inspect", "--raw", "--tls-verify=false", skopeo));
        Bytes("--insecure", "info", "--config", src).Should().Equal(SkopeoBytes("inspect", "--config", "--raw", "--tls-verify=false", skopeo));
        AgreesWithSkopeosConfig(info, JsonNode.Parse(Must("skopeo", "inspect", "--config", "--tls-verify=false", skopeo))!);
        var manifest = JsonNode.Parse(SkopeoBytes("inspect", "--raw", "--tls-verify=false", skopeo))!;
        info["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>())
            .Should().Equal(manifest["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()));
        info["totalCompressedSize"]!.GetValue<long>().Should().Be(manifest["layers"]!.AsArray().Sum(l => l!["size"]!.GetValue<long>()));
        info["layers"]![0]!["compression"]!.GetValue<string>().Should().Be("gzip");
    }

    [Fact]
    public void A_registry_image_lists_the_repository_tags_as_skopeo_does()
    {
        string reg = registry.Server.Address;
        foreach (string t in new[] { _tag, _tag + "-b", "v1." + _tag })
            Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{reg}/occy/tags-{_tag}:{t}").Code.Should().Be(0);
        var info = JsonNode.Parse(Bytes("--insecure", "-O", "json", "info", $"registry://{reg}/occy/tags-{_tag}:{_tag}"))!;
        var skopeo = JsonNode.Parse(Must("skopeo", "list-tags", "--tls-verify=false", $"docker://{reg}/occy/tags-{_tag}"))!;
        info["tags"]!.AsArray().Select(t => t!.GetValue<string>()).Order(StringComparer.Ordinal)
            .Should().Equal(skopeo["Tags"]!.AsArray().Select(t => t!.GetValue<string>()).Order(StringComparer.Ordinal));
        info["tags"]!.AsArray().Should().HaveCount(3);
        Encoding.UTF8.GetString(Bytes("--insecure", "info", $"registry://{reg}/occy/tags-{_tag}:{_tag}")).Should().Contain("Tags:").And.Contain(_tag + "-b");

        // Sources without a repository have no tags.
        JsonNode.Parse(Bytes("-O", "json", "info", $"tar://{SampleImage}"))!["tags"].Should().BeNull();
    }

    [Fact]
    public void Dockerpush_is_refused_with_a_hint_to_use_docker()
    {
        foreach (string command in new[] { "info", "check" })
        {
            var r = Occy(command, "dockerpush://busybox:latest");
            r.Code.Should().Be(2, r.ToString());
            r.Stderr.Trim().Should().StartWith("occystrap: error: ").And.Contain("docker://busybox:latest");
        }
    }

    [Fact]
    public void A_layout_and_an_archive_agree_with_skopeo()
    {
        Occy("process", $"tar://{SampleImage}", $"oci-layout://{_dir["layout"]}?ref=x").Code.Should().Be(0);
        string layout = $"oci-layout://{_dir["layout"]}?ref=x";
        Bytes("info", "--raw", layout).Should().Equal(SkopeoBytes("inspect", "--raw", $"oci:{_dir["layout"]}:x"));
        Bytes("info", "--config", layout).Should().Equal(SkopeoBytes("inspect", "--config", "--raw", $"oci:{_dir["layout"]}:x"));
        AgreesWithSkopeosConfig(JsonNode.Parse(Bytes("-O", "json", "info", layout))!,
            JsonNode.Parse(Must("skopeo", "inspect", "--config", $"oci:{_dir["layout"]}:x"))!);

        Bytes("info", "--config", $"tar://{SampleImage}").Should().Equal(SkopeoBytes("inspect", "--config", "--raw", $"docker-archive:{SampleImage}"));
        var archive = JsonNode.Parse(Bytes("-O", "json", "info", $"tar://{SampleImage}"))!;
        AgreesWithSkopeosConfig(archive, JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{SampleImage}"))!);
        archive["manifest"].Should().BeNull("a docker-save archive has no manifest of its own");
        var raw = Occy("info", "--raw", $"tar://{SampleImage}");
        raw.Code.Should().Be(1);
        raw.Stderr.Trim().Should().Contain("has no manifest of its own");
    }

    [Fact]
    public void The_text_output_names_the_platform_layers_and_run_settings()
    {
        var text = Encoding.UTF8.GetString(Bytes("info", $"tar://{SampleImage}"));
        text.Should().Contain("Platform:      linux/amd64").And.Contain("Layers: 2").And.Contain("Cmd:        [\"/bin/sh\"]")
            .And.Contain("org.opencontainers.image.title=occystrap sample");
    }
}
