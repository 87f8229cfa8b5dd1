using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Archives;

/// <summary>
/// An image read from a <c>docker save</c> archive on disk: the legacy layout (<c>ID/layer.tar</c>,
/// <c>manifest.json</c>), Docker 25+ (<c>blobs/sha256/…</c>, <c>index.json</c>, <c>oci-layout</c> and
/// <c>manifest.json</c>), skopeo's <c>docker-archive:</c> (symlinked layers) and OCI archives with only
/// <c>index.json</c>. Layers may be plain, gzip or zstd; the compression is found from magic bytes.
/// </summary>
public sealed class DockerArchiveImage : IImageSource
{
    private string? _temporaryCopy;

    private DockerArchiveImage(ImageName name, ReadOnlyMemory<byte> config, string? manifestMediaType, IReadOnlyList<ISourceLayer> layers)
    {
        Name = name;
        Config = config;
        ManifestMediaType = manifestMediaType;
        Layers = layers;
    }

    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config { get; }
    public string? ManifestMediaType { get; }
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="select">Which image of a multi-image archive (<c>repo:tag</c>); null takes the first.</param>
    /// <param name="platform">Chooses from an OCI index; its temp folder holds the plain copy of a compressed archive.</param>
    public static DockerArchiveImage Open(string path, string? select, GlobalOptions? platform = null, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path))
            throw new OccystrapException(Directory.Exists(path) ? $"{path} is a directory, not a docker-save archive" : $"{path}: no such file");
        LayerCompression compression;
        using (var probe = File.OpenRead(path)) compression = LayerCompressionCodec.Detect(probe);
        if (compression == LayerCompression.None) return Open(ArchiveIndex.Build(path), select, platform);

        // A compressed archive (docker save | gzip) cannot be read in place: it is unpacked once to a temp file.
        string copy = Path.Combine(platform?.TempDir ?? Path.GetTempPath(), $"occystrap-{Guid.NewGuid():N}.tar");
        try
        {
            using (var input = LayerCompressionCodec.OpenDecompressed(File.OpenRead(path), compression))
            using (var output = new FileStream(copy, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024))
                input.CopyToAsync(output, 1024 * 1024, cancellationToken).GetAwaiter().GetResult();
            var image = Open(ArchiveIndex.Build(copy, displayName: path), select, platform);
            image._temporaryCopy = copy;
            return image;
        }
        catch (InvalidDataException e)
        {
            File.Delete(copy);
            throw new OccystrapException($"{path}: corrupt {compression.ToString().ToLowerInvariant()} data: {e.Message}");
        }
        catch
        {
            File.Delete(copy);
            throw;
        }
    }

    private static DockerArchiveImage Open(ArchiveIndex index, string? select, GlobalOptions? platform)
    {
        if (index.Contains("manifest.json")) return FromDockerManifest(index, select);
        if (index.Contains("index.json")) return FromOciIndex(index, select, platform);
        if (index.Contains("repositories"))
            throw new OccystrapException($"{index.DisplayName} is a pre-1.10 docker-save archive (no manifest.json); load it with an old Docker and save it again");
        throw new OccystrapException($"{index.DisplayName} is a tar archive but not a docker-save archive: it has no manifest.json or index.json");
    }

    private static DockerArchiveImage FromDockerManifest(ArchiveIndex index, string? select)
    {
        string where = $"manifest.json in {index.DisplayName}";
        var manifest = ParseJson(index.ReadAll("manifest.json"), where) as JsonArray
            ?? throw new OccystrapException($"{where} is not a JSON array");
        if (manifest.Count == 0) throw new OccystrapException($"{where} lists no image");

        JsonObject? chosen = null;
        ImageName name = ImageName.Unnamed;
        foreach (var item in manifest)
        {
            if (item is not JsonObject entry) throw new OccystrapException($"{where} has an entry that is not an object");
            var tags = (entry["RepoTags"] as JsonArray)?.Select(t => t?.GetValue<string>()).OfType<string>().ToList() ?? [];
            if (select is null)
            {
                chosen = entry;
                if (tags.Count > 0) name = ImageName.Parse(tags[0]);
                break;
            }
            string? match = tags.FirstOrDefault(t => t == select || ImageName.Parse(t).ToString() == ImageName.Parse(select).ToString());
            if (match is not null)
            {
                chosen = entry;
                name = ImageName.Parse(match);
                break;
            }
        }
        if (chosen is null)
            throw new OccystrapException($"{index.DisplayName} has no image tagged '{select}'");

        string configPath = Text(chosen, "Config", where);
        var config = index.ReadAll(configPath);
        // A config named by its digest (ID.json, blobs/sha256/ID) must hash to that name.
        string stem = Path.GetFileNameWithoutExtension(configPath);
        if (Digest.TryParse("sha256:" + stem, out var named))
        {
            string actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(config));
            if (actual != named.Hex) throw new DigestMismatchException($"config {configPath} in {index.DisplayName}", named.ToString(), "sha256:" + actual);
        }
        var diffIds = ImageConfig.DiffIds(config, $"config {configPath} in {index.DisplayName}");
        var layerPaths = (chosen["Layers"] as JsonArray ?? throw new OccystrapException($"{where} has no Layers list"))
            .Select(l => l?.GetValueKind() == JsonValueKind.String ? l.GetValue<string>() : throw new OccystrapException($"{where} has a layer path that is not a string"))
            .ToList();
        if (layerPaths.Count != diffIds.Count)
            throw new OccystrapException($"{where} lists {layerPaths.Count} layers but the config has {diffIds.Count} diff_ids");

        var layers = new List<ISourceLayer>();
        for (int i = 0; i < layerPaths.Count; i++)
        {
            var member = index.Resolve(layerPaths[i]) ?? throw new OccystrapException($"{where} names layer '{layerPaths[i]}', which is not in the archive");
            Digest? blob = BlobDigestFromPath(layerPaths[i]);
            layers.Add(new ArchiveLayer(index, member, i, diffIds[i], blob, null));
        }
        return new DockerArchiveImage(name, config, null, layers);
    }

    private static DockerArchiveImage FromOciIndex(ArchiveIndex index, string? select, GlobalOptions? platform)
    {
        string where = $"index.json in {index.DisplayName}";
        var root = ParseJson(index.ReadAll("index.json"), where) as JsonObject ?? throw new OccystrapException($"{where} is not a JSON object");
        var descriptors = root["manifests"] as JsonArray ?? throw new OccystrapException($"{where} has no manifests list");
        JsonObject? chosen = null;
        ImageName name = ImageName.Unnamed;
        foreach (var d in descriptors.OfType<JsonObject>())
        {
            string? refName = d["annotations"]?["io.containerd.image.name"]?.GetValue<string>()
                ?? d["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>();
            if (select is null || refName == select || (refName is not null && refName.EndsWith(":" + select, StringComparison.Ordinal)))
            {
                chosen = d;
                // A ref that is only a tag (skopeo's oci-archive:FILE:TAG) names no repository: the image stays unnamed.
                if (refName is not null && (refName.Contains('/') || refName.Contains(':'))) name = ImageName.Parse(refName);
                break;
            }
        }
        if (chosen is null) throw new OccystrapException(select is null ? $"{where} lists no image" : $"{index.DisplayName} has no image named '{select}'");

        // Follow nested indexes to the manifest for the wanted platform.
        for (int depth = 0; depth < 4; depth++)
        {
            string mediaType = chosen["mediaType"]?.GetValue<string>() ?? "";
            var blob = ReadBlob(index, chosen, where);
            var node = ParseJson(blob, $"blob {Text(chosen, "digest", where)} in {index.DisplayName}") as JsonObject
                ?? throw new OccystrapException($"a manifest in {index.DisplayName} is not a JSON object");
            if (MediaTypes.IsIndex(mediaType) || node["manifests"] is JsonArray)
            {
                var children = (node["manifests"] as JsonArray)!.OfType<JsonObject>().ToList();
                if (children.Count == 0) throw new OccystrapException($"an index in {index.DisplayName} lists no manifest");
                var withPlatform = children.Where(c => c["platform"] is JsonObject).ToList();
                chosen = withPlatform.Count == 0 ? children[0] : withPlatform.FirstOrDefault(c => MatchesPlatform(c, platform))
                    ?? throw new OccystrapException($"{index.DisplayName} has no image for {platform?.Os ?? "linux"}/{platform?.Architecture ?? "amd64"}"
                        + (platform?.Variant is { } v ? "/" + v : "") + "; it has: " + string.Join(", ", withPlatform.Select(PlatformText)));
                continue;
            }
            var configDescriptor = node["config"] as JsonObject ?? throw new OccystrapException($"a manifest in {index.DisplayName} has no config");
            var config = ReadBlob(index, configDescriptor, where);
            var diffIds = ImageConfig.DiffIds(config, $"config in {index.DisplayName}");
            var layerDescriptors = (node["layers"] as JsonArray ?? []).OfType<JsonObject>().ToList();
            if (layerDescriptors.Count != diffIds.Count)
                throw new OccystrapException($"a manifest in {index.DisplayName} lists {layerDescriptors.Count} layers but the config has {diffIds.Count} diff_ids");
            var layers = new List<ISourceLayer>();
            for (int i = 0; i < layerDescriptors.Count; i++)
            {
                var digest = Digest.Parse(Text(layerDescriptors[i], "digest", where));
                string path = $"blobs/{digest.Algorithm}/{digest.Hex}";
                var member = index.Resolve(path) ?? throw new OccystrapException($"{index.DisplayName} has no blob {digest}");
                layers.Add(new ArchiveLayer(index, member, i, diffIds[i], digest, layerDescriptors[i]["mediaType"]?.GetValue<string>()));
            }
            return new DockerArchiveImage(name, config, node["mediaType"]?.GetValue<string>() ?? mediaType, layers);
        }
        throw new OccystrapException($"indexes in {index.DisplayName} nest too deeply");
    }

    /// <summary>os and architecture must match; a variant must match when one is asked for (arm64 also takes v8 or none).</summary>
    private static bool MatchesPlatform(JsonObject descriptor, GlobalOptions? platform)
    {
        if (descriptor["platform"] is not JsonObject p) return false;
        string os = platform?.Os ?? "linux", arch = platform?.Architecture ?? "amd64";
        string? variant = p["variant"]?.GetValue<string>();
        if (p["os"]?.GetValue<string>() != os || p["architecture"]?.GetValue<string>() != arch) return false;
        if (platform?.Variant is not { } wanted) return true;
        return variant == wanted || (arch == "arm64" && wanted == "v8" && variant is null);
    }

    private static string PlatformText(JsonObject descriptor)
    {
        var p = (JsonObject)descriptor["platform"]!;
        string text = $"{p["os"]?.GetValue<string>()}/{p["architecture"]?.GetValue<string>()}";
        return p["variant"]?.GetValue<string>() is { } v ? $"{text}/{v}" : text;
    }

    private static byte[] ReadBlob(ArchiveIndex index, JsonObject descriptor, string where)
    {
        var digest = Digest.Parse(Text(descriptor, "digest", where));
        byte[] bytes = index.ReadAll($"blobs/{digest.Algorithm}/{digest.Hex}");
        string actual = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        if (digest.Algorithm == "sha256" && actual != digest.ToString())
            throw new DigestMismatchException($"blob {digest} in {index.DisplayName}", digest.ToString(), actual);
        return bytes;
    }

    private static Digest? BlobDigestFromPath(string path)
    {
        var parts = ArchiveIndex.Normalize(path).Split('/');
        return parts.Length == 3 && parts[0] == "blobs" && Digest.TryParse($"{parts[1]}:{parts[2]}", out var d) ? d : null;
    }

    private static JsonNode? ParseJson(byte[] bytes, string what)
    {
        try
        {
            return JsonNode.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    private static string Text(JsonObject o, string key, string where) =>
        o[key]?.GetValueKind() == JsonValueKind.String ? o[key]!.GetValue<string>() : throw new OccystrapException($"{where}: '{key}' is missing or not a string");

    public ValueTask DisposeAsync()
    {
        if (_temporaryCopy is not null)
        {
            try { File.Delete(_temporaryCopy); }
            catch (IOException) { }
            _temporaryCopy = null;
        }
        return ValueTask.CompletedTask;
    }
}
