using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.Tar;

namespace Occystrap.TestKit;

/// <summary>
/// Makes images of random content for tests: the same seed gives the same bytes. Each layer is a tar of a
/// few files (some random bytes, some text), stored compressed as asked, with a config naming the diff_ids
/// and a manifest naming the blobs.
/// </summary>
public static class RandomImage
{
    /// <param name="layerSizes">Roughly how many content bytes each layer holds.</param>
    /// <param name="format">The manifest's format; null for a source with no manifest (like a docker-save archive).</param>
    public static InMemoryImageSource Create(int[] layerSizes, int seed = 1, LayerCompression storedAs = LayerCompression.Gzip,
        ManifestFormat? format = ManifestFormat.Oci, string name = "localhost/test/random:latest", BlobLocation? location = null)
    {
        var random = new Random(seed);
        var layers = new List<InMemoryLayer>();
        for (int i = 0; i < layerSizes.Length; i++)
        {
            byte[] tar = Tar(random, i, layerSizes[i]);
            byte[] stored = Compress(tar, storedAs);
            string mediaType = MediaTypeTable.LayerType(storedAs, format ?? ManifestFormat.Docker);
            layers.Add(new InMemoryLayer(i, tar, stored, storedAs, format is null ? null : mediaType, location));
        }
        return Build(ImageName.Parse(name), layers, format);
    }

    /// <summary>An image of the given layers, in the given order (a layer may appear twice).</summary>
    public static InMemoryImageSource Build(ImageName name, IReadOnlyList<InMemoryLayer> layers, ManifestFormat? format)
    {
        byte[] config = Config(layers.Select(l => l.DiffId));
        ImageDocument? manifest = null;
        if (format is { } f)
        {
            var descriptors = layers.Select(l => new Descriptor(l.MediaType ?? MediaTypeTable.LayerType(l.Compression, f), l.BlobDigest!.Value, l.Stored.Length)).ToList();
            manifest = ManifestBuilder.Build(null, f, config, descriptors);
        }
        return new InMemoryImageSource(name, config, manifest, layers);
    }

    public static byte[] Config(IEnumerable<Digest> diffIds)
    {
        var ids = new JsonArray(diffIds.Select(d => (JsonNode)JsonValue.Create(d.ToString())!).ToArray());
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Env"] = new JsonArray("PATH=/usr/bin:/bin"), ["Cmd"] = new JsonArray("/bin/sh") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = ids },
            ["history"] = new JsonArray(diffIds.Select((_, i) => (JsonNode)new JsonObject { ["created_by"] = $"layer {i + 1}" }).ToArray()),
        };
        return JsonText.Serialize(config);
    }

    public static byte[] Compress(byte[] tar, LayerCompression compression)
    {
        if (compression == LayerCompression.None) return tar;
        using var ms = new MemoryStream();
        using (var c = LayerCompressionCodec.OpenCompressor(ms, compression)) c.Write(tar);
        return ms.ToArray();
    }

    private static byte[] Tar(Random random, int layer, int size)
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            w.WriteEntry(new LayerEntry($"layer{layer}/", EntryKind.Directory, 0) { Mode = 0x1ED, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1700000000 + layer) }, null);
            int left = Math.Max(size, 1);
            for (int f = 0; left > 0; f++)
            {
                int n = Math.Min(left, 1 + random.Next(Math.Max(2, size / 2)));
                byte[] data = new byte[n];
                if (f % 2 == 0) random.NextBytes(data);
                else Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"line of layer {layer} file {f}\n", n / 16 + 1))).AsSpan(0, n).CopyTo(data);
                w.WriteEntry(new LayerEntry($"layer{layer}/file{f}", EntryKind.File, n)
                {
                    Mode = 0x1A4,
                    ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1700000000 + random.Next(1000000)),
                }, new MemoryStream(data));
                left -= n;
            }
            w.Finish();
        }
        return ms.ToArray();
    }
}
