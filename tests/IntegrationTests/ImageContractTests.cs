using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// What the image model and sink contract promise, against the real docker-registry with skopeo and
/// dockerd as the oracles: plain copies keep their manifest digest, an explicit compression is honoured,
/// gzip made here in members is read by every reader, and filters never see credentials.
/// </summary>
public sealed class ImageContractTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];
    private string Reg => registry.Server.Address;

    public void Dispose() => _dir.Dispose();

    private static void Ok(Result r) => r.Code.Should().Be(0, r.ToString());

    private static string Raw(string image) => Must("skopeo", "inspect", "--raw", "--tls-verify=false", image);

    private static string DigestOf(string image) => JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", image))!["Digest"]!.GetValue<string>();

    private static List<string> SampleDiffIds() => DockerArchiveImage.Open(SampleImage, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    [Theory]
    [InlineData("v2s2")]
    [InlineData("oci")]
    public void A_registry_to_registry_copy_with_no_filter_or_a_look_only_filter_keeps_the_manifest_digest(string format)
    {
        string src = $"{Reg}/keep/src-{format}:{_tag}";
        Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", format, $"docker-archive:{SampleImage}", $"docker://{src}");
        string sourceDigest = DigestOf($"docker://{src}");

        Ok(Occy("--insecure", "process", $"registry://{src}", $"registry://{Reg}/keep/plain-{format}:{_tag}"));
        DigestOf($"docker://{Reg}/keep/plain-{format}:{_tag}").Should().Be(sourceDigest);
        Raw($"docker://{Reg}/keep/plain-{format}:{_tag}").Should().Be(Raw($"docker://{src}"));

        var r = Occy("--insecure", "process", $"registry://{src}", $"registry://{Reg}/keep/inspected-{format}:{_tag}", "-f", $"inspect:file={_dir["layers.jsonl"]}");
        Ok(r);
        r.Stderr.Should().Contain(sourceDigest, "the summary names the manifest it wrote");
        DigestOf($"docker://{Reg}/keep/inspected-{format}:{_tag}").Should().Be(sourceDigest);
        File.ReadAllText(_dir["layers.jsonl"]).Should().Contain(SampleDiffIds()[0]);

        // A rewriting filter makes a new manifest, in the source's format.
        Ok(Occy("--insecure", "process", $"registry://{src}", $"registry://{Reg}/keep/changed-{format}:{_tag}", "-f", "normalize-timestamps:ts=1"));
        DigestOf($"docker://{Reg}/keep/changed-{format}:{_tag}").Should().NotBe(sourceDigest);
        JsonNode.Parse(Raw($"docker://{Reg}/keep/changed-{format}:{_tag}"))!["mediaType"]!.GetValue<string>()
            .Should().Be(JsonNode.Parse(Raw($"docker://{src}"))!["mediaType"]!.GetValue<string>());
    }

    [Fact]
    public void An_explicit_compression_recompresses_every_layer_gzip_to_zstd_and_back_and_skopeo_podman_and_dockerd_read_it()
    {
        string src = $"{Reg}/zstd/src:{_tag}";
        Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", "v2s2", $"docker-archive:{SampleImage}", $"docker://{src}");
        var sourceLayers = JsonNode.Parse(Raw($"docker://{src}"))!["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()).ToList();

        Ok(Occy("--insecure", "--compression", "zstd", "process", $"registry://{src}", $"registry://{Reg}/zstd/global:{_tag}"));
        Ok(Occy("--insecure", "process", $"registry://{src}", $"registry://{Reg}/zstd/uri:{_tag}?compression=zstd"));
        foreach (string dst in new[] { $"{Reg}/zstd/global:{_tag}", $"{Reg}/zstd/uri:{_tag}" })
        {
            var raw = JsonNode.Parse(Raw($"docker://{dst}"))!;
            raw["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.manifest.v1+json");
            raw["config"]!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.config.v1+json");
            raw["layers"]!.AsArray().Should().AllSatisfy(l => l!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.layer.v1.tar+zstd"));
            raw["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()).Should().NotIntersectWith(sourceLayers);
            // Recompression changes the blobs, not the tars: the config keeps the diff_ids.
            JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", "--config", $"docker://{dst}"))!["rootfs"]!["diff_ids"]!.AsArray()
                .Select(n => n!.GetValue<string>()).Should().Equal(SampleDiffIds());
        }

        // skopeo fetches and verifies every blob; the zstd tool decodes them to the diff_ids.
        string layout = _dir["layout"];
        Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{Reg}/zstd/global:{_tag}", $"oci:{layout}:x");
        var decoded = JsonNode.Parse(Raw($"docker://{Reg}/zstd/global:{_tag}"))!["layers"]!.AsArray()
            .Select(l => l!["digest"]!.GetValue<string>()["sha256:".Length..])
            .Select(hex => "sha256:" + Must("bash", "-c", $"zstd -dc {layout}/blobs/sha256/{hex} | sha256sum | cut -d' ' -f1").Trim()).ToList();
        decoded.Should().Equal(SampleDiffIds());

        // podman pulls it into a store of its own and records the same layers. (Debian's dockerd is 20.10,
        // which predates zstd layers: it fails on skopeo's own zstd images too, so it checks the way back below.)
        string store = _dir["podman"];
        string[] podman = ["--root", Path.Combine(store, "root"), "--runroot", Path.Combine(store, "run"), "--storage-driver", "vfs"];
        Must("podman", [.. podman, "pull", "-q", "--tls-verify=false", $"{Reg}/zstd/global:{_tag}"]);
        JsonNode.Parse(Must("podman", [.. podman, "image", "inspect", $"{Reg}/zstd/global:{_tag}"]))!.AsArray()[0]!["RootFS"]!["Layers"]!.AsArray()
            .Select(n => n!.GetValue<string>()).Should().Equal(SampleDiffIds());

        // And back: --compression gzip turns the zstd layers into gzip ones, which dockerd pulls.
        string back = $"{Reg}/zstd/back:{_tag}";
        Ok(Occy("--insecure", "--compression", "gzip", "process", $"registry://{Reg}/zstd/global:{_tag}", $"registry://{back}"));
        JsonNode.Parse(Raw($"docker://{back}"))!["layers"]!.AsArray()
            .Should().AllSatisfy(l => l!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.layer.v1.tar+gzip"));
        string docker = Daemon("DOCKER_HOST");
        Must("docker", "-H", docker, "pull", "-q", back);
        try
        {
            var inspect = JsonNode.Parse(Must("docker", "-H", docker, "image", "inspect", back))!.AsArray()[0]!;
            inspect["RootFS"]!["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(SampleDiffIds());
        }
        finally
        {
            Run("docker", ["-H", docker, "rmi", "-f", back]);
        }
    }

    [Fact]
    public void Without_a_compression_choice_gzip_blobs_pass_byte_for_byte_and_with_gzip_chosen_too()
    {
        string src = $"{Reg}/gz/src:{_tag}";
        Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", "oci", $"docker-archive:{SampleImage}", $"docker://{src}");
        Ok(Occy("--insecure", "--compression", "gzip", "process", $"registry://{src}", $"registry://{Reg}/gz/dst:{_tag}"));
        Raw($"docker://{Reg}/gz/dst:{_tag}").Should().Be(Raw($"docker://{src}"), "gzip layers already are in the chosen compression");
    }

    [Fact]
    public void A_filter_plugin_cannot_see_registry_credentials()
    {
        string seen = _dir["seen.txt"];
        var env = new Dictionary<string, string?>
        {
            ["OCCYSTRAP_PLUGIN_PATH"] = TestPlugins,
            ["OCCYSTRAP_USERNAME"] = "env-user-7731",
            ["OCCYSTRAP_PASSWORD"] = "env-secret-7731",
        };
        var r = OccyWith(env, "--insecure", "process", $"tar://{SampleImage}", $"registry://probe-user:uri-secret-7731@{Reg}/probe/x:{_tag}",
            "-f", $"credential-probe:file={seen}");
        // The push itself fails or not depending on the registry's auth (none here); what matters is what the filter saw.
        File.Exists(seen).Should().BeTrue(r.ToString());
        string text = File.ReadAllText(seen);
        text.Should().Contain("registry-access=none").And.Contain(seen, "the probe does see its own options");
        text.Should().Contain("env PATH=", "the probe does read the environment");
        text.Should().NotContain("env-secret-7731").And.NotContain("uri-secret-7731").And.NotContain("env-user-7731");

        var flags = OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_PLUGIN_PATH"] = TestPlugins },
            "--username", "flag-user-7731", "--password", "flag-secret-7731", "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}",
            "-f", $"credential-probe:file={seen}");
        Ok(flags);
        File.ReadAllText(seen).Should().NotContain("flag-secret-7731").And.NotContain("flag-user-7731").And.Contain("registry-access=none");
    }

    // Layers compressed here are gzip in members of 1 MiB of input each: every reader a user meets must take them,
    // and the deflate library in use (libdeflate, or the runtime's zlib-ng alone) changes the blobs, never the layers.

    private static bool LibDeflateInstalled =>
        File.Exists("/usr/lib/x86_64-linux-gnu/libdeflate.so.0") || File.Exists("/lib/x86_64-linux-gnu/libdeflate.so.0");

    /// <summary>A layer of 1.5 MiB of random bytes, 2 MiB of base64 text and 2 MiB of counting: a block of each kind.</summary>
    private static (byte[] Tar, Dictionary<string, string> Files) BigLayer()
    {
        var random = new byte[3 << 19];
        new Random(42).NextBytes(random);
        var textSource = new byte[3 << 19];
        new Random(43).NextBytes(textSource);
        byte[] text = Encoding.ASCII.GetBytes(Convert.ToBase64String(textSource, Base64FormattingOptions.InsertLineBreaks))[..(2 << 20)];
        var seq = new StringBuilder();
        for (int i = 1; seq.Length < 2 << 20; i++) seq.Append(i).Append('\n');
        byte[] counting = Encoding.ASCII.GetBytes(seq.ToString());
        var files = new Dictionary<string, byte[]> { ["data/random.bin"] = random, ["data/text.txt"] = text, ["data/seq.txt"] = counting };
        using var ms = new MemoryStream();
        using (var w = new Occystrap.Formats.Tar.TarArchiveWriter(ms, leaveOpen: true))
        {
            w.WriteEntry(new LayerEntry("data/", EntryKind.Directory, 0) { Mode = 0x1ED }, null);
            foreach (var (name, bytes) in files)
                w.WriteEntry(new LayerEntry(name, EntryKind.File, bytes.Length) { Mode = 0x1A4 }, new MemoryStream(bytes));
            w.Finish();
        }
        return (ms.ToArray(), files.ToDictionary(f => f.Key, f => Convert.ToHexStringLower(SHA256.HashData(f.Value))));
    }

    private int Members(string blob)
    {
        string script = _dir["members.py"];
        File.WriteAllText(script, "import sys, zlib\nd = open(sys.argv[1], 'rb').read()\nn = 0\nwhile d:\n    o = zlib.decompressobj(31)\n    o.decompress(d)\n    assert o.eof\n    d = o.unused_data\n    n += 1\nprint(n)\n");
        return int.Parse(Must("python3", script, blob).Trim());
    }

    [Fact]
    public void Layers_in_gzip_members_are_pulled_by_dockerd_and_podman_and_verified_by_skopeo_and_umoci()
    {
        var (big, files) = BigLayer();
        byte[] small = Archives.Layer((new LayerEntry("etc/motd", EntryKind.File, 6) { Mode = 0x1A4 }, "hello\n"));
        string archive = _dir["image.tar"];
        Archives.FromLayers(archive, "localhost/members/x:1", [big, small]);
        var diffIds = new[] { $"sha256:{Archives.Sha(big)}", $"sha256:{Archives.Sha(small)}" };

        string main = $"{Reg}/members/default:{_tag}", zlib = $"{Reg}/members/zlib:{_tag}";
        var r = Occy("--insecure", "--debug", "process", $"tar://{archive}", $"registry://{main}");
        Ok(r);
        if (Environment.GetEnvironmentVariable("CI") == "true") LibDeflateInstalled.Should().BeTrue("./test.sh installs libdeflate0");
        r.Stderr.Should().Contain(LibDeflateInstalled ? "deflated by libdeflate (libdeflate.so.0) level 1" : "deflated by the runtime's zlib-ng level 3");
        var z = OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_DEFLATE"] = "zlib" }, "--insecure", "--debug", "process", $"tar://{archive}", $"registry://{zlib}");
        Ok(z);
        z.Stderr.Should().Contain("deflated by the runtime's zlib-ng level 3");

        List<string> Blobs(string image) => JsonNode.Parse(Raw($"docker://{image}"))!["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()).ToList();
        if (LibDeflateInstalled) Blobs(main)[0].Should().NotBe(Blobs(zlib)[0], "libdeflate's bytes are not zlib-ng's");

        foreach (string image in new[] { main, zlib })
        {
            // skopeo checks every blob against its digest on the way; umoci unpacks the layers it wrote.
            string name = image == main ? "default" : "zlib";
            string layout = _dir[$"layout-{name}"];
            Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{image}", $"oci:{layout}:x");
            Members(Path.Combine(layout, "blobs", "sha256", Blobs(image)[0]["sha256:".Length..])).Should().Be((big.Length + (1 << 20) - 1) >> 20);
            JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", "--config", $"docker://{image}"))!["rootfs"]!["diff_ids"]!.AsArray()
                .Select(n => n!.GetValue<string>()).Should().Equal(diffIds);
            string bundle = _dir[$"bundle-{name}"];
            Must("umoci", "unpack", "--image", $"{layout}:x", bundle);
            foreach (var (file, sha) in files)
                Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(bundle, "rootfs", file)))).Should().Be(sha, file);
        }

        // dockerd decompresses each layer and checks it against its diff_id.
        string docker = Daemon("DOCKER_HOST");
        Must("docker", "-H", docker, "pull", "-q", main);
        try
        {
            JsonNode.Parse(Must("docker", "-H", docker, "image", "inspect", main))!.AsArray()[0]!["RootFS"]!["Layers"]!.AsArray()
                .Select(n => n!.GetValue<string>()).Should().Equal(diffIds);
        }
        finally
        {
            Run("docker", ["-H", docker, "rmi", "-f", main]);
        }

        // And Podman, into a store of its own.
        string store = _dir["podman"];
        string[] podman = ["--root", Path.Combine(store, "root"), "--runroot", Path.Combine(store, "run"), "--storage-driver", "vfs"];
        Must("podman", [.. podman, "pull", "-q", "--tls-verify=false", main]);
        JsonNode.Parse(Must("podman", [.. podman, "image", "inspect", main]))!.AsArray()[0]!["RootFS"]!["Layers"]!.AsArray()
            .Select(n => n!.GetValue<string>()).Should().Equal(diffIds);
    }
}
