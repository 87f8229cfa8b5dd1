using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;
using Occystrap.Formats.Tar;
using Occystrap.Pipeline;
using Occystrap.TestKit;
using static Occystrap.UnitTests.ImageFixture;

namespace Occystrap.UnitTests;

/// <summary>Hostile input found by review: each case failed (or was accepted) before its fix.</summary>
public sealed class HardeningTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A ustar header block with the given raw fields and a correct checksum.</summary>
    private static byte[] Header(string name, char type, byte[]? size = null, byte[]? mtime = null)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(h, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
        (size ?? Encoding.ASCII.GetBytes("00000000000\0")).CopyTo(h, 124);
        (mtime ?? Encoding.ASCII.GetBytes("00000000000\0")).CopyTo(h, 136);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(h, 257);
        for (int i = 148; i < 156; i++) h[i] = (byte)' ';
        int sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        return h;
    }

    private static byte[] Octal(long value, int width = 12) => Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(width - 1, '0') + "\0");

    /// <summary>A PAX extended header holding <paramref name="records"/> (each "key=value"), then a file entry.</summary>
    private static byte[] WithPax(params string[] records) => WithRawPax(string.Concat(records.Select(PaxRecord)));

    private static string PaxRecord(string record)
    {
        // The length counts itself: find the fixed point.
        int n = record.Length + 3;
        while ($"{n} {record}\n".Length != n) n = $"{n} {record}\n".Length;
        return $"{n} {record}\n";
    }

    private static byte[] WithRawPax(string pax)
    {
        byte[] body = Encoding.UTF8.GetBytes(pax);
        using var ms = new MemoryStream();
        ms.Write(Header("PaxHeaders/f", 'x', Octal(body.Length)));
        ms.Write(body);
        ms.Write(new byte[(512 - body.Length % 512) % 512]);
        ms.Write(Header("f", '0'));
        ms.Write(new byte[1024]);
        return ms.ToArray();
    }

    private static void ReadAll(byte[] tar)
    {
        using var reader = new TarArchiveReader(new MemoryStream(tar));
        while (reader.Next() is { } r) r.Data.CopyTo(Stream.Null);
    }

    public static TheoryData<string, byte[], string> BadTars() => new()
    {
        { "negative PAX size", WithPax("size=-5"), "negative size" },
        { "PAX record length of 2147483647", WithRawPax(PaxRecord("a=b") + "2147483647 path=x\n"), "malformed PAX" },
        { "PAX mtime of 99999999999999", WithPax("mtime=99999999999999"), "outside the years 1 to 9999" },
        { "base-256 mtime", Header("f", '0', mtime: [0x80, 0, 0, 0, 0, 0, 0, 0x7F, 0, 0, 0, 0]), "outside the years 1 to 9999" },
        { "base-256 size that overflows", Header("f", '0', size: [0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), "out of range" },
        { "negative PAX uid", WithPax("uid=-1"), "negative owner" },
    };

    [Theory]
    [MemberData(nameof(BadTars))]
    public void A_hostile_tar_header_is_one_clear_format_error(string _, byte[] tar, string says)
    {
        var act = () => ReadAll(tar);
        act.Should().Throw<TarFormatException>().WithMessage($"*{says}*");
    }

    /// <summary>A PAX global header (<paramref name="records"/>), then <paramref name="files"/> empty files.</summary>
    private static byte[] WithGlobalPax(int files, params string[] records)
    {
        byte[] body = Encoding.UTF8.GetBytes(string.Concat(records.Select(PaxRecord)));
        using var ms = new MemoryStream();
        ms.Write(Header("pax_global_header", 'g', Octal(body.Length)));
        ms.Write(body);
        ms.Write(new byte[(512 - body.Length % 512) % 512]);
        for (int i = 0; i < files; i++) ms.Write(Header($"f{i}", '0'));
        ms.Write(new byte[1024]);
        return ms.ToArray();
    }

    private sealed class DropFirst : ILayerEntryFilter
    {
        private bool _dropped;
        public EntryAction Process(LayerEntry entry)
        {
            entry.Mode = 0x1ED;
            if (_dropped) return EntryAction.Keep;
            _dropped = true;
            return EntryAction.Drop;
        }
    }

    [Fact]
    public void A_PAX_global_header_is_stated_once_not_copied_into_every_entry()
    {
        string big = new('c', 100_000);
        byte[] tar = WithGlobalPax(200, "comment=" + big, "uid=7", "SCHILY.xattr.user.a=b");
        var rewritten = new MemoryStream();
        using (var stream = new TarRewriteStream(new MemoryStream(tar), [new DropFirst()])) stream.CopyTo(rewritten);

        // Before the fix each of the 200 entries carried its own copy: 20 MB.
        rewritten.Length.Should().BeLessThan(tar.Length + 200 * 1024);
        using var reader = new TarArchiveReader(new MemoryStream(rewritten.ToArray()));
        var records = new List<TarRecord>();
        while (reader.Next() is { } r) records.Add(r);
        records.Should().HaveCount(199, "the filter dropped the first entry, not the global header after it");
        records.Should().AllSatisfy(r =>
        {
            r.Entry.Uid.Should().Be(7, "a global uid applies to what follows");
            r.Entry.ExtendedAttributes.Should().BeEmpty();
            r.GlobalAttributes!["comment"].Length.Should().Be(big.Length);
            Encoding.UTF8.GetString(r.GlobalAttributes["SCHILY.xattr.user.a"]).Should().Be("b");
        });
        records[0].GlobalHeaderBefore.Should().NotBeNull();
        records.Skip(1).Should().AllSatisfy(r => r.GlobalHeaderBefore.Should().BeNull());
    }

    [Fact]
    public void A_global_header_with_an_empty_value_unsets_the_key()
    {
        byte[] first = WithGlobalPax(1, "comment=x");
        byte[] second = WithGlobalPax(1, "comment=");
        byte[] tar = [.. first.AsSpan(0, first.Length - 1024), .. second];
        using var reader = new TarArchiveReader(new MemoryStream(tar));
        reader.Next()!.GlobalAttributes.Should().ContainKey("comment");
        reader.Next()!.GlobalAttributes.Should().BeNull();
    }

    public static TheoryData<string, byte[], string> BadPaxHeaders() => new()
    {
        { "too many PAX records", WithPax(Enumerable.Range(0, 5000).Select(i => $"k{i}=v").ToArray()), "more than 4096 records" },
        { "a PAX header over 1 MiB", WithPax("comment=" + new string('x', 1100 * 1024)), "too large" },
        { "a global header that sets the path", WithGlobalPax(1, "path=everything"), "sets 'path'" },
    };

    [Theory]
    [MemberData(nameof(BadPaxHeaders))]
    public void Oversized_or_meaningless_PAX_headers_are_refused(string _, byte[] tar, string says)
    {
        var act = () => ReadAll(tar);
        act.Should().Throw<TarFormatException>().WithMessage($"*{says}*");
    }

    private sealed class Layer(byte[] stored, LayerCompression compression, Digest diffId, Digest? blob, long? size) : ISourceLayer
    {
        public int Index => 0;
        public Digest DiffId => diffId;
        public LayerCompression Compression => compression;
        public Digest? BlobDigest => blob;
        public long? StoredSize => size;
        public string? MediaType => null;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Task.FromResult<Stream>(new MemoryStream(stored));
    }

    private static Task Run(ISourceLayer layer, IImageSink sink)
    {
        var source = new SingleLayerSource(layer);
        return new PipelineRunner(NullLogger.Instance, NullProgressReporter.Instance).RunAsync(source, [], sink, default);
    }

    private sealed class SingleLayerSource(ISourceLayer layer) : IImageSource
    {
        public ImageName Name => ImageName.Parse("localhost/x/y:1");
        public ReadOnlyMemory<byte> Config => RandomImage.Config([layer.DiffId]);
        public ImageDocument? Manifest => null;
        public IReadOnlyList<ISourceLayer> Layers => [layer];
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static InMemoryImageSink TarSink() => new(LayerDelivery.EveryLayerInOrder, stored: [], compressWith: LayerCompression.None);

    [Fact]
    public async Task A_sha512_diff_id_is_verified_and_kept_in_its_algorithm()
    {
        byte[] tar = RandomImage.Create([3000]).StoredLayers[0].Tar;
        var good = Digest.Compute(tar, "sha512");
        var sink = TarSink();
        await Run(new Layer(tar, LayerCompression.None, good, null, tar.Length), sink);
        ImageConfig.DiffIdsOf(sink.Committed!.Config).Should().Equal(good);

        var wrong = Digest.Compute("other"u8, "sha512");
        var act = () => Run(new Layer(tar, LayerCompression.None, wrong, null, tar.Length), TarSink());
        (await act.Should().ThrowAsync<DigestMismatchException>()).WithMessage("*expected sha512:*");
    }

    [Fact]
    public async Task A_sha512_blob_digest_is_verified_on_a_compressed_copy()
    {
        byte[] tar = RandomImage.Create([3000]).StoredLayers[0].Tar;
        byte[] gz = RandomImage.Compress(tar, LayerCompression.Gzip);
        var act = () => Run(new Layer(gz, LayerCompression.Gzip, Digest.Compute(tar), Digest.Compute("not it"u8, "sha512"), gz.Length), new InMemoryImageSink());
        (await act.Should().ThrowAsync<DigestMismatchException>()).WithMessage("*expected sha512:*");
    }

    [Fact]
    public async Task A_compressed_docker_save_layer_passed_on_as_stored_must_decompress_to_its_diff_id()
    {
        byte[] real = Layer(("etc/real", "real\n"));
        byte[] claimed = Layer(("etc/claimed", "claimed\n"));
        // The archive's config names one tar; the gzip layer holds another, and nothing names the gzip bytes.
        Legacy(_dir["in.tar"], [claimed], store: _ => Gzip(real));
        await using var source = DockerArchiveImage.Open(_dir["in.tar"], null);
        source.Layers[0].BlobDigest.Should().BeNull();
        var act = () => new PipelineRunner(NullLogger.Instance, NullProgressReporter.Instance).RunAsync(source, [], new InMemoryImageSink(), default);
        (await act.Should().ThrowAsync<DigestMismatchException>()).WithMessage($"*expected sha256:{Sha(claimed)}*");

        // The honest archive passes, still without decompression on the way to the sink.
        Legacy(_dir["ok.tar"], [real], store: Gzip);
        await using var ok = DockerArchiveImage.Open(_dir["ok.tar"], null);
        var sink = new InMemoryImageSink();
        await new PipelineRunner(NullLogger.Instance, NullProgressReporter.Instance).RunAsync(ok, [], sink, default);
        sink.Writes.Should().ContainSingle().Which.Compression.Should().Be(LayerCompression.Gzip);
    }

    [Fact]
    public async Task A_blob_longer_than_its_declared_size_is_stopped_there()
    {
        byte[] tar = RandomImage.Create([30000]).StoredLayers[0].Tar;
        byte[] gz = RandomImage.Compress(tar, LayerCompression.Gzip);
        var act = () => Run(new Layer(gz, LayerCompression.Gzip, Digest.Compute(tar), Digest.Compute(gz), gz.Length - 100), new InMemoryImageSink());
        (await act.Should().ThrowAsync<OccystrapException>()).WithMessage($"*longer than the {gz.Length - 100} bytes its descriptor declares*");
    }

    [Fact]
    public void A_descriptor_with_a_negative_size_or_a_bad_digest_is_refused()
    {
        string Manifest(string size, string digest) =>
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
            + new string('c', 64) + "\",\"size\":2},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" + digest + "\",\"size\":" + size + "}]}";
        string good = "sha256:" + new string('1', 64);
        var negative = () => ImageManifest.Parse(Encoding.UTF8.GetBytes(Manifest("-1", good)), "m");
        negative.Should().Throw<OccystrapException>().WithMessage("*layer 1*negative*");
        var badDigest = () => ImageManifest.Parse(Encoding.UTF8.GetBytes(Manifest("5", "md5:abc")), "m");
        badDigest.Should().Throw<OccystrapException>().WithMessage("*layer 1*not a valid digest*");
        var fraction = () => ImageManifest.Parse(Encoding.UTF8.GetBytes(Manifest("1.5", good)), "m");
        fraction.Should().Throw<OccystrapException>().WithMessage("*not a whole number*");
    }
}
