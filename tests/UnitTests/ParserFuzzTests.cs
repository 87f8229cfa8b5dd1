using System.Diagnostics;
using System.Text;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.Tar;
using Occystrap.TestKit;
using static Occystrap.UnitTests.ImageFixture;

namespace Occystrap.UnitTests;

/// <summary>
/// Seeded mutation fuzzing of the parsers that read untrusted bytes: the tar reader, docker-save and
/// OCI archives, manifests, indexes and configs. Any input must give a result or the project's own
/// error, never another exception. Runs a few seconds per target by default;
/// <c>OCCYSTRAP_FUZZ_SECONDS</c> sets how long, and a failing input is saved beside the test output
/// with its seed.
/// </summary>
public sealed class ParserFuzzTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TimeSpan Budget => TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("OCCYSTRAP_FUZZ_SECONDS"), out int s) && s > 0 ? s : 3);

    /// <summary>One mutation of <paramref name="input"/>: flipped bits, interesting bytes, cuts, repeats or digit runs.</summary>
    private static byte[] Mutate(byte[] input, Random random)
    {
        var data = new List<byte>(input);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && data.Count > 0; e++)
        {
            int at = random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = new byte[] { 0, 0xFF, 0x80, (byte)'0', (byte)'7', (byte)'9', (byte)' ', (byte)'\n', (byte)'"', (byte)'-' }[random.Next(10)]; break;
                case 2: data.RemoveRange(at, data.Count - at); break;
                case 3: data.InsertRange(at, data.GetRange(at, Math.Min(data.Count - at, 1 + random.Next(600)))); break;
                case 4: data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(64))); break;
                case 5: for (int i = at; i < Math.Min(data.Count, at + 11); i++) data[i] = (byte)('0' + random.Next(10)); break;
                default: data.InsertRange(at, Encoding.ASCII.GetBytes(new[] { "-1", "99999999999999999999", "{}", "[]", "null", "\"x\"", "1e308" }[random.Next(7)])); break;
            }
        }
        return data.ToArray();
    }

    /// <summary>Runs <paramref name="parse"/> on mutations of every seed until the budget is spent.</summary>
    private void Fuzz(string target, IReadOnlyList<byte[]> seeds, Action<byte[]> parse)
    {
        var clock = Stopwatch.StartNew();
        int seed = Environment.TickCount;
        var random = new Random(seed);
        long runs = 0;
        while (clock.Elapsed < Budget)
        {
            byte[] input = Mutate(seeds[random.Next(seeds.Count)], random);
            runs++;
            try
            {
                parse(input);
            }
            catch (OccystrapException)
            {
            }
            catch (Exception e)
            {
                string saved = Path.Combine(AppContext.BaseDirectory, $"fuzz-{target}-{seed}-{runs}.bin");
                System.IO.File.WriteAllBytes(saved, input);
                throw new Xunit.Sdk.XunitException($"{target}: run {runs} (seed {seed}) threw {e.GetType().Name}: {e.Message}; input saved to {saved}\n{e}");
            }
        }
        runs.Should().BeGreaterThan(10, "the fuzzer must actually run");
    }

    private static void ReadTar(Stream stream)
    {
        using var reader = new TarArchiveReader(stream);
        while (reader.Next() is { } r) r.Data.CopyTo(Stream.Null);
    }

    [Fact]
    public void The_tar_reader_gives_entries_or_a_format_error()
    {
        var seeds = new[]
        {
            Layer(("etc/hostname", "one\n"), ("usr/share/doc/a-rather-long-path-name-that-needs-more-than-a-hundred-characters/" + new string('x', 80), "two\n")),
            RandomImage.Create([3000]).StoredLayers[0].Tar,
            WithGlobalHeader(),
        };
        Fuzz("tar", seeds, input => ReadTar(new MemoryStream(input)));
    }

    private sealed class Touch : ILayerEntryFilter
    {
        public EntryAction Process(LayerEntry entry)
        {
            entry.ModificationTime = DateTimeOffset.UnixEpoch;
            return entry.Path.Contains('b') ? EntryAction.Drop : EntryAction.Keep;
        }
    }

    [Fact]
    public void A_rewritten_tar_gives_a_tar_or_a_format_error()
    {
        var seeds = new[] { WithGlobalHeader(), RandomImage.Create([2000]).StoredLayers[0].Tar };
        Fuzz("rewrite", seeds, input =>
        {
            using var rewrite = new TarRewriteStream(new MemoryStream(input), [new Touch()]);
            var output = new MemoryStream();
            rewrite.CopyTo(output);
            output.Position = 0;
            ReadTar(output);
        });
    }

    /// <summary>A global header with an owner and a comment, then entries with xattrs and a long name.</summary>
    private static byte[] WithGlobalHeader()
    {
        var ms = new MemoryStream();
        using (var writer = new TarArchiveWriter(ms, leaveOpen: true))
        {
            writer.WriteGlobalHeader(new Dictionary<string, byte[]> { ["comment"] = "hello"u8.ToArray(), ["SCHILY.xattr.user.g"] = [1, 2] });
            var a = new LayerEntry("a", EntryKind.File, 3) { Mode = 0x1A4 };
            a.ExtendedAttributes["SCHILY.xattr.security.capability"] = [0, 0, 0, 2, 0x20, 0, 0, 0];
            writer.WriteEntry(a, new MemoryStream("abc"u8.ToArray()));
            writer.WriteGlobalHeader(new Dictionary<string, byte[]> { ["comment"] = [] });
            writer.WriteEntry(new LayerEntry("dir/" + new string('b', 120), EntryKind.File, 0) { Uid = 3_000_000 }, null);
            writer.WriteEntry(new LayerEntry("c", EntryKind.Symlink, 0) { LinkTarget = "a" }, null);
            writer.Finish();
        }
        return ms.ToArray();
    }

    [Fact]
    public void Compressed_layers_give_bytes_or_a_corrupt_data_error()
    {
        byte[] tar = RandomImage.Create([3000]).StoredLayers[0].Tar;
        Fuzz("compressed", [Gzip(tar), Zstd(tar)], input =>
            ReadTar(LayerCompressionCodec.OpenDecompressed(new MemoryStream(input), LayerCompressionCodec.Detect(input), "layer")));
    }

    [Fact]
    public void Manifests_indexes_and_configs_parse_or_give_a_clear_error()
    {
        var image = RandomImage.Create([1000, 2000]);
        byte[] index = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\""
            + image.Manifest!.Descriptor.Digest + "\",\"size\":12,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}");
        Fuzz("documents", [image.Manifest.Bytes.ToArray(), image.Config.ToArray(), index], input =>
        {
            try { ImageManifest.Parse(input, "manifest").ToBytes(); } catch (OccystrapException) { }
            try { PlatformRule.Choose(ImageIndex.Parse(input, "index").Manifests, PlatformChoice.Default, "index"); } catch (OccystrapException) { }
            var config = ImageConfig.Parse(input);
            ImageConfig.WithDiffIds(input, [.. config.DiffIds, Digest.Compute(input)]);
        });
    }

    [Fact]
    public void Docker_save_and_oci_archives_open_and_read_or_give_a_clear_error()
    {
        byte[] l1 = Layer(("etc/hostname", "one\n"));
        byte[] l2 = Layer(("usr/bin/tool", "#!/bin/sh\n"));
        Legacy(_dir["legacy.tar"], [l1, l2]);
        OciOnly(_dir["oci.tar"], [l1, l2], Gzip, MediaTypes.OciLayerGzip);
        var seeds = new[] { System.IO.File.ReadAllBytes(_dir["legacy.tar"]), System.IO.File.ReadAllBytes(_dir["oci.tar"]) };
        string path = _dir["fuzzed.tar"];
        Fuzz("archive", seeds, input =>
        {
            System.IO.File.WriteAllBytes(path, input);
            var image = DockerArchiveImage.Open(path, null, tempDir: _dir.Path);
            try
            {
                foreach (var layer in image.Layers)
                {
                    using var stored = layer.OpenAsync(default).Result;
                    ReadTar(LayerCompressionCodec.OpenDecompressed(stored, layer.Compression, "layer"));
                }
            }
            finally
            {
                image.DisposeAsync().AsTask().Wait();
            }
        });
    }
}
