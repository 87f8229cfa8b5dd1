using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Tar;

namespace Occystrap.IntegrationTests;

/// <summary>Makes docker-save archives for tests: variants of the sample image and images of random data.</summary>
internal static class Archives
{
    /// <summary>The sample image with its config edited (e.g. another architecture) and another name.</summary>
    public static void WithConfig(string source, string destination, string repoTag, Action<JsonObject> edit)
    {
        var image = DockerArchiveImage.Open(source, null);
        var config = JsonNode.Parse(image.Config.Span)!.AsObject();
        edit(config);
        var layers = image.Layers.Select(l =>
        {
            using var s = l.OpenAsync(default).Result;
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            return ms.ToArray();
        }).ToList();
        Write(destination, repoTag, Encoding.UTF8.GetBytes(config.ToJsonString()), layers);
    }

    /// <summary>An image whose layers each hold one file of pseudo-random bytes of the given size (incompressible).</summary>
    public static void Random(string destination, string repoTag, params int[] sizes)
    {
        var layers = new List<byte[]>();
        for (int i = 0; i < sizes.Length; i++)
        {
            // Seeded by size and place: images that share a prefix of sizes share those layers.
            var rng = new System.Random(sizes[i] * 31 + i);
            byte[] data = new byte[sizes[i]];
            rng.NextBytes(data);
            using var ms = new MemoryStream();
            using (var w = new TarArchiveWriter(ms, leaveOpen: true))
            {
                w.WriteEntry(new LayerEntry($"data/file{i}.bin", EntryKind.File, data.Length) { Mode = 0x1A4 }, new MemoryStream(data));
                w.Finish();
            }
            layers.Add(ms.ToArray());
        }
        string ids = string.Join(",", layers.Select(l => $"\"sha256:{Sha(l)}\""));
        Write(destination, repoTag, Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{ids}]}}}}"), layers);
    }

    /// <summary>An image of the given layer tars (uncompressed), with a minimal config naming their diff_ids.</summary>
    public static void FromLayers(string destination, string repoTag, List<byte[]> layers, JsonObject? containerConfig = null)
    {
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = containerConfig ?? new JsonObject(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)$"sha256:{Sha(l)}").ToArray()) },
        };
        Write(destination, repoTag, Encoding.UTF8.GetBytes(config.ToJsonString()), layers);
    }

    /// <summary>A layer tar of the given entries (content for files as text).</summary>
    public static byte[] Layer(params (LayerEntry Entry, string? Content)[] entries)
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            foreach (var (entry, content) in entries)
                w.WriteEntry(entry, content is null ? null : new MemoryStream(Encoding.UTF8.GetBytes(content)));
            w.Finish();
        }
        return ms.ToArray();
    }

    private static void Write(string destination, string repoTag, byte[] config, List<byte[]> layers)
    {
        using var file = File.Create(destination);
        using var w = new TarArchiveWriter(file);
        void Add(string name, byte[] data) => w.WriteEntry(new LayerEntry(name, EntryKind.File, data.Length) { Mode = 0x1A4 }, new MemoryStream(data));
        foreach (var l in layers.DistinctBy(Sha)) Add($"{Sha(l)}/layer.tar", l);
        Add($"{Sha(config)}.json", config);
        string layerList = string.Join(",", layers.Select(l => $"\"{Sha(l)}/layer.tar\""));
        Add("manifest.json", Encoding.UTF8.GetBytes($"[{{\"Config\":\"{Sha(config)}.json\",\"RepoTags\":[\"{repoTag}\"],\"Layers\":[{layerList}]}}]"));
        w.Finish();
    }

    public static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
