using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;
using static Occystrap.UnitTests.ImageFixture;

namespace Occystrap.UnitTests;

public sealed class DockerArchiveImageTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly byte[] _l1 = Layer(("etc/hostname", "one\n"));
    private readonly byte[] _l2 = Layer(("usr/share/doc/readme", "two\n"), ("usr/bin/tool", "#!/bin/sh\n"));

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_the_legacy_layout()
    {
        Legacy(_dir["a.tar"], [_l1, _l2]);
        var image = DockerArchiveImage.Open(_dir["a.tar"], null);
        image.Name.ToString().Should().Be("localhost/test/img:v1");
        image.Layers.Select(l => l.DiffId.Hex).Should().Equal(Sha(_l1), Sha(_l2));
        image.Layers.Should().AllSatisfy(l => l.Compression.Should().Be(LayerCompression.None));
        ReadLayer(image.Layers[1]).Should().Equal(_l2);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public void Detects_compressed_layers_by_magic_bytes_not_by_name(string kind)
    {
        Func<byte[], byte[]> store = kind == "gzip" ? Gzip : Zstd;
        Legacy(_dir["c.tar"], [_l1, _l2], store: store);
        var image = DockerArchiveImage.Open(_dir["c.tar"], null);
        image.Layers.Should().AllSatisfy(l => l.Compression.Should().Be(kind == "gzip" ? LayerCompression.Gzip : LayerCompression.Zstd));
    }

    [Fact]
    public void Reads_an_oci_archive_with_only_index_json()
    {
        OciOnly(_dir["o.tar"], [_l1, _l2], Gzip, MediaTypes.OciLayerGzip);
        var image = DockerArchiveImage.Open(_dir["o.tar"], null);
        image.Layers.Should().HaveCount(2);
        image.Layers[0].BlobDigest!.Value.Hex.Should().Be(Sha(Gzip(_l1)));
        image.Manifest!.Descriptor.MediaType.Should().Be(MediaTypes.OciManifest);
        image.Name.IsUnnamed.Should().BeTrue("a ref that is only a tag names no repository");
    }

    [Fact]
    public void Follows_symlinked_layers_as_skopeo_writes_them()
    {
        var config = Config([_l1]);
        Archive(_dir["s.tar"],
        [
            File($"{Sha(_l1)}.tar", _l1),
            Symlink($"{new string('a', 64)}/layer.tar", $"../{Sha(_l1)}.tar"),
            File($"{Sha(config)}.json", config),
            File("manifest.json", $"[{{\"Config\":\"{Sha(config)}.json\",\"RepoTags\":[\"x/y:z\"],\"Layers\":[\"{new string('a', 64)}/layer.tar\"]}}]"),
        ]);
        ReadLayer(DockerArchiveImage.Open(_dir["s.tar"], null).Layers[0]).Should().Equal(_l1);
    }

    [Fact]
    public async Task Reads_a_gzip_compressed_archive_through_a_temporary_copy_it_removes()
    {
        Legacy(_dir["a.tar"], [_l1, _l2]);
        System.IO.File.WriteAllBytes(_dir["a.tar.gz"], Gzip(System.IO.File.ReadAllBytes(_dir["a.tar"])));
        Directory.CreateDirectory(_dir["tmp"]);
        var image = DockerArchiveImage.Open(_dir["a.tar.gz"], null, tempDir: _dir["tmp"]);
        ReadLayer(image.Layers[1]).Should().Equal(_l2);
        Directory.GetFiles(_dir["tmp"]).Should().HaveCount(1);
        await image.DisposeAsync();
        Directory.GetFiles(_dir["tmp"]).Should().BeEmpty();
    }

    [Fact]
    public void A_config_that_does_not_hash_to_its_name_is_refused()
    {
        var config = Config([_l1]);
        string wrong = new string('b', 64);
        Archive(_dir["c.tar"],
        [
            File($"{Sha(_l1)}/layer.tar", _l1),
            File($"{wrong}.json", config),
            File("manifest.json", $"[{{\"Config\":\"{wrong}.json\",\"RepoTags\":[],\"Layers\":[\"{Sha(_l1)}/layer.tar\"]}}]"),
        ]);
        var act = () => DockerArchiveImage.Open(_dir["c.tar"], null);
        act.Should().Throw<DigestMismatchException>().WithMessage($"*config {wrong}.json*");
    }

    [Fact]
    public void Picks_an_image_by_tag()
    {
        Legacy(_dir["a.tar"], [_l1], repoTag: "localhost/test/other:v7");
        DockerArchiveImage.Open(_dir["a.tar"], "localhost/test/other:v7").Name.Tag.Should().Be("v7");
        var act = () => DockerArchiveImage.Open(_dir["a.tar"], "nope:1");
        act.Should().Throw<OccystrapException>().WithMessage("*no image tagged 'nope:1'*");
    }

    [Fact]
    public void Bad_archives_give_one_clear_error()
    {
        System.IO.File.WriteAllText(_dir["text.tar"], "this is not a tar archive at all, just some words that fill up a block or so" + new string('x', 600));
        Archive(_dir["nomanifest.tar"], [File("hello.txt", "hi")]);
        Archive(_dir["badjson.tar"], [File("manifest.json", "[{not json")]);
        var config = Config([_l1]);
        Archive(_dir["missing.tar"],
        [
            File($"{Sha(config)}.json", config),
            File("manifest.json", $"[{{\"Config\":\"{Sha(config)}.json\",\"RepoTags\":[],\"Layers\":[\"gone/layer.tar\"]}}]"),
        ]);
        Legacy(_dir["full.tar"], [_l1, _l2]);
        byte[] full = System.IO.File.ReadAllBytes(_dir["full.tar"]);
        System.IO.File.WriteAllBytes(_dir["truncated.tar"], full[..(full.Length / 2)]);

        System.IO.File.WriteAllText(_dir["tiny.tar"], "abc");
        Expect("tiny.tar", "*not a tar archive: it is only 3 bytes long*");
        Expect("nothere.tar", "*no such file*");
        Expect("text.tar", "*not a tar archive*");
        Expect("nomanifest.tar", "*not a docker-save archive*");
        Expect("badjson.tar", "*manifest.json*not valid JSON*");
        Expect("missing.tar", "*names layer 'gone/layer.tar', which is not in the archive*");
        Expect("truncated.tar", "*truncated*");
    }

    private void Expect(string name, string message)
    {
        var act = () => DockerArchiveImage.Open(_dir[name], null);
        act.Should().Throw<OccystrapException>().WithMessage(message);
    }

    private static byte[] ReadLayer(ISourceLayer layer)
    {
        using var s = layer.OpenAsync(default).Result;
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
