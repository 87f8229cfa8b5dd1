using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>One plain registry shared by the tests of a class.</summary>
public sealed class PlainRegistry : IDisposable
{
    public RegistryServer Server { get; } = RegistryServer.Start();

    public void Dispose() => Server.Dispose();
}

/// <summary>registry:// in and out against the real docker-registry, with skopeo as the oracle.</summary>
public sealed class RegistryTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];
    private string Reg => registry.Server.Address;

    public void Dispose() => _dir.Dispose();

    private static List<string> DiffIds(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    private static JsonNode Skopeo(params string[] args) => JsonNode.Parse(Must("skopeo", ["inspect", "--tls-verify=false", .. args]))!;

    private static List<string> ConfigDiffIds(string image, params string[] extra) =>
        Skopeo([.. extra, "--config", image])["rootfs"]!["diff_ids"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    private static void Ok(Result r) => r.Code.Should().Be(0, r.ToString());

    [Fact]
    public void A_docker_archive_pushed_to_a_registry_is_a_docker_v2_image_with_the_same_layers()
    {
        Ok(Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/push:{_tag}"));
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/push:{_tag}"))!;
        raw["mediaType"]!.GetValue<string>().Should().Be("application/vnd.docker.distribution.manifest.v2+json");
        raw["layers"]!.AsArray().Should().AllSatisfy(l => l!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.docker.image.rootfs.diff.tar.gzip"));
        ConfigDiffIds($"docker://{Reg}/occy/push:{_tag}").Should().Equal(DiffIds(SampleImage));
        Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{Reg}/occy/push:{_tag}", $"docker-archive:{_dir["back.tar"]}:x/y:z");
        DiffIds(_dir["back.tar"]).Should().Equal(DiffIds(SampleImage));
    }

    [Theory]
    [InlineData("v2s2")]
    [InlineData("oci")]
    public void An_image_skopeo_pushed_comes_back_as_a_docker_archive(string format)
    {
        string image = $"docker://{Reg}/occy/skopeo-{format}:{_tag}";
        Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", format, $"docker-archive:{SampleImage}", image);
        Ok(Occy("--insecure", "process", $"registry://{Reg}/occy/skopeo-{format}:{_tag}", $"tar://{_dir["out.tar"]}"));
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        DockerArchiveImage.Open(_dir["out.tar"], null).Name.ToString().Should().Be($"{Reg}/occy/skopeo-{format}:{_tag}");
    }

    [Fact]
    public void A_digest_reference_pulls_exactly_that_manifest()
    {
        Ok(Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/bydigest:{_tag}"));
        string digest = Skopeo($"docker://{Reg}/occy/bydigest:{_tag}")["Digest"]!.GetValue<string>();
        Ok(Occy("--insecure", "process", $"registry://{Reg}/occy/bydigest@{digest}", $"tar://{_dir["out.tar"]}?name=x/y:z"));
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        var r = Occy("--insecure", "process", $"registry://{Reg}/occy/bydigest@sha256:{new string('0', 64)}", $"tar://{_dir["no.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("not found").And.Contain(Reg);
        File.Exists(_dir["no.tar"]).Should().BeFalse();
    }

    [Fact]
    public void Registry_to_registry_reuses_blobs_and_keeps_the_manifest_format()
    {
        Must("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", "oci", $"docker-archive:{SampleImage}", $"docker://{Reg}/occy/src-oci:{_tag}");
        Ok(Occy("--insecure", "process", $"registry://{Reg}/occy/src-oci:{_tag}", $"registry://{Reg}/occy/dst-oci:{_tag}"));
        var source = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/src-oci:{_tag}"))!;
        var copy = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/dst-oci:{_tag}"))!;
        copy["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.manifest.v1+json");
        copy["layers"]!.ToJsonString().Should().Be(source["layers"]!.ToJsonString(), "untouched layers keep their compressed bytes");
    }

    [Fact]
    public void A_filtered_push_with_zstd_is_an_oci_image_that_skopeo_reads_back()
    {
        Ok(Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/src:{_tag}"));
        var r = Occy("--insecure", "--compression", "zstd", "process", $"registry://{Reg}/occy/src:{_tag}", $"registry://{Reg}/occy/zstd:{_tag}", "-f", "normalize-timestamps");
        Ok(r);
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/zstd:{_tag}"))!;
        raw["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.manifest.v1+json");
        raw["layers"]!.AsArray().Should().AllSatisfy(l => l!["mediaType"]!.GetValue<string>().Should().Be("application/vnd.oci.image.layer.v1.tar+zstd"));
        // skopeo fetches and verifies the blobs; the zstd tool decodes them; the config must name what they decode to.
        Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{Reg}/occy/zstd:{_tag}", $"oci:{_dir["layout"]}:x");
        var decoded = raw["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()["sha256:".Length..])
            .Select(hex => "sha256:" + Must("bash", "-c", $"zstd -dc {_dir["layout"]}/blobs/sha256/{hex} | sha256sum | cut -d' ' -f1").Trim()).ToList();
        ConfigDiffIds($"docker://{Reg}/occy/zstd:{_tag}").Should().Equal(decoded).And.NotIntersectWith(DiffIds(SampleImage));
        var ours = Occy("--insecure", "process", $"registry://{Reg}/occy/zstd:{_tag}", $"tar://{_dir["ours.tar"]}");
        Ok(ours);
        DiffIds(_dir["ours.tar"]).Should().Equal(decoded);
    }

    private void PushPlatformImages(string repo)
    {
        Archives.WithConfig(SampleImage, _dir["arm64.tar"], "x/arm:1", c =>
        {
            c["architecture"] = "arm64";
            c["variant"] = "v8";
        });
        Ok(Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/{repo}:amd64"));
        Ok(Occy("--insecure", "process", $"tar://{_dir["arm64.tar"]}", $"registry://{Reg}/{repo}:arm64"));
    }

    private void PutIndex(string repo, string tag, string mediaType, string childType, params (string Tag, string Arch, string? Variant)[] children)
    {
        using var http = new HttpClient();
        var manifests = new JsonArray();
        foreach (var (childTag, arch, variant) in children)
        {
            var response = http.Send(new HttpRequestMessage(HttpMethod.Get, $"http://{Reg}/v2/{repo}/manifests/{childTag}")
            {
                Headers = { { "Accept", "application/vnd.docker.distribution.manifest.v2+json" } },
            });
            byte[] body = response.Content.ReadAsByteArrayAsync().Result;
            var platform = new JsonObject { ["architecture"] = arch, ["os"] = "linux" };
            if (variant is not null) platform["variant"] = variant;
            manifests.Add(new JsonObject { ["mediaType"] = childType, ["digest"] = "sha256:" + Archives.Sha(body), ["size"] = body.Length, ["platform"] = platform });
        }
        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = mediaType, ["manifests"] = manifests };
        var content = new StringContent(index.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
        http.Send(new HttpRequestMessage(HttpMethod.Put, $"http://{Reg}/v2/{repo}/manifests/{tag}") { Content = content }).StatusCode.Should().Be(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData("application/vnd.docker.distribution.manifest.list.v2+json")]
    [InlineData("application/vnd.oci.image.index.v1+json")]
    public void The_platform_is_chosen_from_a_manifest_list_or_index(string indexType)
    {
        string repo = $"occy/multi{_tag}";
        PushPlatformImages(repo);
        PutIndex(repo, "multi", indexType, "application/vnd.docker.distribution.manifest.v2+json", ("amd64", "amd64", null), ("arm64", "arm64", "v8"));

        Ok(Occy("--insecure", "process", $"registry://{Reg}/{repo}:multi", $"tar://{_dir["amd.tar"]}"));
        ArchOf(_dir["amd.tar"]).Should().Be("amd64");
        Ok(Occy("--insecure", "--architecture", "arm64", "process", $"registry://{Reg}/{repo}:multi", $"tar://{_dir["arm.tar"]}"));
        ArchOf(_dir["arm.tar"]).Should().Be("arm64");
        Ok(Occy("--insecure", "process", $"registry://{Reg}/{repo}:multi?arch=arm64&variant=v8", $"tar://{_dir["arm2.tar"]}"));
        ArchOf(_dir["arm2.tar"]).Should().Be("arm64");

        var r = Occy("--insecure", "--architecture", "s390x", "process", $"registry://{Reg}/{repo}:multi", $"tar://{_dir["none.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("no image for linux/s390x").And.Contain("linux/amd64").And.Contain("linux/arm64/v8");
    }

    private static string ArchOf(string archive) =>
        JsonNode.Parse(DockerArchiveImage.Open(archive, null).Config.Span)!["architecture"]!.GetValue<string>();

    [Fact]
    public void An_unknown_image_or_tag_is_one_clear_error_naming_the_registry()
    {
        var r = Occy("--insecure", "process", $"registry://{Reg}/occy/never-pushed:{_tag}", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Trim().Split('\n').Where(l => l.Contains("error:")).Should().ContainSingle()
            .Which.Should().Contain(Reg).And.Contain("occy/never-pushed").And.Contain("not found");
        _dir.Files.Should().BeEmpty();
    }

    [Fact]
    public void A_blob_whose_bytes_do_not_match_its_digest_fails_and_leaves_nothing()
    {
        Ok(Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/corrupt:{_tag}"));
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/corrupt:{_tag}"))!;
        string hex = raw["layers"]![0]!["digest"]!.GetValue<string>()["sha256:".Length..];
        string data = Path.Combine(registry.Server.Storage, "docker/registry/v2/blobs/sha256", hex[..2], hex, "data");
        byte[] original = File.ReadAllBytes(data);
        try
        {
            byte[] bad = (byte[])original.Clone();
            bad[^5] ^= 0xFF;
            File.WriteAllBytes(data, bad);
            var r = Occy("--insecure", "process", $"registry://{Reg}/occy/corrupt:{_tag}", $"tar://{_dir["x.tar"]}");
            r.Code.Should().Be(1, r.ToString());
            r.Stderr.Should().MatchRegex("digest mismatch|corrupt");
            _dir.Files.Should().BeEmpty();
            // Copied as stored to another registry, the blob is verified once, as it streams: the copy fails, and
            // the destination has neither the tag nor a blob under the claimed digest.
            using var other = RegistryServer.Start("none");
            var copy = Occy("--insecure", "process", $"registry://{Reg}/occy/corrupt:{_tag}", $"registry://{other.Address}/occy/copy:{_tag}");
            copy.Code.Should().Be(1, copy.ToString());
            copy.Stderr.Should().Contain("digest mismatch");
            Run("skopeo", ["inspect", "--raw", "--tls-verify=false", $"docker://{other.Address}/occy/copy:{_tag}"]).Code.Should().NotBe(0);
            Directory.Exists(Path.Combine(other.Storage, "docker/registry/v2/blobs/sha256", hex[..2], hex)).Should().BeFalse();
        }
        finally
        {
            File.WriteAllBytes(data, original);
        }
    }

    [Fact]
    public void Transfers_complete_through_resets_500s_and_429s_and_match_what_skopeo_sees()
    {
        Archives.Random(_dir["big.tar"], "x/big:1", 3_000_000, 2_000_000);
        Ok(Occy("--insecure", "process", $"tar://{_dir["big.tar"]}", $"registry://{Reg}/occy/faults:{_tag}"));

        using (var resets = new FaultProxy(Reg, resetBlobs: 2, resetAfterBytes: 700_000))
        {
            var r = Occy("--insecure", "process", $"registry://{resets.Address}/occy/faults:{_tag}", $"tar://{_dir["a.tar"]}");
            Ok(r);
            resets.Resets.Should().Be(2);
            resets.RangeRequests.Should().NotBeEmpty("a broken download resumes with Range");
        }
        using (var errors = new FaultProxy(Reg, failFirst: 3, failStatus: HttpStatusCode.InternalServerError))
        {
            Ok(Occy("--insecure", "process", $"registry://{errors.Address}/occy/faults:{_tag}", $"tar://{_dir["b.tar"]}"));
            errors.Failures.Should().Be(3);
        }
        using (var limited = new FaultProxy(Reg, failFirst: 1, failStatus: HttpStatusCode.TooManyRequests, retryAfterSeconds: 1))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var r = Occy("--insecure", "process", $"registry://{limited.Address}/occy/faults:{_tag}", $"tar://{_dir["c.tar"]}");
            Ok(r);
            clock.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(1), "Retry-After is honoured");
            r.Stderr.Should().Contain("429");
        }
        Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{Reg}/occy/faults:{_tag}", $"docker-archive:{_dir["skopeo.tar"]}:x/y:z");
        foreach (string f in new[] { "a.tar", "b.tar", "c.tar" }) DiffIds(_dir[f]).Should().Equal(DiffIds(_dir["skopeo.tar"]));
    }

    private List<string> LayerBlobs(string image) =>
        JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", image))!["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()).ToList();

    [Fact]
    public void The_layer_cache_skips_shared_layers_and_distrusts_blobs_the_registry_lost()
    {
        Archives.Random(_dir["a.tar"], "x/a:1", 2_000_000, 1_000_000, 300_000);
        Archives.Random(_dir["b.tar"], "x/b:1", 2_000_000, 1_000_000, 400_000);
        Ok(Occy("--insecure", "process", $"tar://{_dir["a.tar"]}", $"registry://{Reg}/src/a:{_tag}"));
        Ok(Occy("--insecure", "process", $"tar://{_dir["b.tar"]}", $"registry://{Reg}/src/b:{_tag}"));
        var sourceB = LayerBlobs($"docker://{Reg}/src/b:{_tag}");
        string cache = _dir["cache.json"];
        using var proxy = new FaultProxy(Reg);
        int LayerGets() { lock (proxy.BlobGets) return proxy.BlobGets.Count(p => sourceB.Any(d => p.EndsWith(d, StringComparison.Ordinal))); }

        Result Push(string from, string to) => Occy("--insecure", "--layer-cache", cache, "process",
            $"registry://{proxy.Address}/{from}:{_tag}", $"registry://{Reg}/{to}:{_tag}", "-f", "normalize-timestamps");
        Ok(Push("src/a", "dst/a"));
        File.Exists(cache).Should().BeTrue();
        int before = LayerGets();
        var second = Push("src/b", "dst/b");
        Ok(second);
        (LayerGets() - before).Should().Be(1, "only the layer B does not share with A is fetched");
        second.Stderr.Should().Contain("2 from the layer cache");

        // The same pipeline without the cache gives the same image.
        Ok(Occy("--insecure", "process", $"registry://{Reg}/src/b:{_tag}", $"registry://{Reg}/dst/fresh:{_tag}", "-f", "normalize-timestamps"));
        ConfigDiffIds($"docker://{Reg}/dst/b:{_tag}").Should().Equal(ConfigDiffIds($"docker://{Reg}/dst/fresh:{_tag}"));
        LayerBlobs($"docker://{Reg}/dst/b:{_tag}").Should().Equal(LayerBlobs($"docker://{Reg}/dst/fresh:{_tag}"));

        // A blob the registry lost (from both repositories it was linked into) is not trusted: the layer is processed again.
        string lost = LayerBlobs($"docker://{Reg}/dst/b:{_tag}")[0];
        using (var http = new HttpClient())
            foreach (string repo in new[] { "dst/a", "dst/b" })
                http.Send(new HttpRequestMessage(HttpMethod.Delete, $"http://{Reg}/v2/{repo}/blobs/{lost}")).StatusCode.Should().Be(HttpStatusCode.Accepted);
        before = LayerGets();
        Ok(Push("src/b", "dst/b"));
        (LayerGets() - before).Should().Be(1);
        Must("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{Reg}/dst/b:{_tag}", $"docker-archive:{_dir["check.tar"]}:x/y:z");
        DiffIds(_dir["check.tar"]).Should().Equal(ConfigDiffIds($"docker://{Reg}/dst/fresh:{_tag}"));
    }

    [Fact]
    public void The_layer_cache_file_survives_processes_that_share_it()
    {
        string cache = _dir["shared-cache.json"];
        var runs = Enumerable.Range(0, 3).Select(n => Task.Run(() =>
        {
            Archives.Random(_dir[$"p{n}.tar"], $"x/p{n}:1", 100_000 + n);
            return Occy("--insecure", "--layer-cache", cache, "process", $"tar://{_dir[$"p{n}.tar"]}", $"registry://{Reg}/par/p{n}:{_tag}");
        })).ToArray();
        Task.WaitAll(runs);
        runs.Should().AllSatisfy(t => t.Result.Code.Should().Be(0));
        JsonNode.Parse(File.ReadAllText(cache))!["layers"]!.AsObject().Count.Should().Be(3, "no process lost another's entry");
    }

    [Fact]
    public void A_registry_that_keeps_failing_gives_up_with_one_line()
    {
        using var broken = new FaultProxy(Reg, failFirst: 1000, failStatus: HttpStatusCode.InternalServerError);
        var r = Occy("--insecure", "process", $"registry://{broken.Address}/occy/anything:{_tag}", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("500");
        _dir.Files.Should().BeEmpty();
    }
}
