using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using static Occystrap.IntegrationTests.FolderTests;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>check on broken fixtures: each check fires where it should, all findings are reported, and good images pass.</summary>
public sealed class CheckTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    private static JsonNode Json(Result r) => JsonNode.Parse(r.Stdout)!;

    private static List<string> Ids(JsonNode report, string severity) =>
        report["findings"]!.AsArray().Where(f => f!["severity"]!.GetValue<string>() == severity).Select(f => f!["check"]!.GetValue<string>()).ToList();

    [Fact]
    public void A_good_image_passes_in_both_modes()
    {
        foreach (string mode in new[] { "--fast", "" })
        {
            var r = Occy(["-O", "json", "check", .. mode.Length > 0 ? new[] { mode } : [], $"tar://{SampleImage}"]);
            r.Code.Should().Be(0, r.ToString());
            Json(r)["errors"]!.GetValue<int>().Should().Be(0);
            Json(r)["warnings"]!.GetValue<int>().Should().Be(0);
        }
        Occy("check", $"tar://{SampleImage}").Stdout.Should().Contain("Check complete (full): 0 error(s), 0 warning(s)");
    }

    [Fact]
    public void Hostile_and_malformed_entries_are_all_reported_not_just_the_first()
    {
        var bad = Archives.Layer(
            F("../escape", "x"),
            E(new LayerEntry("link", EntryKind.Symlink, 0) { LinkTarget = "../../etc", Mode = 0x1FF, ModificationTime = DateTimeOffset.UnixEpoch }),
            E(new LayerEntry("hard", EntryKind.HardLink, 0) { LinkTarget = "../outside", ModificationTime = DateTimeOffset.UnixEpoch }),
            E(new LayerEntry("dir/.wh.", EntryKind.File, 0) { ModificationTime = DateTimeOffset.UnixEpoch }),
            F("old", "o", time: DateTimeOffset.FromUnixTimeSeconds(-100)),
            F("suid", "s", mode: 0xDFF),
            F("dup", "again"));
        Archives.FromLayers(_dir["bad.tar"], "occy/bad:1", [Archives.Layer(F("dup", "first")), bad, Archives.Layer()],
            new JsonObject { ["ArgsEscaped"] = true });
        var r = Occy("-O", "json", "check", $"tar://{_dir["bad.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        var report = Json(r);
        Ids(report, "error").Should().Contain(["path-traversal", "symlink-escape", "hardlink-escape", "whiteout", "tar-timestamp"]);
        Ids(report, "warning").Should().Contain(["tar-permissions", "args-escaped"]);
        Ids(report, "info").Should().Contain(["duplicate-file", "empty-layer", "history-count"]);
        report["findings"]!.AsArray().First(f => f!["check"]!.GetValue<string>() == "path-traversal")!["layer"]!.GetValue<int>().Should().Be(1);

        // Fast mode reads no layer: only the metadata findings.
        var fast = Json(Occy("-O", "json", "check", "--fast", $"tar://{_dir["bad.tar"]}"));
        Ids(fast, "error").Should().BeEmpty();
        Ids(fast, "warning").Should().Equal("args-escaped");
    }

    [Fact]
    public void A_flipped_byte_a_layer_that_is_not_a_tar_and_an_unreadable_source_are_findings()
    {
        var good = Archives.Layer(F("a", new string('a', 3000)));
        var notTar = "this is not a tar archive at all, only text"u8.ToArray();
        Archives.FromLayers(_dir["img.tar"], "occy/broken:1", [good, notTar, good[..700]]);
        // Flip a byte inside the first layer's content, after the archive is written.
        byte[] archive = File.ReadAllBytes(_dir["img.tar"]);
        int at = archive.AsSpan().IndexOf("aaaaaaaaaa"u8);
        archive[at] = (byte)'b';
        File.WriteAllBytes(_dir["img.tar"], archive);

        var r = Occy("-O", "json", "check", $"tar://{_dir["img.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        var findings = Json(r)["findings"]!.AsArray().Select(f => (f!["check"]!.GetValue<string>(), f["layer"]?.GetValue<int>())).ToList();
        findings.Should().Contain(("diff-id", 0), "the flipped byte");
        findings.Should().Contain(("tar-format", 1), "text is not a tar");
        findings.Should().Contain(("tar-format", 2), "the layer stops inside a file");

        var missing = Occy("-O", "json", "check", $"tar://{_dir["nothing.tar"]}");
        missing.Code.Should().Be(1);
        Json(missing)["findings"]![0]!["check"]!.GetValue<string>().Should().Be("source");
    }

    [Fact]
    public void A_history_that_disagrees_with_the_layers_and_a_count_mismatch_are_errors()
    {
        Archives.WithConfig(SampleImage, _dir["history.tar"], "occy/history:1", c => c["history"]!.AsArray().RemoveAt(0));
        var r = Occy("-O", "json", "check", "--fast", $"tar://{_dir["history.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        Ids(Json(r), "error").Should().Equal("history-count");

        Archives.WithConfig(SampleImage, _dir["count.tar"], "occy/count:1",
            c => c["rootfs"]!["diff_ids"]!.AsArray().Add("sha256:" + new string('0', 64)));
        var count = Occy("-O", "json", "check", $"tar://{_dir["count.tar"]}");
        count.Code.Should().Be(1, count.ToString());
        var findings = Json(count)["findings"]!.AsArray();
        var finding = findings.Should().ContainSingle(f => f!["check"]!.GetValue<string>() == "layer-count", count.Stdout).Which!;
        finding["message"]!.GetValue<string>().Should().Contain("lists 2 layers but the config has 3 diff_ids");
        // The check went on past it: the layers there are were read, and nothing else is wrong with them.
        Ids(Json(count), "error").Should().Equal("layer-count");
    }

    /// <summary>An OCI layout of the sample image, to break by hand.</summary>
    private string Layout()
    {
        string layout = _dir["layout"];
        Occy("process", $"tar://{SampleImage}", $"oci-layout://{layout}").Code.Should().Be(0);
        return layout;
    }

    private static string BlobPath(string layout, string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>Edits the layout's manifest and stores it again under its new digest, with index.json pointing at it.</summary>
    private static void EditManifest(string layout, Action<JsonObject> edit)
    {
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(layout, "index.json")))!;
        var entry = index["manifests"]![0]!;
        var manifest = JsonNode.Parse(File.ReadAllBytes(BlobPath(layout, entry["digest"]!.GetValue<string>())))!.AsObject();
        edit(manifest);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString());
        string digest = "sha256:" + Archives.Sha(bytes);
        File.WriteAllBytes(BlobPath(layout, digest), bytes);
        entry["digest"] = digest;
        entry["size"] = bytes.Length;
        File.WriteAllText(Path.Combine(layout, "index.json"), index.ToJsonString());
    }

    [Fact]
    public void A_config_that_disagrees_with_its_digest_or_size_is_reported_and_the_check_goes_on()
    {
        string layout = Layout();
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(layout, "index.json")))!["manifests"]![0]!["digest"]!.GetValue<string>();
        string configDigest = JsonNode.Parse(File.ReadAllBytes(BlobPath(layout, manifest)))!["config"]!["digest"]!.GetValue<string>();
        // A space after the JSON: still a valid config, but other bytes than its digest and size name.
        File.AppendAllText(BlobPath(layout, configDigest), " ");
        var r = Occy("-O", "json", "check", $"oci-layout://{layout}");
        r.Code.Should().Be(1, r.ToString());
        Ids(Json(r), "error").Should().Equal(["config-digest", "config-size"], r.Stdout);
        Ids(Json(r), "info").Should().Contain("media-type", "the metadata checks still ran");
        // Without check, the same layout is refused.
        Occy("process", $"oci-layout://{layout}", $"tar://{_dir["x.tar"]}").Code.Should().Be(1);

        string sized = _dir["sized"];
        Occy("process", $"tar://{SampleImage}", $"oci-layout://{sized}").Code.Should().Be(0);
        EditManifest(sized, m => m["config"]!["size"] = m["config"]!["size"]!.GetValue<long>() + 5);
        var s = Occy("-O", "json", "check", $"oci-layout://{sized}");
        s.Code.Should().Be(1, s.ToString());
        Ids(Json(s), "error").Should().Equal(["config-size"], s.Stdout);
    }

    [Fact]
    public void A_manifest_without_a_config_descriptor_is_its_own_finding()
    {
        string layout = Layout();
        EditManifest(layout, m => m.Remove("config"));
        var r = Occy("-O", "json", "check", "--fast", $"oci-layout://{layout}");
        r.Code.Should().Be(1, r.ToString());
        Ids(Json(r), "error").Should().Equal("config-descriptor");
    }

    [Fact]
    public void A_layer_over_1_GB_compressed_is_a_warning_in_fast_mode()
    {
        string layout = Layout();
        EditManifest(layout, m => m["layers"]![1]!["size"] = 1_500_000_000L);
        var r = Occy("-O", "json", "check", "--fast", $"oci-layout://{layout}");
        r.Code.Should().Be(0, r.ToString());
        var report = Json(r);
        Ids(report, "warning").Should().Equal("large-layer");
        report["findings"]!.AsArray().Single(f => f!["check"]!.GetValue<string>() == "large-layer")!["layer"]!.GetValue<int>().Should().Be(1);
        Ids(report, "error").Should().BeEmpty();
    }

    [Fact]
    public void Fast_mode_on_a_registry_reads_one_config_and_warns_about_zstd()
    {
        string reg = registry.Server.Address;
        Occy("--insecure", "--compression", "zstd", "process", $"tar://{SampleImage}", $"registry://{reg}/occy/zstd:{_tag}").Code.Should().Be(0);
        using var proxy = new FaultProxy(reg);
        var r = Occy("--insecure", "-O", "json", "check", "--fast", $"registry://{proxy.Address}/occy/zstd:{_tag}");
        r.Code.Should().Be(0, r.ToString());
        Ids(Json(r), "warning").Should().Contain("zstd-compat");
        proxy.BlobGets.Should().ContainSingle("only the config, no layer");

        var full = Occy("--insecure", "-O", "json", "check", $"registry://{reg}/occy/zstd:{_tag}");
        full.Code.Should().Be(0, full.ToString());
        Ids(Json(full), "error").Should().BeEmpty();
    }
}
