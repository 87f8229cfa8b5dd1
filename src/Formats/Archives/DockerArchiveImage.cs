using System.Text.Json;
using Microsoft.Extensions.Logging;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.Formats.Layouts;

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

    private DockerArchiveImage(ImageName name, ReadOnlyMemory<byte> config, ImageDocument? manifest, IReadOnlyList<ISourceLayer> layers)
    {
        Name = name;
        Config = config;
        Manifest = manifest;
        Layers = layers;
    }

    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config { get; }

    /// <summary>The OCI manifest, for archives read through <c>index.json</c>; null for the docker-save layouts.</summary>
    public ImageDocument? Manifest { get; }

    public ImageDocument? Index { get; private init; }
    public Descriptor? IndexEntry { get; private init; }
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="select">Which image of a multi-image archive (<c>repo:tag</c>); null takes the first.</param>
    /// <param name="platform">Chooses from an OCI index.</param>
    /// <param name="tempDir">Holds the plain copy of a compressed archive.</param>
    /// <param name="log">Where the notice goes that a multi-platform index was reduced to one platform.</param>
    /// <param name="problems">Set by check: a config or blob that disagrees with its name or descriptor, and a layer count that disagrees, are reported there and reading goes on.</param>
    public static DockerArchiveImage Open(string path, string? select, PlatformChoice? platform = null, string? tempDir = null, CancellationToken cancellationToken = default, ILogger? log = null, IImageProblems? problems = null)
    {
        // "-" is standard input: a pipe, or a file redirected in.
        string display = path == "-" ? "standard input" : path;
        if (path == "-") path = File.Exists("/dev/stdin") ? "/dev/stdin" : path;
        if (path != "-" && !File.Exists(path))
            throw new OccystrapException(Directory.Exists(path) ? $"{path} is a directory, not a docker-save archive" : $"{path}: no such file");
        Stream source = path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);
        LayerCompression compression;
        try
        {
            if (source.CanSeek) compression = LayerCompressionCodec.Detect(source);
            else
            {
                // A pipe is read once, from its first byte: the bytes looked at are put back in front.
                byte[] head = new byte[4];
                int n = source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
                if (n == 0) throw new OccystrapException($"{display} is empty, not a docker-save archive");
                compression = LayerCompressionCodec.Detect(head.AsSpan(0, n));
                source = new PrefixedStream(head.AsMemory(0, n), source);
            }
            if (compression == LayerCompression.None && source.CanSeek)
            {
                source.Dispose();
                return Open(ArchiveIndex.Build(path, displayName: display), select, platform, log, problems);
            }
        }
        catch
        {
            source.Dispose();
            throw;
        }

        // A compressed archive (docker save | gzip), or one that arrives through a pipe, cannot be read in
        // place: it is unpacked once to a temp file.
        string copy = Path.Combine(tempDir ?? Path.GetTempPath(), $"occystrap-{Guid.NewGuid():N}.tar");
        try
        {
            using (var input = LayerCompressionCodec.OpenDecompressed(source, compression, display))
            using (var output = new FileStream(copy, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024))
                input.CopyToAsync(output, 1024 * 1024, cancellationToken).GetAwaiter().GetResult();
            var image = Open(ArchiveIndex.Build(copy, displayName: display), select, platform, log, problems);
            image._temporaryCopy = copy;
            return image;
        }
        catch (InvalidDataException e)
        {
            File.Delete(copy);
            throw new OccystrapException($"{display}: corrupt {compression.ToString().ToLowerInvariant()} data: {e.Message}");
        }
        catch
        {
            File.Delete(copy);
            throw;
        }
    }

    /// <summary>Bytes already read from a stream, then the rest of it.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> head, Stream rest) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _head = head;

        public override int Read(Span<byte> buffer)
        {
            if (_head.IsEmpty) return rest.Read(buffer);
            int n = Math.Min(buffer.Length, _head.Length);
            _head.Span[..n].CopyTo(buffer);
            _head = _head[n..];
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_head.IsEmpty) return await rest.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            return Read(buffer.Span);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) rest.Dispose();
            base.Dispose(disposing);
        }
    }

    private static DockerArchiveImage Open(ArchiveIndex index, string? select, PlatformChoice? platform, ILogger? log, IImageProblems? problems)
    {
        if (index.Contains("manifest.json")) return FromDockerManifest(index, select, problems);
        if (index.Contains("index.json")) return FromOciIndex(index, select, platform, log, problems);
        if (index.Contains("repositories"))
            throw new OccystrapException($"{index.DisplayName} is a pre-1.10 docker-save archive (no manifest.json); load it with an old Docker and save it again");
        throw new OccystrapException($"{index.DisplayName} is a tar archive but not a docker-save archive: it has no manifest.json or index.json");
    }

    private static DockerArchiveImage FromDockerManifest(ArchiveIndex index, string? select, IImageProblems? problems)
    {
        string where = $"manifest.json in {index.DisplayName}";
        var manifest = JsonText.Parse(index.ReadAll("manifest.json"), where) as JsonArray
            ?? throw new OccystrapException($"{where} is not a JSON array");
        if (manifest.Count == 0) throw new OccystrapException($"{where} lists no image");

        JsonObject? chosen = null;
        ImageName name = ImageName.Unnamed;
        foreach (var item in manifest)
        {
            if (item is not JsonObject entry) throw new OccystrapException($"{where} has an entry that is not an object");
            var tags = JsonText.StringList(entry, "RepoTags", where) ?? [];
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
        Digest? configName = Digest.TryParse("sha256:" + stem, out var named) ? named : BlobDigestFromPath(configPath);
        if (configName is { } n)
        {
            string configWhat = $"config {configPath} in {index.DisplayName}";
            if (problems is null) n.Verify(config, configWhat);
            else if (!n.Matches(config)) problems.Report("config-digest", $"{configWhat} hashes to {Digest.Compute(config, n.Algorithm)}, not to the digest that names it");
        }
        var diffIds = ImageConfig.DiffIdsOf(config, $"config {configPath} in {index.DisplayName}");
        var layerPaths = (chosen["Layers"] as JsonArray ?? throw new OccystrapException($"{where} has no Layers list"))
            .Select(l => l?.GetValueKind() == JsonValueKind.String ? l.GetValue<string>() : throw new OccystrapException($"{where} has a layer path that is not a string"))
            .ToList();
        int count = DescriptorCheck.LayerCount(layerPaths.Count, diffIds.Count, where, problems);

        var layers = new List<ISourceLayer>();
        for (int i = 0; i < count; i++)
        {
            var member = index.Resolve(layerPaths[i]) ?? throw new OccystrapException($"{where} names layer '{layerPaths[i]}', which is not in the archive");
            Digest? blob = BlobDigestFromPath(layerPaths[i]);
            layers.Add(new ArchiveLayer(index, member, i, diffIds[i], blob, null));
        }
        return new DockerArchiveImage(name, config, null, layers);
    }

    private static DockerArchiveImage FromOciIndex(ArchiveIndex index, string? select, PlatformChoice? platform, ILogger? log, IImageProblems? problems)
    {
        var top = ImageIndex.Parse(index.ReadAll("index.json"), $"index.json in {index.DisplayName}");
        // docker save writes one index entry per tag; the first is the image unless one is asked for.
        var choice = OciIndexSelection.Choose(top, select, platform ?? PlatformChoice.Default, d => ReadBlob(index, d, problems), index.DisplayName, firstWhenSeveral: true, log, problems);
        var layers = new List<ISourceLayer>();
        for (int i = 0; i < Math.Min(choice.Parsed.Layers.Count, choice.DiffIds.Count); i++)
        {
            var digest = choice.Parsed.Layers[i].Digest;
            var member = index.Resolve($"blobs/{digest.Algorithm}/{digest.Hex}") ?? throw new OccystrapException($"{index.DisplayName} has no blob {digest}");
            layers.Add(new ArchiveLayer(index, member, i, choice.DiffIds[i], digest, choice.Parsed.Layers[i].MediaType));
        }
        return new DockerArchiveImage(choice.Name, choice.Config, choice.Manifest, layers) { Index = choice.Index, IndexEntry = choice.IndexEntry };
    }

    /// <summary>A blob of the archive, checked against its digest (and size) before use.</summary>
    private static byte[] ReadBlob(ArchiveIndex index, Descriptor descriptor, IImageProblems? problems)
    {
        var digest = descriptor.Digest;
        byte[] bytes = index.ReadAll($"blobs/{digest.Algorithm}/{digest.Hex}");
        if (problems is not null)
        {
            DescriptorCheck.Check(bytes, descriptor, $"blob {digest} in {index.DisplayName}", problems);
            return bytes;
        }
        digest.Verify(bytes, $"blob {digest} in {index.DisplayName}");
        if (bytes.Length != descriptor.Size)
            throw new OccystrapException($"blob {digest} in {index.DisplayName} is {bytes.Length} bytes, but its descriptor says {descriptor.Size}");
        return bytes;
    }

    private static Digest? BlobDigestFromPath(string path)
    {
        var parts = ArchiveIndex.Normalize(path).Split('/');
        return parts.Length == 3 && parts[0] == "blobs" && Digest.TryParse($"{parts[1]}:{parts[2]}", out var d) ? d : null;
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
