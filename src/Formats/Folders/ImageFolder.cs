using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;

namespace Occystrap.Formats.Folders;

/// <summary>
/// The dir:// folder layout: an unpacked docker-save archive plus a catalog.
/// <list type="bullet">
/// <item><c>CONFIGHEX.json</c>: the config, byte for byte (it hashes to its name);</item>
/// <item><c>DIFFIDHEX/layer.tar</c>: each layer, uncompressed, stored once whatever uses it;</item>
/// <item><c>manifest.json</c>, or with unique names <c>manifest-REPO-TAG.json</c> (<c>/</c> as <c>_</c>):
/// <c>[{"Config": …, "Layers": […], "RepoTags": […]}]</c>;</item>
/// <item><c>catalog.json</c>: <c>{repository: {tag: manifest file}}</c>, merged under a lock.</item>
/// </list>
/// </summary>
public static class ImageFolder
{
    public const string CatalogFile = "catalog.json";
    public const string PlainManifestFile = "manifest.json";
    internal const string LockFile = ".catalog.lock";

    /// <summary>The repository under which an image is catalogued (an unnamed image is <c>unnamed</c>).</summary>
    public static string CatalogName(ImageName name) => name.IsUnnamed ? "unnamed" : name.Repository;

    public static string CatalogTag(ImageName name) => name.Tag ?? "latest";

    /// <summary><c>manifest.json</c>, or with unique names <c>manifest-REPO-TAG.json</c>.</summary>
    public static string ManifestFileName(ImageName name, bool uniqueNames) => uniqueNames
        ? $"manifest-{CatalogName(name).Replace('/', '_')}-{CatalogTag(name).Replace('/', '_')}.json"
        : PlainManifestFile;

    /// <summary>True when the folder holds a dir:// layout (a catalog, or a manifest beside it).</summary>
    public static bool IsLayout(string folder) =>
        File.Exists(Path.Combine(folder, CatalogFile)) || File.Exists(Path.Combine(folder, PlainManifestFile));

    /// <summary>Reads the catalog: repository → tag → manifest file name.</summary>
    public static SortedDictionary<string, SortedDictionary<string, string>> ReadCatalog(string folder)
    {
        string path = Path.Combine(folder, CatalogFile);
        var catalog = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
        if (!File.Exists(path)) return catalog;
        var root = JsonText.ParseObject(ReadSmall(path), path);
        foreach (var (image, tags) in root)
        {
            if (tags is not JsonObject o) throw new OccystrapException($"{path}: the entry for '{image}' is not an object");
            var byTag = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (tag, file) in o)
                byTag[tag] = file is JsonValue v && v.TryGetValue(out string? s) ? s : throw new OccystrapException($"{path}: '{image}:{tag}' does not name a manifest file");
            catalog[image] = byTag;
        }
        return catalog;
    }

    /// <summary>
    /// Makes a folder a layout at once, with an empty catalog, so that another writer starting on it at
    /// the same time sees a layout and not a foreign folder.
    /// </summary>
    internal static void EnsureCatalog(string folder)
    {
        using var _ = FileLock.Acquire(Path.Combine(folder, LockFile), $"the catalog of {folder}");
        string path = Path.Combine(folder, CatalogFile);
        if (!File.Exists(path)) AtomicFile.WriteAllBytes(path, "{}"u8);
    }

    /// <summary>Adds one image to the catalog under the folder's lock, keeping what other writers put there.</summary>
    internal static void AddToCatalog(string folder, ImageName name, string manifestFile)
    {
        using var _ = FileLock.Acquire(Path.Combine(folder, LockFile), $"the catalog of {folder}");
        var catalog = ReadCatalog(folder);
        if (!catalog.TryGetValue(CatalogName(name), out var tags)) catalog[CatalogName(name)] = tags = new(StringComparer.Ordinal);
        tags[CatalogTag(name)] = manifestFile;
        var root = new JsonObject();
        foreach (var (image, byTag) in catalog)
        {
            var o = new JsonObject();
            foreach (var (tag, file) in byTag) o[tag] = file;
            root[image] = o;
        }
        AtomicFile.WriteAllBytes(Path.Combine(folder, CatalogFile), JsonText.Serialize(root));
    }

    /// <summary>
    /// Writes the config (<c>CONFIGHEX.json</c>, byte for byte) and the manifest file of an image whose
    /// layers are at <c>DIFFIDHEX/layer.tar</c>, each file atomically; returns the config's digest.
    /// </summary>
    internal static Digest WriteImageFiles(string folder, ImageResult image, bool uniqueNames)
    {
        var configDigest = Digest.Compute(image.Config.Span);
        string configName = $"{configDigest.Hex}.json";
        string configPath = Path.Combine(folder, configName);
        if (!File.Exists(configPath)) AtomicFile.WriteAllBytes(configPath, image.Config.Span);
        var entry = new JsonObject
        {
            ["Config"] = configName,
            ["Layers"] = new JsonArray(image.Layers.Select(l => (JsonNode)JsonValue.Create($"{l.DiffId.Hex}/layer.tar")!).ToArray()),
            ["RepoTags"] = image.Name.IsUnnamed ? new JsonArray() : new JsonArray(JsonValue.Create($"{image.Name.Repository}:{CatalogTag(image.Name)}")),
        };
        if (uniqueNames) entry["ImageName"] = CatalogName(image.Name);
        AtomicFile.WriteAllBytes(Path.Combine(folder, ManifestFileName(image.Name, uniqueNames)), JsonText.Serialize(new JsonArray(entry)));
        return configDigest;
    }

    /// <summary>A file of the layout, read whole up to 16 MiB.</summary>
    internal static byte[] ReadSmall(string path, long limit = 16 * 1024 * 1024)
    {
        using var file = File.OpenRead(path);
        if (file.Length > limit) throw new OccystrapException($"{path} is larger than {limit} bytes");
        var buffer = new byte[file.Length];
        file.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>
    /// A path named inside the layout (a manifest's <c>Config</c> or <c>Layers</c> entry), refused when it
    /// leaves the folder: no absolute path, no <c>..</c>, no symlink on the way.
    /// </summary>
    internal static string Inside(string folder, string relative, string what)
    {
        if (relative.Length == 0 || relative.StartsWith('/') || relative.Contains('\0')
            || relative.Split('/').Any(p => p is ".." ))
            throw new OccystrapException($"{what} names '{relative}', which is outside the folder");
        string path = folder;
        foreach (string part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            path = Path.Combine(path, part);
            if (FileKind.Of(path) == FileKindValue.Symlink)
                throw new OccystrapException($"{what} names '{relative}', which goes through a symlink");
        }
        return path;
    }
}
