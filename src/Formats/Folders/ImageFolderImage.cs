using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Folders;

/// <summary>
/// An image read back from a dir:// folder: the image is picked from <c>catalog.json</c> (needed only
/// when it holds several). Layers are verified against the config's diff_ids as they are read.
/// </summary>
public sealed class ImageFolderImage : IImageSource
{
    private ImageFolderImage(ImageName name, ReadOnlyMemory<byte> config, IReadOnlyList<ISourceLayer> layers)
    {
        Name = name;
        Config = config;
        Layers = layers;
    }

    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config { get; }
    public ImageDocument? Manifest => null;
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="image">REPOSITORY:TAG (or REPOSITORY for :latest), as the catalog lists it; null when the folder holds one image.</param>
    public static ImageFolderImage Open(string folder, string? image, ILogger? log = null)
    {
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder)) throw new OccystrapException($"{folder} does not exist or is not a folder");
        if (!ImageFolder.IsLayout(folder)) throw new OccystrapException($"{folder} is not a dir:// folder: it has no {ImageFolder.CatalogFile} or {ImageFolder.PlainManifestFile}");
        var (name, manifestFile) = Choose(folder, image);
        string manifestPath = ImageFolder.Inside(folder, manifestFile, $"{ImageFolder.CatalogFile} in {folder}");
        string where = $"{manifestFile} in {folder}";
        if (!File.Exists(manifestPath)) throw new OccystrapException($"{folder}: the catalog names {manifestFile}, which does not exist");
        var entry = (JsonText.Parse(ImageFolder.ReadSmall(manifestPath), where) as JsonArray)?.FirstOrDefault() as JsonObject
            ?? throw new OccystrapException($"{where} is not a list holding an image");

        string configName = JsonText.String(entry, "Config", where) ?? throw new OccystrapException($"{where} names no Config");
        string configPath = ImageFolder.Inside(folder, configName, where);
        if (!File.Exists(configPath)) throw new OccystrapException($"{where} names config {configName}, which does not exist");
        byte[] config = ImageFolder.ReadSmall(configPath);
        string stem = Path.GetFileNameWithoutExtension(configName);
        if (Digest.TryParse("sha256:" + stem, out var named) && Digest.Compute(config) != named)
            // Older tools re-serialised the config on the way in: its content is what the image is.
            log?.LogWarning("{Config} in {Folder} does not hash to its name; using its content as it is ({Digest})", configName, folder, Digest.Compute(config).ToString());

        var diffIds = ImageConfig.DiffIdsOf(config, $"config {configName} in {folder}");
        var paths = JsonText.StringList(entry, "Layers", where) ?? throw new OccystrapException($"{where} has no Layers list");
        if (paths.Count != diffIds.Count)
            throw new OccystrapException($"{where} lists {paths.Count} layers but the config has {diffIds.Count} diff_ids");
        var layers = new List<ISourceLayer>();
        for (int i = 0; i < paths.Count; i++)
        {
            string path = ImageFolder.Inside(folder, paths[i], where);
            if (!File.Exists(path)) throw new OccystrapException($"{where} names layer {paths[i]}, which does not exist");
            layers.Add(new FileLayer(path, i, diffIds[i]));
        }
        return new ImageFolderImage(name, config, layers);
    }

    private static (ImageName Name, string ManifestFile) Choose(string folder, string? image)
    {
        var catalog = ImageFolder.ReadCatalog(folder);
        var all = catalog.SelectMany(c => c.Value.Select(t => (Repository: c.Key, Tag: t.Key, File: t.Value))).ToList();
        if (all.Count == 0)
        {
            if (image is not null) throw new OccystrapException($"{folder} has no catalog, so it cannot pick '{image}'");
            return (ImageName.Unnamed, ImageFolder.PlainManifestFile);
        }
        string List() => string.Join(", ", all.Select(a => $"{a.Repository}:{a.Tag}"));
        if (image is null)
        {
            if (all.Count > 1) throw new UsageException($"{folder} holds {all.Count} images; pick one with ?image=NAME:TAG: {List()}");
            return (NameOf(all[0].Repository, all[0].Tag), all[0].File);
        }
        var wanted = ImageName.Parse(image);
        foreach (var a in all)
            if (a.Repository == image && a.Tag == "latest" || $"{a.Repository}:{a.Tag}" == image
                || NameOf(a.Repository, a.Tag).ToString() == wanted.ToString())
                return (NameOf(a.Repository, a.Tag), a.File);
        throw new OccystrapException($"{folder} has no image '{image}'; it holds {List()}");
    }

    private static ImageName NameOf(string repository, string tag) =>
        repository == "unnamed" ? ImageName.Unnamed : ImageName.Parse($"{repository}:{tag}");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A layer file; a plain tar's digest is its diff_id, so it is verified as it is read.</summary>
    private sealed class FileLayer : ISourceLayer
    {
        private readonly string _path;

        public FileLayer(string path, int index, Digest diffId)
        {
            _path = path;
            Index = index;
            DiffId = diffId;
            using var s = File.OpenRead(path);
            Compression = LayerCompressionCodec.Detect(s);
            StoredSize = s.Length;
            BlobDigest = Compression == LayerCompression.None ? diffId : null;
        }

        public int Index { get; }
        public Digest DiffId { get; }
        public LayerCompression Compression { get; }
        public Digest? BlobDigest { get; }
        public long? StoredSize { get; }
        public string? MediaType => null;

        public Task<Stream> OpenAsync(CancellationToken cancellationToken) =>
            Task.FromResult<Stream>(new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024));
    }
}
