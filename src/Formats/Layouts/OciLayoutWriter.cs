using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Blobs;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Layouts;

/// <summary>
/// Writes one image into an OCI image layout folder, new or existing. Blobs go into the layout's blob
/// store in parallel (each verified and renamed into place, so blobs shared with images already there
/// are stored once); the config and manifest follow; <c>index.json</c> is then merged under the
/// layout's lock and replaced atomically, so images added by other processes at the same time survive.
/// The image is visible only once its index entry is. An image with a ref already in the index
/// replaces it; the old blobs stay unless <c>removeUnreferenced</c> is set.
/// </summary>
public sealed class OciLayoutWriter : IImageSink, IBlobPresence
{
    private readonly string _folder;
    private readonly string _refName;
    private readonly ManifestFormat? _format;
    private readonly LayerCompression _compression;
    private readonly bool _removeUnreferenced;
    private readonly bool _created;
    private readonly bool _wasEmpty;
    private readonly ILogger _log;
    private readonly BlobStore _store;
    private bool _committed;

    /// <param name="format">Null keeps the source manifest's format (and so its digest); OCI converts Docker types.</param>
    /// <param name="explicitCompression">When true every layer is stored in <paramref name="compression"/>; else gzip and zstd layers pass as they are.</param>
    public OciLayoutWriter(string folder, string refName, ManifestFormat? format, LayerCompression compression, bool explicitCompression,
        int parallel, bool removeUnreferenced, ILogger log)
    {
        if (compression == LayerCompression.None) throw new UsageException("an OCI layout stores compressed layers: compression takes gzip or zstd");
        if (refName.Length == 0 || refName.Any(char.IsControl)) throw new UsageException($"'{refName}' is not a usable ref name");
        _folder = Path.GetFullPath(folder);
        _refName = refName;
        _format = format;
        _compression = compression;
        _removeUnreferenced = removeUnreferenced;
        _log = log;
        ParallelLayers = parallel;
        StoredCompressions = LayerCompressionCodec.StoredAs(compression, explicitCompression);

        if (File.Exists(_folder)) throw new OccystrapException($"{folder} is a file; an OCI layout is a folder");
        if (Directory.Exists(_folder))
        {
            if (OciLayout.IsLayout(_folder)) OciLayout.CheckVersion(_folder);
            // Another writer's file still on its way into place (".NAME.….partial") does not make the folder foreign:
            // two processes may be starting the same new layout at once.
            else if (Directory.EnumerateFileSystemEntries(_folder).Any(e => !IsPartial(Path.GetFileName(e))))
            {
                // What is there may be another writer's layout that became one since the first look.
                if (OciLayout.IsLayout(_folder)) OciLayout.CheckVersion(_folder);
                else throw new OccystrapException($"{folder} is a folder that is neither empty nor an OCI image layout; refusing to write into it");
            }
            else _wasEmpty = true;
        }
        else
        {
            string? parent = Path.GetDirectoryName(_folder);
            if (parent is not null && !Directory.Exists(parent))
                throw new OccystrapException($"cannot write {folder}: the folder {parent} does not exist");
            Directory.CreateDirectory(_folder);
            _created = _wasEmpty = true;
        }
        // The layout file goes first, so another process writing here at the same time sees a layout.
        OciLayout.EnsureLayoutFile(_folder);
        _store = OciLayout.Blobs(_folder);
    }

    private static bool IsPartial(string name) => name.StartsWith('.') && name.EndsWith(".partial", StringComparison.Ordinal);

    public LayerDelivery Delivery => LayerDelivery.DistinctInParallel;

    public IReadOnlyCollection<LayerCompression> StoredCompressions { get; }

    public int? ParallelLayers { get; }

