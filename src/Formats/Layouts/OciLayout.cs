using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Blobs;
using Occystrap.Formats.IO;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Layouts;

/// <summary>
/// The files of an OCI image layout folder: <c>oci-layout</c> (the version), <c>index.json</c> (the
/// images, by ref name) and <c>blobs/ALG/HEX</c>. Reads check each; writes go through a temporary
/// file and a rename, so a reader never sees half a file.
/// </summary>
public static class OciLayout
{
    public const string LayoutFile = "oci-layout";
    public const string IndexFile = "index.json";
    public const string Version = "1.0.0";

    /// <summary>Where the index is locked while it is read, merged and replaced.</summary>
    public const string LockFile = "index.json.lock";

    public static bool IsLayout(string folder) => File.Exists(Path.Combine(folder, LayoutFile));

    /// <summary>Checks the <c>oci-layout</c> file: JSON naming a layout version this tool reads.</summary>
    public static void CheckVersion(string folder)
    {
        string path = Path.Combine(folder, LayoutFile);
        if (!File.Exists(path)) throw new OccystrapException($"{folder} is not an OCI image layout: it has no {LayoutFile} file");
        var json = JsonText.ParseObject(File.ReadAllBytes(path), $"{path}");
        string? version = JsonText.String(json, "imageLayoutVersion", path);
        if (version != Version)
            throw new OccystrapException($"{path}: layout version '{version ?? "(none)"}' is not one this tool reads ({Version})");
    }

    public static ImageIndex ReadIndex(string folder)
    {
        string path = Path.Combine(folder, IndexFile);
        if (!File.Exists(path)) throw new OccystrapException($"{folder} is not an OCI image layout: it has no {IndexFile}");
        long length = new FileInfo(path).Length;
        if (length > 16 * 1024 * 1024) throw new OccystrapException($"{path} is {length} bytes, more than the 16 MiB allowed for it");
        return ImageIndex.Parse(File.ReadAllBytes(path), path, MediaTypes.OciIndex);
    }

    public static BlobStore Blobs(string folder) => BlobStore.OciLayout(folder);

    /// <summary>Writes the <c>oci-layout</c> file when it is not there yet.</summary>
    public static void EnsureLayoutFile(string folder)
    {
        string path = Path.Combine(folder, LayoutFile);
        if (File.Exists(path)) return;
        AtomicFile.WriteAllBytes(path, JsonText.Serialize(new JsonObject { ["imageLayoutVersion"] = Version }));
    }

    /// <summary>Holds the layout's index lock (an exclusive lock on <see cref="LockFile"/>) for up to a minute of waiting.</summary>
    public static FileStream Lock(string folder) => FileLock.Acquire(Path.Combine(folder, LockFile), $"{folder}: the layout's index");

    /// <summary>Every blob any image of the index refers to: manifests, nested indexes, configs and layers.</summary>
    public static HashSet<Digest> Referenced(string folder, ImageIndex index)
    {
        var store = Blobs(folder);
        var seen = new HashSet<Digest>();
        var pending = new Stack<Descriptor>(index.Manifests);
        while (pending.Count > 0)
        {
            var d = pending.Pop();
            if (!seen.Add(d.Digest) || !store.Contains(d.Digest)) continue;
            if (!MediaTypeTable.IsIndex(d.MediaType) && !MediaTypeTable.IsManifest(d.MediaType)) continue;
            var json = JsonText.ParseObject(store.ReadVerified(d.Digest, d.Size, folder), $"blob {d.Digest} in {folder}");
            if (ImageIndex.Is(json, d.MediaType))
                foreach (var m in ImageIndex.FromJson(json, $"blob {d.Digest} in {folder}", d.MediaType).Manifests) pending.Push(m);
            else
            {
                var manifest = ImageManifest.FromJson(json, $"blob {d.Digest} in {folder}", d.MediaType);
                seen.Add(manifest.Config.Digest);
                foreach (var l in manifest.Layers) seen.Add(l.Digest);
            }
        }
        return seen;
    }
}
