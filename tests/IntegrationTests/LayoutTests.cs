using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>oci-layout:// in and out, with skopeo, umoci and the real docker-registry as the other side.</summary>
public sealed class LayoutTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];
    private string Reg => registry.Server.Address;

    public void Dispose() => _dir.Dispose();

    private static void Ok(Result r) => r.Code.Should().Be(0, r.ToString());

    private static List<string> DiffIds(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    private static JsonNode Index(string layout) => JsonNode.Parse(File.ReadAllText(Path.Combine(layout, "index.json")))!;

    /// <summary>The manifest bytes the layout's index names for a ref.</summary>
    private static string ManifestOf(string layout, string refName)
    {
        var entry = Index(layout)["manifests"]!.AsArray().Single(m => m!["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == refName)!;
        return File.ReadAllText(Path.Combine(layout, "blobs", "sha256", entry["digest"]!.GetValue<string>()["sha256:".Length..]));
    }

    /// <summary>The files umoci unpacks from a layout, relative to the rootfs, with the content of the sample's text file.</summary>
    private (List<string> Files, string Hello) Umoci(string layout, string refName)
    {
        string bundle = _dir[$"bundle-{refName}-{Guid.NewGuid():N}"];
        Must("umoci", "unpack", "--image", $"{layout}:{refName}", bundle);
        string rootfs = Path.Combine(bundle, "rootfs");
        var files = Directory.GetFileSystemEntries(rootfs, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(rootfs, f)).Order(StringComparer.Ordinal).ToList();
        return (files, File.ReadAllText(Path.Combine(rootfs, "usr/share/sample/hello.txt")));
    }

    [Fact]
    public void A_layout_skopeo_wrote_is_read_by_ref_into_the_same_image()
    {
        string layout = _dir["skopeo-layout"];
        Must("skopeo", "copy", "--quiet", $"docker-archive:{SampleImage}", $"oci:{layout}:first");
        Must("skopeo", "copy", "--quiet", $"docker-archive:{SampleImage}", $"oci:{layout}:second");
        Ok(Occy("process", $"oci-layout://{layout}?ref=second", $"tar://{_dir["out.tar"]}?name=x/y:z"));
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        // skopeo rewrites the config into OCI's form; occystrap passes on what is in the layout, byte for byte.
        System.Text.Encoding.UTF8.GetString(DockerArchiveImage.Open(_dir["out.tar"], null).Config.Span)
            .Should().Be(Must("skopeo", "inspect", "--config", "--raw", $"oci:{layout}:second"));

        var r = Occy("process", $"oci-layout://{layout}", $"tar://{_dir["none.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("choose one with ?ref=").And.Contain("first, second");
        File.Exists(_dir["none.tar"]).Should().BeFalse();
    }

    [Fact]
    public void A_layout_written_from_a_docker_archive_is_read_by_skopeo_and_unpacked_by_umoci()
    {
        string layout = _dir["from-tar"];
        var r = Occy("process", $"tar://{SampleImage}", $"oci-layout://{layout}?ref=v1");
        Ok(r);
        r.Stderr.Should().Contain("manifest sha256:");
        var inspect = JsonNode.Parse(Must("skopeo", "inspect", $"oci:{layout}:v1"))!;
        inspect["Layers"]!.AsArray().Should().HaveCount(2);
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"oci:{layout}:v1"))!["rootfs"]!["diff_ids"]!.AsArray()
            .Select(n => n!.GetValue<string>()).Should().Equal(DiffIds(SampleImage));
        var (files, hello) = Umoci(layout, "v1");
        files.Should().Contain(["etc/hostname", "etc/os-release", "usr/share/sample/greeting", "usr/share/sample/hello.txt"]);
        hello.Should().NotBeEmpty();
    }

    [Fact]
    public void Registry_to_layout_keeps_the_blobs_and_manifest_and_back_to_a_registry_keeps_the_digest()
    {
        foreach (string format in new[] { "oci", "v2s2" })
        {
            string src = $"{Reg}/layout/src-{format}:{_tag}";
            Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", format, $"docker-archive:{SampleImage}", $"docker://{src}");
            string raw = Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{src}");
            string layout = _dir[$"from-registry-{format}"];
            Ok(Occy("--insecure", "process", $"registry://{src}", $"oci-layout://{layout}"));
            ManifestOf(layout, _tag).Should().Be(raw, "the source manifest is stored unchanged, under the source's tag");
            foreach (var layer in JsonNode.Parse(raw)!["layers"]!.AsArray())
                File.Exists(Path.Combine(layout, "blobs", "sha256", layer!["digest"]!.GetValue<string>()["sha256:".Length..])).Should().BeTrue();

            Ok(Occy("--insecure", "process", $"oci-layout://{layout}?ref={_tag}", $"registry://{Reg}/layout/back-{format}:{_tag}"));
            Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/layout/back-{format}:{_tag}").Should().Be(raw);
        }
        // umoci takes only OCI manifests: format=oci converts a Docker one.
        string converted = _dir["converted"];
        Ok(Occy("--insecure", "process", $"registry://{Reg}/layout/src-v2s2:{_tag}", $"oci-layout://{converted}?ref=c&format=oci"));
        JsonNode.Parse(ManifestOf(converted, "c"))!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.manifest.v1+json");
        Umoci(converted, "c").Files.Should().Contain("usr/share/sample/hello.txt");
    }

    [Fact]
    public void Two_processes_add_images_to_one_layout_at_once_and_both_survive()
    {
        string layout = _dir["shared"];
        Archives.Random(_dir["a.tar"], "x/a:1", 400_000, 300_000);
        Archives.Random(_dir["b.tar"], "x/b:1", 500_000);
        var runs = new[] { ("a", _dir["a.tar"]), ("b", _dir["b.tar"]), ("sample", SampleImage) }
            .Select(p => Task.Run(() => Occy("process", $"tar://{p.Item2}", $"oci-layout://{layout}?ref={p.Item1}"))).ToArray();
        Task.WaitAll(runs);
        runs.Should().AllSatisfy(t => t.Result.Code.Should().Be(0, t.Result.ToString()));
        Index(layout)["manifests"]!.AsArray().Select(m => m!["annotations"]!["org.opencontainers.image.ref.name"]!.GetValue<string>())
            .Should().BeEquivalentTo("a", "b", "sample");
        foreach (string refName in new[] { "a", "b", "sample" }) Must("skopeo", "inspect", $"oci:{layout}:{refName}");
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"oci:{layout}:a"))!["rootfs"]!["diff_ids"]!.AsArray()
            .Select(n => n!.GetValue<string>()).Should().Equal(DiffIds(_dir["a.tar"]));
    }

    [Fact]
    public void Normalized_layers_in_a_layout_match_the_diff_ids_of_its_config()
    {
        string layout = _dir["normalized"];
        Ok(Occy("process", $"tar://{SampleImage}", $"oci-layout://{layout}?ref=n", "-f", "normalize-timestamps:ts=1"));
        var manifest = JsonNode.Parse(ManifestOf(layout, "n"))!;
        var decoded = manifest["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()["sha256:".Length..])
            .Select(hex => "sha256:" + Must("bash", "-c", $"gzip -dc {layout}/blobs/sha256/{hex} | sha256sum | cut -d' ' -f1").Trim()).ToList();
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"oci:{layout}:n"))!["rootfs"]!["diff_ids"]!.AsArray()
            .Select(n => n!.GetValue<string>()).Should().Equal(decoded).And.NotIntersectWith(DiffIds(SampleImage));
    }

    [Fact]
    public void Bad_layouts_and_destinations_give_one_line_and_leave_nothing()
    {
        string layout = _dir["bad"];
        Ok(Occy("process", $"tar://{SampleImage}", $"oci-layout://{layout}?ref=v1"));
        void Fails(string source, string says)
        {
            var r = Occy("process", source, $"tar://{_dir["x.tar"]}");
            r.Code.Should().Be(1, r.ToString());
            r.Stderr.Trim().Split('\n').Where(l => l.Contains("error:")).Should().ContainSingle().Which.Should().MatchRegex(says);
            File.Exists(_dir["x.tar"]).Should().BeFalse();
        }
        Fails($"oci-layout://{layout}?ref=v2", @"no image with ref 'v2' \(it has: v1\)");

        var manifest = JsonNode.Parse(ManifestOf(layout, "v1"))!;
        string layer = Path.Combine(layout, "blobs", "sha256", manifest["layers"]![1]!["digest"]!.GetValue<string>()["sha256:".Length..]);
        byte[] original = File.ReadAllBytes(layer);
        byte[] corrupt = (byte[])original.Clone();
        corrupt[^5] ^= 0xFF;
        File.WriteAllBytes(layer, corrupt);
        Fails($"oci-layout://{layout}", "digest mismatch|corrupt gzip");
        File.Delete(layer);
        Fails($"oci-layout://{layout}", "is missing from the layout");
        File.WriteAllBytes(layer, original);

        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"9.9.9\"}");
        Fails($"oci-layout://{layout}", "layout version '9.9.9'");
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        File.WriteAllText(Path.Combine(layout, "index.json"), "[[[");
        Fails($"oci-layout://{layout}", "index.json is not valid JSON");

        Directory.CreateDirectory(_dir["notes"]);
        File.WriteAllText(_dir["notes/todo.txt"], "keep me");
        var r = Occy("process", $"tar://{SampleImage}", $"oci-layout://{_dir["notes"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("neither empty nor an OCI image layout");
        Directory.GetFileSystemEntries(_dir["notes"]).Should().ContainSingle();
    }
}
