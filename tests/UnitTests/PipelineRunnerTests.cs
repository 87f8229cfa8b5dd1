using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;
using Occystrap.Pipeline;
using static Occystrap.UnitTests.ImageFixture;

namespace Occystrap.UnitTests;

[Collection("process environment")]
public sealed class PipelineRunnerTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly byte[] _l1 = Layer(("etc/hostname", "one\n"));
    private readonly byte[] _l2 = Layer(("usr/bin/tool", "#!/bin/sh\n"), ("usr/share/doc/readme", "two\n"));

    public void Dispose() => _dir.Dispose();

    private static async Task Run(string from, string to, params IImageFilter[] filters)
    {
        await using var source = DockerArchiveImage.Open(from, null);
        await using var sink = new DockerArchiveWriter(to);
        await new PipelineRunner(NullLogger.Instance, NullProgressReporter.Instance).RunAsync(source, filters, sink, default);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task Copies_an_image_with_the_same_diff_ids_whatever_the_stored_compression(string kind)
    {
        Func<byte[], byte[]>? store = kind switch { "gzip" => Gzip, "zstd" => Zstd, _ => null };
        Legacy(_dir["in.tar"], [_l1, _l2], store: store);
        await Run(_dir["in.tar"], _dir["out.tar"]);
        var output = DockerArchiveImage.Open(_dir["out.tar"], null);
        output.Name.ToString().Should().Be("localhost/test/img:v1");
        output.Layers.Select(l => l.DiffId.Hex).Should().Equal(Sha(_l1), Sha(_l2));
        output.Layers.Should().AllSatisfy(l => l.Compression.Should().Be(LayerCompression.None));
        output.Config.ToArray().Should().Equal(DockerArchiveImage.Open(_dir["in.tar"], null).Config.ToArray());
    }

    [Fact]
    public async Task Output_is_byte_reproducible()
    {
        Legacy(_dir["in.tar"], [_l1, _l2], store: Gzip);
        await Run(_dir["in.tar"], _dir["a.tar"], new DropDocs());
        await Run(_dir["in.tar"], _dir["b.tar"], new DropDocs());
        System.IO.File.ReadAllBytes(_dir["a.tar"]).Should().Equal(System.IO.File.ReadAllBytes(_dir["b.tar"]));
    }

    [Fact]
    public async Task A_rewritten_layer_gets_a_new_diff_id_in_the_config_and_the_untouched_one_keeps_its_own()
    {
        Legacy(_dir["in.tar"], [_l1, _l2]);
        await Run(_dir["in.tar"], _dir["out.tar"], new DropDocs());
        var output = DockerArchiveImage.Open(_dir["out.tar"], null);
        output.Layers[0].DiffId.Hex.Should().Be(Sha(_l1));
        output.Layers[1].DiffId.Hex.Should().NotBe(Sha(_l2));
        ImageConfig.DiffIdsOf(output.Config).Should().Equal(output.Layers.Select(l => l.DiffId));
        using var layer = await output.Layers[1].OpenAsync(default);
        using var reader = new Formats.Tar.TarArchiveReader(layer);
        var names = new List<string>();
        while (reader.Next() is { } r) names.Add(r.Entry.Path);
        names.Should().Equal("usr/bin/tool");
    }

    [Fact]
    public async Task A_layer_listed_twice_is_stored_once()
    {
        Legacy(_dir["in.tar"], [_l1, _l2, _l1]);
        await Run(_dir["in.tar"], _dir["out.tar"]);
        var index = ArchiveIndex.Build(_dir["out.tar"]);
        index.Names.Count(n => n.EndsWith("layer.tar", StringComparison.Ordinal)).Should().Be(2);
        DockerArchiveImage.Open(_dir["out.tar"], null).Layers.Select(l => l.DiffId.Hex).Should().Equal(Sha(_l1), Sha(_l2), Sha(_l1));
    }

    [Fact]
    public async Task A_layer_whose_bytes_do_not_match_its_diff_id_fails_and_leaves_no_output()
    {
        Legacy(_dir["in.tar"], [_l1, _l2], store: l => l == _l2 ? Layer(("usr/bin/tool", "tampered")) : l);
        var act = () => Run(_dir["in.tar"], _dir["out.tar"]);
        (await act.Should().ThrowAsync<DigestMismatchException>()).WithMessage($"*layer 2/2*expected sha256:{Sha(_l2)}*");
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Should().Equal("in.tar");
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task Corrupt_compressed_layers_name_the_layer_and_leave_no_output(string kind)
    {
        byte[] big = Layer(("usr/share/data", string.Concat(Enumerable.Range(0, 20000).Select(i => $"line {i} of some text\n"))));
        byte[] Corrupt(byte[] l)
        {
            byte[] c = kind == "gzip" ? Gzip(l) : Zstd(l);
            for (int i = c.Length / 3; i < c.Length / 3 + 64; i++) c[i] ^= 0x5A;
            return c;
        }
        Legacy(_dir["in.tar"], [_l1, big], store: l => l == big ? Corrupt(l) : l);
        var act = () => Run(_dir["in.tar"], _dir["out.tar"]);
        (await act.Should().ThrowAsync<OccystrapException>()).WithMessage("*layer 2/2*");
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Should().Equal("in.tar");
    }

    private sealed class DropDocs : IImageFilter, ILayerEntryFilter
    {
        public ILayerEntryFilter? ForLayer(LayerInfo layer) => this;

        public EntryAction Process(LayerEntry entry) =>
            entry.Path.StartsWith("usr/share/doc/", StringComparison.Ordinal) ? EntryAction.Drop : EntryAction.Keep;
    }
}
