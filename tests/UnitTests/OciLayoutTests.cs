using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Blobs;
using Occystrap.Formats.Images;
using Occystrap.Formats.Layouts;
using Occystrap.Pipeline;
using Occystrap.TestKit;

namespace Occystrap.UnitTests;

[Collection("process environment")]
public sealed class OciLayoutTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static PipelineRunner Runner => new(NullLogger.Instance, NullProgressReporter.Instance);

    private static OciLayoutWriter Writer(string folder, string refName, ManifestFormat? format = null, bool gc = false,
        LayerCompression compression = LayerCompression.Gzip, bool explicitCompression = false) =>
        new(folder, refName, format, compression, explicitCompression, 4, gc, NullLogger.Instance);

    private static async Task<PipelineSummary> Write(IImageSource source, string folder, string refName, ManifestFormat? format = null, bool gc = false)
    {
        await using var sink = Writer(folder, refName, format, gc);
        return await Runner.RunAsync(source, [], sink, RunOptions.Default, default);
    }

    private static List<string> Blobs(string folder) =>
        Directory.GetFiles(Path.Combine(folder, "blobs", "sha256")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()!;

    [Fact]
    public async Task The_blob_store_verifies_renames_into_place_and_takes_concurrent_writers_of_one_blob()
    {
        var store = BlobStore.OciLayout(_dir["store"]);
        byte[] data = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("some layer bytes\n", 50_000)));
        var digest = Digest.Compute(data);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            store.WriteAsync(async (s, ct) => { foreach (var chunk in data.Chunk(4096)) await s.WriteAsync(chunk, ct); }, digest, default))));
        results.Should().AllSatisfy(r => r.Digest.Should().Be(digest));
        results.Count(r => r.Added).Should().BeInRange(1, 8);
        File.ReadAllBytes(store.PathOf(digest)).Should().Equal(data);
        Directory.GetFiles(store.Root).Should().BeEmpty("no temporary file is left beside the store");

        var wrong = () => store.PutAsync("other"u8.ToArray(), default, Digest.Compute("expected"u8));
        (await wrong.Should().ThrowAsync<DigestMismatchException>()).WithMessage("*digest mismatch*");
        store.Contains(Digest.Compute("other"u8)).Should().BeFalse();
        Directory.GetFiles(store.Root).Should().BeEmpty();

        var sha512 = Digest.Compute(data, "sha512");
        (await store.PutAsync(data, default, sha512)).Digest.Should().Be(sha512);
        File.Exists(Path.Combine(store.Root, "blobs", "sha512", sha512.Hex)).Should().BeTrue();
    }

    [Theory]
    [InlineData(ManifestFormat.Oci)]
    [InlineData(ManifestFormat.Docker)]
    public async Task An_image_written_to_a_layout_reads_back_with_its_manifest_and_blobs_byte_for_byte(ManifestFormat format)
    {
        var source = RandomImage.Create([4000, 9000], format: format);
        var summary = await Write(source, _dir["layout"], "v1");
        summary.Commit.Manifest!.Digest.Should().Be(source.Manifest!.Descriptor.Digest);

        await using var back = OciLayoutImage.Open(_dir["layout"], "v1", PlatformChoice.Default);
        back.Manifest.Bytes.ToArray().Should().Equal(source.Manifest.Bytes.ToArray());
        back.Config.ToArray().Should().Equal(source.Config.ToArray());
        back.Layers.Select(l => l.BlobDigest).Should().Equal(source.StoredLayers.Select(l => (Digest?)l.BlobDigest));
        File.ReadAllText(Path.Combine(_dir["layout"], "oci-layout")).Should().Be("{\"imageLayoutVersion\":\"1.0.0\"}");
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir["layout"], "index.json")))!;
        index["manifests"]![0]!["annotations"]!["org.opencontainers.image.ref.name"]!.GetValue<string>().Should().Be("v1");
    }

    [Fact]
    public async Task Format_oci_converts_a_docker_manifest_and_a_source_without_manifest_becomes_oci()
    {
        var docker = RandomImage.Create([3000], format: ManifestFormat.Docker);
        var summary = await Write(docker, _dir["layout"], "converted", ManifestFormat.Oci);
        summary.Commit.Manifest!.MediaType.Should().Be(MediaTypes.OciManifest);
        summary.Commit.Manifest.Digest.Should().NotBe(docker.Manifest!.Descriptor.Digest);
        var plain = RandomImage.Create([3000], seed: 5, storedAs: LayerCompression.None, format: null);
        (await Write(plain, _dir["layout"], "plain")).Commit.Manifest!.MediaType.Should().Be(MediaTypes.OciManifest);
        await using var image = OciLayoutImage.Open(_dir["layout"], "plain", PlatformChoice.Default);
        image.Layers.Should().ContainSingle().Which.MediaType.Should().Be(MediaTypes.OciLayerGzip);
    }

    [Fact]
    public async Task Images_share_blobs_a_ref_is_replaced_and_unreferenced_blobs_go_only_when_asked()
    {
        var baseImage = RandomImage.Create([5000, 3000], seed: 1);
        var other = RandomImage.Build(ImageName.Parse("localhost/x/other:2"),
            [baseImage.StoredLayers[0], RandomImage.Create([2000], seed: 9).StoredLayers[0]], ManifestFormat.Oci);
        await Write(baseImage, _dir["layout"], "base");
        int before = Blobs(_dir["layout"]).Count;
        await Write(other, _dir["layout"], "other");
        Blobs(_dir["layout"]).Count.Should().Be(before + 3, "the shared layer is stored once; one layer, one config, one manifest are new");

        var replacement = RandomImage.Create([1000], seed: 3);
        await Write(replacement, _dir["layout"], "base");
        var refs = OciLayout.ReadIndex(_dir["layout"]).Manifests.Select(m => m.RefName).ToList();
        refs.Should().BeEquivalentTo("other", "base");
        Blobs(_dir["layout"]).Should().Contain(baseImage.StoredLayers[1].BlobDigest!.Value.Hex, "old blobs stay by default");

        await Write(replacement, _dir["layout"], "base", gc: true);
        var left = Blobs(_dir["layout"]);
        left.Should().NotContain(baseImage.StoredLayers[1].BlobDigest!.Value.Hex);
        left.Should().Contain(baseImage.StoredLayers[0].BlobDigest!.Value.Hex, "the layer 'other' still uses stays");
        await using var stillThere = OciLayoutImage.Open(_dir["layout"], "other", PlatformChoice.Default);
        stillThere.Layers.Should().HaveCount(2);
    }

    [Fact]
    public async Task Writers_in_parallel_keep_each_others_refs()
    {
        var images = Enumerable.Range(0, 6).Select(i => RandomImage.Create([2000 + i], seed: 20 + i)).ToList();
        Directory.CreateDirectory(_dir["layout"]);
        await Task.WhenAll(images.Select((image, i) => Task.Run(() => Write(image, _dir["layout"], $"r{i}"))));
        OciLayout.ReadIndex(_dir["layout"]).Manifests.Select(m => m.RefName).Should().BeEquivalentTo(Enumerable.Range(0, 6).Select(i => $"r{i}"));
    }

    [Fact]
    public async Task A_failed_write_into_a_new_folder_leaves_nothing()
    {
        byte[] tar = RandomImage.Create([3000]).StoredLayers[0].Tar;
        byte[] other = RandomImage.Create([3000], seed: 2).StoredLayers[0].Tar;
        // The blob is what the manifest says, but it decompresses to another tar than the diff_id names.
        var bad = new InMemoryLayer(0, tar, RandomImage.Compress(other, LayerCompression.Gzip), LayerCompression.Gzip, MediaTypes.OciLayerGzip);
        var source = RandomImage.Build(ImageName.Parse("localhost/x/bad:1"), [bad], ManifestFormat.Oci);
        var act = async () =>
        {
            await using var sink = Writer(_dir["new"], "bad", compression: LayerCompression.Zstd, explicitCompression: true);
            await Runner.RunAsync(source, [], sink, RunOptions.Default, default);
        };
        await act.Should().ThrowAsync<DigestMismatchException>();
        Directory.Exists(_dir["new"]).Should().BeFalse();
    }

    [Fact]
    public void A_folder_that_is_neither_empty_nor_a_layout_is_refused()
    {
        Directory.CreateDirectory(_dir["docs"]);
        File.WriteAllText(_dir["docs/readme.txt"], "mine");
        var act = () => Writer(_dir["docs"], "x");
        act.Should().Throw<OccystrapException>().WithMessage("*neither empty nor an OCI image layout*");
        Directory.GetFileSystemEntries(_dir["docs"]).Should().ContainSingle();
    }

    private async Task<string> TwoImageLayout()
    {
        await Write(RandomImage.Create([2000], seed: 1), _dir["layout"], "one");
        await Write(RandomImage.Create([2000], seed: 2), _dir["layout"], "two");
        return _dir["layout"];
    }

    [Fact]
    public async Task Reading_needs_a_ref_when_there_are_several_and_lists_them()
    {
        string layout = await TwoImageLayout();
        var none = () => OciLayoutImage.Open(layout, null, PlatformChoice.Default);
        none.Should().Throw<OccystrapException>().WithMessage("*holds 2 images; choose one with ?ref= (it has: one, two)*");
        var missing = () => OciLayoutImage.Open(layout, "three", PlatformChoice.Default);
        missing.Should().Throw<OccystrapException>().WithMessage("*no image with ref 'three' (it has: one, two)*");
    }

    [Fact]
    public async Task Broken_layouts_are_one_clear_error_each()
    {
        string layout = await TwoImageLayout();
        var index = OciLayout.ReadIndex(layout);
        var store = OciLayout.Blobs(layout);
        Action Open(string refName) => () => OciLayoutImage.Open(layout, refName, PlatformChoice.Default);

        var manifest = ImageManifest.Parse(File.ReadAllBytes(store.PathOf(index.Manifests[0].Digest)), "m");
        string layerPath = store.PathOf(manifest.Layers[0].Digest);
        byte[] layer = File.ReadAllBytes(layerPath);
        File.Delete(layerPath);
        Open("one").Should().Throw<OccystrapException>().WithMessage($"*layer 1 (blob {manifest.Layers[0].Digest}) is missing*");
        File.WriteAllBytes(layerPath, layer);

        string configPath = store.PathOf(manifest.Config.Digest);
        byte[] config = File.ReadAllBytes(configPath);
        config[^2] ^= 1;
        File.WriteAllBytes(configPath, config);
        Open("one").Should().Throw<DigestMismatchException>();

        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"2.0.0\"}");
        Open("two").Should().Throw<OccystrapException>().WithMessage("*layout version '2.0.0' is not one this tool reads*");
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");

        File.WriteAllText(Path.Combine(layout, "index.json"), "{ not json");
        Open("two").Should().Throw<OccystrapException>().WithMessage("*index.json is not valid JSON*");
    }
}