    public ValueTask<bool> HasBlobAsync(Digest blob, CancellationToken cancellationToken) => ValueTask.FromResult(_store.Contains(blob));

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
        {
            // The pipeline's stream checks the blob against its digest as it is read, and throws at its end on a
            // mismatch (before the rename): the store need not hash it again.
            var (digest, size, _) = await _store.WriteAsync((target, token) => layer.Stream.CopyToAsync(target, 1024 * 1024, token),
                layer.KnownBlobDigest, ct, verifiedByWriter: layer.KnownBlobDigest is not null).ConfigureAwait(false);
            return new StoredLayer(new Descriptor(layer.MediaType ?? MediaTypeTable.LayerType(layer.Compression, ManifestFormat.Oci), digest, size));
        }
        var compression = _compression;
        var (blob, blobSize, _) = await _store.WriteAsync(async (target, token) =>
        {
            await using (var compressor = LayerCompressionCodec.OpenCompressor(target, compression))
                await layer.Stream.CopyToAsync(compressor, 1024 * 1024, token).ConfigureAwait(false);
        }, null, ct).ConfigureAwait(false);
        _log.LogDebug("layer {Index}: stored {Blob} ({Size} bytes, {Compression}{Engine})", layer.Index + 1, blob.Short, blobSize, compression,
            compression == LayerCompression.Gzip ? ", deflated by " + ParallelGzipStream.Engine : "");
        return new StoredLayer(new Descriptor(MediaTypeTable.LayerType(compression, ManifestFormat.Oci), blob, blobSize));
    }

    public async Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        var layers = image.Layers.Select(l => l.Blob ?? throw new InvalidOperationException($"layer {l.Index + 1} ({l.DiffId}) was never stored")).ToList();
        // With no source manifest there is no format to keep: a layout is OCI's own format.
        var format = ManifestBuilder.FormatFor(image.SourceManifest, layers, _format ?? (image.SourceManifest is null ? ManifestFormat.Oci : null));
        var manifest = ManifestBuilder.Build(image.SourceManifest, format, image.Config, layers);
        var (configDigest, _, _) = await _store.PutAsync(image.Config, ct).ConfigureAwait(false);
        await _store.PutAsync(manifest.Bytes, ct, manifest.Descriptor.Digest).ConfigureAwait(false);

        var entry = manifest.Descriptor with { Annotations = new Dictionary<string, string> { [AnnotationKeys.RefName] = _refName } };
        int removed = 0;
        using (OciLayout.Lock(_folder))
        {
            string indexPath = Path.Combine(_folder, OciLayout.IndexFile);
            JsonObject root = File.Exists(indexPath)
                ? JsonText.ParseObject(File.ReadAllBytes(indexPath), indexPath)
                : new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex };
            if (root["manifests"] is not (null or JsonArray)) throw new OccystrapException($"{indexPath}: 'manifests' is not a list");
            var kept = new JsonArray();
            foreach (var node in root["manifests"] as JsonArray ?? [])
            {
                if (node is not JsonObject o) throw new OccystrapException($"{indexPath}: an entry of 'manifests' is not an object");
                if (DescriptorJson.Read(o, indexPath).RefName != _refName) kept.Add(o.DeepClone());
            }
            kept.Add(DescriptorJson.Write(entry));
            root["manifests"] = kept;
            root["schemaVersion"] ??= 2;
            byte[] bytes = JsonText.Serialize(root);
            AtomicFile.WriteAllBytes(indexPath, bytes);
            _committed = true;
            if (_removeUnreferenced) removed = RemoveUnreferenced(ImageIndex.Parse(bytes, indexPath));
        }
        _log.LogInformation("stored {Ref} in {Layout} ({Digest}){Removed}", _refName, _folder, manifest.Descriptor.Digest.ToString(),
            removed > 0 ? $"; removed {removed} unreferenced blobs" : "");
        return new CommitResult(manifest.Descriptor, configDigest);
    }

    /// <summary>Deletes the blobs no image of the index refers to (called under the index lock).</summary>
    private int RemoveUnreferenced(ImageIndex index)
    {
        var referenced = OciLayout.Referenced(_folder, index);
        int removed = 0;
        string blobs = Path.Combine(_folder, "blobs");
        foreach (string algorithmDir in Directory.Exists(blobs) ? Directory.GetDirectories(blobs) : [])
            foreach (string file in Directory.GetFiles(algorithmDir))
            {
                if (!Digest.TryParse($"{Path.GetFileName(algorithmDir)}:{Path.GetFileName(file)}", out var d) || referenced.Contains(d)) continue;
                File.Delete(file);
                removed++;
            }
        return removed;
    }

    public ValueTask DisposeAsync()
    {
        // A layout this run started (in a new or empty folder) that nobody has put an image into is
        // removed; in a layout that was there, blobs of a failed run stay unreferenced: no index entry
        // names a partial image, and removeUnreferenced clears them.
        if (!_committed && _wasEmpty && !File.Exists(Path.Combine(_folder, OciLayout.IndexFile)))
        {
            try
            {
                if (_created) Directory.Delete(_folder, recursive: true);
                else
                    foreach (string entry in Directory.EnumerateFileSystemEntries(_folder))
                    {
                        if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                        else File.Delete(entry);
                    }
            }
            catch (IOException e)
            {
                _log.LogWarning("could not remove the unfinished layout {Layout}: {Reason}", _folder, e.Message);
            }
        }
        return ValueTask.CompletedTask;
    }
}
