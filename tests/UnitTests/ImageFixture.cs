using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;

namespace Occystrap.UnitTests;

/// <summary>Builds small images in the layouts the tar input must read, from layers made by our tar writer.</summary>
internal static class ImageFixture
{
    public static byte[] Layer(params (string Path, string Content)[] files)
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                byte[] data = Encoding.UTF8.GetBytes(content);
                w.WriteEntry(new LayerEntry(path, EntryKind.File, data.Length) { Mode = 0x1A4, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1700000000) }, new MemoryStream(data));
            }
            w.Finish();
        }
        return ms.ToArray();
    }

    public static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    public static byte[] Zstd(byte[] data)
    {
        using var c = new ZstdSharp.Compressor(3);
        return c.Wrap(data).ToArray();
    }

    public static byte[] Config(IEnumerable<byte[]> layers) =>
        Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
            + string.Join(",", layers.Select(l => $"\"sha256:{Sha(l)}\"")) + "]}}");

    /// <summary>Writes a tar of the given members (name, bytes) or symlinks (name, null, target).</summary>
    public static void Archive(string path, IEnumerable<(string Name, byte[]? Data, string? Link)> members)
    {
        using var f = System.IO.File.Create(path);
        using var w = new TarArchiveWriter(f);
        foreach (var (name, data, link) in members)
        {
            if (data is null) w.WriteEntry(new LayerEntry(name, EntryKind.Symlink, 0) { LinkTarget = link, Mode = 0x1FF }, null);
            else w.WriteEntry(new LayerEntry(name, EntryKind.File, data.Length) { Mode = 0x1A4 }, new MemoryStream(data));
        }
        w.Finish();
    }

    public static (string Name, byte[]? Data, string? Link) File(string name, byte[] data) => (name, data, null);
    public static (string Name, byte[]? Data, string? Link) File(string name, string text) => (name, Encoding.UTF8.GetBytes(text), null);
    public static (string Name, byte[]? Data, string? Link) Symlink(string name, string target) => (name, null, target);

    /// <summary>The legacy <c>docker save</c> layout: <c>ID/layer.tar</c>, <c>CONFIG.json</c>, <c>manifest.json</c>.</summary>
    public static void Legacy(string path, byte[][] layers, string repoTag = "localhost/test/img:v1", Func<byte[], byte[]>? store = null)
    {
        var config = Config(layers);
        string c = Sha(config);
        var members = new List<(string, byte[]?, string?)>();
        foreach (var l in layers) members.Add(File($"{Sha(l)}/layer.tar", (store ?? (x => x))(l)));
        members.Add(File($"{c}.json", config));
        members.Add(File("manifest.json", $"[{{\"Config\":\"{c}.json\",\"RepoTags\":[\"{repoTag}\"],\"Layers\":[{string.Join(",", layers.Select(l => $"\"{Sha(l)}/layer.tar\""))}]}}]"));
        Archive(path, members);
    }

    /// <summary>An OCI archive with only <c>index.json</c> and blobs (what skopeo's oci-archive: writes).</summary>
    public static void OciOnly(string path, byte[][] layers, Func<byte[], byte[]> store, string mediaType)
    {
        var config = Config(layers);
        var blobs = layers.Select(store).ToArray();
        string manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
            + Sha(config) + $"\",\"size\":{config.Length}}},\"layers\":["
            + string.Join(",", blobs.Select(b => $"{{\"mediaType\":\"{mediaType}\",\"digest\":\"sha256:{Sha(b)}\",\"size\":{b.Length}}}")) + "]}";
        byte[] m = Encoding.UTF8.GetBytes(manifest);
        string index = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
            + Sha(m) + $"\",\"size\":{m.Length},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"v2\"}}}}]}}";
        var members = new List<(string, byte[]?, string?)> { File("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"), File("index.json", index) };
        foreach (var b in blobs.Append(config).Append(m)) members.Add(File($"blobs/sha256/{Sha(b)}", b));
        Archive(path, members);
    }
}
